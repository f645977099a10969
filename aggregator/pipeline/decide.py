"""Decide stage: what one feed's fetch leads to, as an intent for storage to write.

`decide` is pure. It is given the retrieved result, a snapshot of what storage holds about
those items (`StoredForUpdate`), `now`, and the judges (`Judges`: the topic classifier, the
advertising rules, the story window as this poller last read it); it returns a `FeedIntent`:
the new items with their topics, search text, advertising flag and story; the changed items;
the feed's health, next check and moved address. It opens no database and reads no clock,
so everything costly about an item (lemmas, classification, story placement) is done here,
before storage takes any lock.

Feed health has one rule, `feed_update`: a document read (or answered 304) makes the feed
healthy, with what was odd about the document as its status; a publisher's failure is backed
off; a bug of ours is shown as ours and retried at the feed's usual interval; 410 Gone
stops polling. Storage writes what it is told.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

import numpy as np

from aggregator.entities import (
    FeedData,
    FeedForUpdate,
    FeedIntent,
    FeedOutcome,
    FeedUpdateIntent,
    ItemData,
    ItemUpdateIntent,
    NewItemIntent,
    StoredForUpdate,
    StoredText,
)
from aggregator.errors import AggregatorError, FetchError, InternalError
from aggregator.pipeline import analysis
from aggregator.pipeline.classify import TopicClassifier, TopicInput
from aggregator.pipeline.cluster import StoryCandidate, StoryIndex
from aggregator.pipeline.dedupe import plan_item_changes
from aggregator.pipeline.encoder import Encoder, NoEncoder, item_text
from aggregator.pipeline.retrieve import Retrieved
from aggregator.pipeline.schedule import ScheduleHints, next_check
from aggregator.pipeline.sponsored import SponsoredRules, is_sponsored
from aggregator.pipeline.text import decision_text

MAX_PICTURE_URL = 2000  # feeds.image_url's length
RECOVERING = frozenset({"new", InternalError.kind})  # statuses a fetch that reads no document still clears


@dataclass(frozen=True)
class Judges:
    """What decides about items: topics, advertising, stories (the window as last read from
    storage, up to item `stories_seen`), and how far back-off may go."""

    classifier: TopicClassifier
    sponsored: SponsoredRules
    stories: StoryIndex
    max_backoff: timedelta
    stories_seen: int = 0
    encoder: Encoder = field(default_factory=NoEncoder)


def decide(got: Retrieved, stored: StoredForUpdate, now: datetime, judges: Judges) -> FeedIntent:
    """The intent of one feed's fetch: a failure's health, or the items it brings and its health."""
    feed = got.feed
    error = got.error or _moved_onto_another(got, stored)
    if error is not None:
        return failed(feed, error, now, judges.max_backoff)
    changes = plan_item_changes(feed.id, got.items, stored.by_guid, stored.by_url)
    new = tuple(_new_items(changes.new, feed, judges))
    updated = tuple(_updated_items(changes.updated, feed, stored, judges))
    outcome = FeedOutcome(
        feed.id,
        feed.url,
        feed.name,
        new=len(new),
        updated=len(updated),
        unchanged=changes.unchanged,
        not_modified=got.unchanged_body,
    )
    return FeedIntent(
        feed_update(got, now, judges.max_backoff),
        outcome,
        new,
        updated,
        stories_seen=judges.stories_seen,
        stories_since=now - judges.stories.window,
    )


def failed(feed: FeedForUpdate, error: AggregatorError, now: datetime, max_backoff: timedelta) -> FeedIntent:
    """The intent of a fetch that came to nothing: the feed's health and next check, no items."""
    outcome = FeedOutcome(feed.id, feed.url, feed.name, error=str(error), status=error.kind)
    return FeedIntent(failure_update(feed, error, now, max_backoff), outcome)


def replace_stories(intent: FeedIntent, feed: FeedForUpdate, stories: StoryIndex, stories_seen: int) -> FeedIntent:
    """The same intent with its new items placed again, against a story window that has
    grown since they were placed (another poller stored items meanwhile)."""
    new = list(intent.new)
    for at in sorted(range(len(new)), key=lambda i: new[i].item.published):
        if not new[at].sponsored:
            new[at] = replace(new[at], story_id=stories.place(_story_candidate(new[at].item, feed, new[at].vector)))
    return replace(intent, new=tuple(new), stories_seen=stories_seen)


def feed_update(got: Retrieved, now: datetime, max_backoff: timedelta) -> FeedUpdateIntent:
    """A feed's row after a successful fetch. A document read sets its health from what was odd
    about it ("ok" when nothing); a 304 or the same body again leaves the health found when
    the document was last read, unless the feed was failing until now."""
    feed, fetched, data = got.feed, got.fetched, got.data
    assert fetched is not None
    due = next_check(
        now, feed.id, feed.interval, 0, max_backoff, ScheduleHints(ttl=data.ttl if data else None, fresh_for=fetched.fresh_for)
    )
    if data is not None:
        status, last_error = (got.notes[0].kind, "; ".join(note.message for note in got.notes)) if got.notes else ("ok", None)
    elif feed.consecutive_errors or feed.status in RECOVERING:
        status, last_error = "ok", None
    else:
        status, last_error = feed.status, feed.last_error
    return FeedUpdateIntent(
        feed.id,
        now,
        status,
        last_error,
        consecutive_errors=0,
        next_check=due,
        url=fetched.permanent_url,
        validators=None if data is None else (fetched.etag, fetched.last_modified, got.body_hash),
        title=data.title if data else None,
        site_url=data.link if data else None,
        image_url=source_picture(data) if data else None,
    )


def source_picture(data: FeedData) -> str | None:
    """The source's own picture made absolute against the document's address; None unless it
    is an http(s) URL that fits the column (pages show it as an <img>)."""
    if not data.image_url:
        return None
    url = urljoin(data.url, data.image_url.strip())
    return url if urlsplit(url).scheme in ("http", "https") and len(url) <= MAX_PICTURE_URL else None


def failure_update(feed: FeedForUpdate, error: AggregatorError, now: datetime, max_backoff: timedelta) -> FeedUpdateIntent:
    """A feed's row after a failed fetch: 410 Gone stops polling it; a publisher's failure
    counts against the feed and backs it off (honouring Retry-After); a bug of ours is not
    the feed's fault: it keeps its error count and is tried again at its usual interval."""
    if isinstance(error, InternalError):
        due = next_check(now, feed.id, feed.interval, 0, max_backoff)
        return FeedUpdateIntent(feed.id, now, error.kind, str(error), feed.consecutive_errors, due, succeeded=False)
    errors = feed.consecutive_errors + 1
    if error.kind == "gone":
        return FeedUpdateIntent(feed.id, now, error.kind, str(error), errors, None, succeeded=False, enabled=False)
    hints = ScheduleHints(retry_after=getattr(error, "retry_after", None))
    due = next_check(now, feed.id, feed.interval, errors, max_backoff, hints)
    return FeedUpdateIntent(feed.id, now, error.kind, str(error), errors, due, succeeded=False)


def _moved_onto_another(got: Retrieved, stored: StoredForUpdate) -> FetchError | None:
    moved_to = got.fetched.permanent_url if got.fetched else None
    if not moved_to or stored.moved_url_holder is None:
        return None
    message = f"the feed moved permanently to {moved_to}, which is already the feed {stored.moved_url_holder!r}; remove one of the two"
    return FetchError(message, kind="moved_to_duplicate")


def _new_items(items: Sequence[ItemData], feed: FeedForUpdate, judges: Judges) -> Iterator[NewItemIntent]:
    """Each new item with its decisions, in the order they were published (stories grow in
    the order events were told). A feed's items are placed against the window as it was
    before any of them: an outlet seldom reports one event twice. The encoder reads the feed's
    new items in one batch."""
    items = sorted(items, key=lambda new: new.published)
    for item, vector in zip(items, meanings(items, judges.encoder), strict=True):
        decision = judges.classifier.classify(_topic_input(item, feed, vector))
        lemmas = search_lemmas(item, item.full_text)
        if is_sponsored(item, judges.sponsored):
            yield NewItemIntent(item, decision, lemmas, sponsored=True, vector=vector)
        else:
            story_id = judges.stories.place(_story_candidate(item, feed, vector))
            yield NewItemIntent(item, decision, lemmas, story_id=story_id, vector=vector)


def meanings(items: Sequence[ItemData], encoder: Encoder) -> list[np.ndarray | None]:
    """The encoder's vector of each item's title and lead (None each when meaning is not read)."""
    vectors = encoder.encode([_meaning_text(item) for item in items]) if items else None
    return [None] * len(items) if vectors is None else list(vectors)


def _updated_items(
    changed: Sequence[tuple[int, ItemData]], feed: FeedForUpdate, stored: StoredForUpdate, judges: Judges
) -> Iterator[ItemUpdateIntent]:
    """Each changed item keeps the article text it had (articles are fetched for new items
    only), and its topics are decided on that text where the source is read in full. An item
    keeps its vector while the title and lead the encoder read stay the same (a new picture, a
    corrected link); one reworded is read again, the feed's in one batch."""
    kept = [(item_id, replace(item, full_text=_was(stored, item_id).full_text)) for item_id, item in changed]
    read = [item if feed.full_text else replace(item, full_text=None) for _, item in kept]  # what topics and the encoder read
    vectors = [_was(stored, item_id).vector for item_id, _ in kept]
    again = [n for n, (item_id, _) in enumerate(kept) if _reworded(read[n], _was(stored, item_id))]
    for n, vector in zip(again, meanings([read[n] for n in again], judges.encoder), strict=True):
        vectors[n] = vector
    for (item_id, item), as_read, vector in zip(kept, read, vectors, strict=True):
        decision = judges.classifier.classify(_topic_input(as_read, feed, vector))
        yield ItemUpdateIntent(item_id, item, decision, search_lemmas(item, item.full_text), vector)


def _was(stored: StoredForUpdate, item_id: int) -> StoredText:
    return stored.changed.get(item_id) or _NOTHING_STORED


_NOTHING_STORED = StoredText("", "")


def _reworded(item: ItemData, was: StoredText) -> bool:
    """Whether the encoder would read the item otherwise than when it was stored (or has no
    vector of it)."""
    return was.vector is None or _meaning_text(item) != item_text(was.title, decision_text(was.summary, was.full_text))


def _meaning_text(item: ItemData) -> str:
    return item_text(item.title, decision_text(item.summary, item.full_text))


def search_lemmas(item: ItemData, full_text: str | None) -> str:
    """What full-text search matches an item on: the lemmas of its title, summary and article text."""
    return " ".join(analysis.search_lemmas(item.title, item.summary, full_text or ""))


def _story_candidate(item: ItemData, feed: FeedForUpdate, vector: np.ndarray | None) -> StoryCandidate:
    return StoryCandidate(feed.id, item.published, item.title, decision_text(item.summary, item.full_text), vector)


def _topic_input(item: ItemData, feed: FeedForUpdate, vector: np.ndarray | None) -> TopicInput:
    summary = decision_text(item.summary, item.full_text)
    return TopicInput(title=item.title, summary=summary, categories=item.categories, feed_topic=feed.topic_hint, vector=vector)
