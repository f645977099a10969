"""The values that travel between pipeline stages: plain frozen dataclasses.

Names say where a value is in the pipeline: `...ForUpdate` was read from storage to decide
something, `...Data` came from a feed (`FeedData` as parsed or scraped, `ItemData` once
normalised), `Fetched` is a fetch's answer and `TopicDecision` the classifier's, `...Outcome`
is what a cycle reports, `...Intent` is decided and about to be written. No ORM rows and no
feedparser dicts cross a stage boundary. A news-list page's `PageSelectors` are defined with
their checks in `aggregator.selectors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from aggregator.selectors import PageSelectors


@dataclass(frozen=True)
class FeedForUpdate:
    """What the retrieve and decide stages need to know about a stored feed (or news-list page)."""

    id: int
    url: str
    name: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    consecutive_errors: int = 0
    status: str = "new"  # its health as last recorded (see `pipeline.decide.feed_update`)
    last_error: str | None = None
    interval: timedelta = timedelta(minutes=15)
    topic_hint: str | None = None
    selectors: PageSelectors | None = None  # set for a news-list page (`kind = "html"`), read by `scrape`
    full_text: bool = False  # fetch each new item's article page for its text
    kind: str = "feed"  # "feed", "html" (a news-list page) or "telegram" (a channel's web preview, read by `telegram`)


@dataclass(frozen=True)
class Fetched:
    """The answer of one feed's HTTP fetch. `body` is None when the server said 304."""

    url: str
    status: int
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    permanent_url: str | None = None
    fresh_for: timedelta | None = None  # Cache-Control max-age / Expires: how long the answer stays fresh

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class EntryData:
    """One entry as the feed gave it, before cleaning."""

    guid: str | None
    link: str | None
    title: str
    summary_html: str
    content_html: str
    published: datetime | None
    updated: datetime | None
    categories: tuple[str, ...] = ()
    image_url: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class FeedNote:
    """Something wrong with a feed that could still be read; shown on feed health, not an error."""

    kind: str
    message: str


@dataclass(frozen=True)
class FeedData:
    """A parsed feed document: its own metadata, its entries, and what was odd about it."""

    url: str
    title: str | None
    link: str | None
    entries: tuple[EntryData, ...]
    notes: tuple[FeedNote, ...] = ()
    ttl: timedelta | None = None  # RSS <ttl> or sy:updatePeriod: how often the publisher says to look
    image_url: str | None = None  # the source's picture: a feed's image or logo, a Telegram channel's avatar


@dataclass(frozen=True)
class ItemData:
    """A cleaned item, ready to be deduplicated, classified and stored."""

    guid: str
    url: str
    title: str
    summary: str
    content_html: str
    published: datetime
    content_hash: str
    categories: tuple[str, ...] = ()
    image_url: str | None = None
    author: str | None = None
    full_text: str | None = None  # the article's main text, for sources with `full_text = true`

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.summary}"


@dataclass(frozen=True)
class TopicScore:
    slug: str
    score: float


@dataclass(frozen=True)
class TopicDecision:
    """The classifier's verdict: a primary topic (or none) and every topic that applies."""

    primary: str | None
    topics: tuple[TopicScore, ...]
    reasons: tuple[str, ...] = ()

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(score.slug for score in self.topics)

    @property
    def confidence(self) -> float:
        return self.topics[0].score if self.topics else 0.0


@dataclass(frozen=True)
class FeedOutcome:
    """How one feed fared in a poll cycle: counts, or the error in words."""

    feed_id: int
    url: str
    name: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    not_modified: bool = False
    error: str | None = None
    status: str = "ok"
    locked_seconds: float = 0.0  # how long storing it held the story lock (0: it did not take it)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class CycleOutcome:
    feeds: tuple[FeedOutcome, ...] = field(default_factory=tuple)
    started: datetime | None = None
    finished: datetime | None = None

    @property
    def new(self) -> int:
        return sum(feed.new for feed in self.feeds)

    @property
    def failed(self) -> int:
        return sum(not feed.ok for feed in self.feeds)


@dataclass(frozen=True)
class StoredItemRef:
    """The little we need to know about a stored item to judge an incoming one."""

    id: int
    feed_id: int
    guid: str
    canonical_url: str
    content_hash: str


@dataclass(frozen=True)
class StoredText:
    """What a stored item said when it was last written, and what was read of it then."""

    title: str
    summary: str
    full_text: str | None = None  # the article text, for a source read in full
    vector: np.ndarray | None = None  # the encoder's vector of its title and lead


@dataclass(frozen=True)
class StoredForUpdate:
    """What storage holds that bears on one feed's new document, read before deciding:
    stored items sharing a guid (this feed) or a canonical URL (any feed) with its items, the
    texts of those that changed (by item id), and which other feed, if any, already has the
    address this one moved to."""

    by_guid: Mapping[str, StoredItemRef] = field(default_factory=dict)
    by_url: Mapping[str, StoredItemRef] = field(default_factory=dict)
    changed: Mapping[int, StoredText] = field(default_factory=dict)
    moved_url_holder: str | None = None


@dataclass(frozen=True)
class NewItemIntent:
    """A new item about to be stored, with what was decided about it: its topics, its search
    text, whether it is advertising (then it stays out of stories), and the story it joins
    (None: it starts one)."""

    item: ItemData
    decision: TopicDecision
    search_lemmas: str
    sponsored: bool = False
    story_id: int | None = None
    vector: np.ndarray | None = None  # what the item means, as the sentence encoder reads it


@dataclass(frozen=True)
class ItemUpdateIntent:
    """A stored item whose content changed: its new content (`item.full_text` is the article
    text it keeps), topics (ignored where an editor set them), search text, and the encoder's
    vector of its wording as it now reads (None when meaning is not read)."""

    item_id: int
    item: ItemData
    decision: TopicDecision
    search_lemmas: str
    vector: np.ndarray | None = None


@dataclass(frozen=True)
class FeedUpdateIntent:
    """A feed's row after a fetch, as decided: health, when to look next, and what the document
    said of itself. None in `url`, `validators`, `title`, `site_url` and `image_url` means:
    keep what is stored."""

    feed_id: int
    fetched_at: datetime
    status: str
    last_error: str | None
    consecutive_errors: int
    next_check: datetime | None  # None: never again (410 Gone)
    succeeded: bool = True  # the fetch was read: `fetched_at` is also the last success
    enabled: bool = True
    url: str | None = None  # the address it moved to permanently
    validators: tuple[str | None, str | None, str | None] | None = None  # (ETag, Last-Modified, body hash) of a new document
    title: str | None = None
    site_url: str | None = None
    image_url: str | None = None  # the source's picture (an absolute http(s) URL)


@dataclass(frozen=True)
class FeedIntent:
    """Everything one feed's fetch leads to, about to be written in one transaction.

    Story placements were decided against the stories stored up to item `stories_seen`
    (those published since `stories_since`); storage checks under the story lock that no other
    poller stored items since, and has them placed again if one did."""

    feed: FeedUpdateIntent
    outcome: FeedOutcome
    new: tuple[NewItemIntent, ...] = ()
    updated: tuple[ItemUpdateIntent, ...] = ()
    stories_seen: int = 0
    stories_since: datetime | None = None

    @property
    def places_stories(self) -> bool:
        return any(not new.sponsored for new in self.new)
