"""Poll stage: one cycle over the due feeds, from HTTP to stored, classified, grouped items.

Worker threads fetch, parse and normalise (I/O and feedparser); the calling thread decides
and writes, one transaction per feed: dedupe plan, topics, story placement, feed health.
A feed's failure is a value (`FeedOutcome.error`), recorded on the feed with a back-off; it
never stops the cycle. `now` is passed in; the scheduler and CLI are thin callers of
`poll_cycle`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from aggregator.entities import CycleOutcome, FeedData, FeedForUpdate, FeedOutcome, Fetched, ItemData
from aggregator import metrics
from aggregator.errors import AggregatorError, FetchError
from aggregator.pipeline.classify import TopicClassifier, TopicInput
from aggregator.pipeline.cluster import StoryCandidate, StoryIndex, StoryMember
from aggregator.pipeline.dedupe import plan_item_changes
from aggregator.pipeline.fetch import FetchPolicy, fetch_feed, make_client
from aggregator.pipeline.normalise import normalise_feed
from aggregator.pipeline.parse import parse_feed
from aggregator.pipeline.schedule import next_check
from aggregator.pipeline.sponsored import SponsoredRules, is_sponsored
from aggregator.settings import Settings
from aggregator.storage import Storage
from aggregator.storage import items as item_store

log = logging.getLogger(__name__)
Fetcher = Callable[[FeedForUpdate, FetchPolicy, httpx.Client], Fetched]


@dataclass(frozen=True)
class Retrieved:
    """A worker thread's result for one feed: items to store, or the error as a value."""

    feed: FeedForUpdate
    fetched: Fetched | None = None
    body_hash: str | None = None
    data: FeedData | None = None
    items: tuple[ItemData, ...] = ()
    error: AggregatorError | None = None

    @property
    def unchanged_body(self) -> bool:
        return self.fetched is not None and (self.fetched.not_modified or self.data is None)


@dataclass
class _Cycle:
    """What the storing side of one cycle works with; the story index grows as items land."""

    storage: Storage
    classifier: TopicClassifier
    index: StoryIndex
    sponsored: SponsoredRules
    max_backoff: timedelta
    now: datetime


def poll_cycle(
    storage: Storage,
    settings: Settings,
    classifier: TopicClassifier,
    now: datetime,
    feeds: Sequence[FeedForUpdate] | None = None,
    on_feed: Callable[[FeedOutcome], None] | None = None,
    fetcher: Fetcher = fetch_feed,
) -> CycleOutcome:
    """Poll `feeds` (default: the due ones) and store what they bring."""
    feeds = storage.feeds.due(now) if feeds is None else feeds
    policy = FetchPolicy.from_settings(settings.polling)
    cycle = _Cycle(
        storage, classifier, _story_index(storage, settings, now), SponsoredRules.build(**settings.sponsored.model_dump()),
        timedelta(hours=settings.polling.max_backoff_hours), now,
    )
    outcomes = []
    workers = max(1, min(settings.polling.concurrency, len(feeds)))
    with make_client(policy, workers) as client, ThreadPoolExecutor(workers, thread_name_prefix="poll") as pool:
        futures = [pool.submit(retrieve, feed, policy, client, now, settings.polling.max_items_per_feed, fetcher) for feed in feeds]
        for future in as_completed(futures):
            outcome = _store(cycle, future.result())
            metrics.FETCHES.labels(outcome.status if outcome.error else "not_modified" if outcome.not_modified else "ok").inc()
            metrics.ITEMS_INGESTED.inc(outcome.new)
            outcomes.append(outcome)
            if on_feed:
                on_feed(outcome)
    finished = datetime.now(now.tzinfo)
    metrics.CYCLE_SECONDS.observe((finished - now).total_seconds())
    return CycleOutcome(tuple(outcomes), started=now, finished=finished)


def retrieve(
    feed: FeedForUpdate, policy: FetchPolicy, client: httpx.Client, now: datetime, max_items: int, fetcher: Fetcher = fetch_feed,
) -> Retrieved:
    """Fetch, parse and normalise one feed; any failure comes back as `error`."""
    try:
        fetched = fetcher(feed, policy, client)
        if fetched.not_modified:
            return Retrieved(feed, fetched)
        body_hash = hashlib.sha256(fetched.body or b"").hexdigest()
        if body_hash == feed.body_hash:
            return Retrieved(feed, fetched, body_hash)
        data = parse_feed(fetched, max_items)
        return Retrieved(feed, fetched, body_hash, data, tuple(normalise_feed(data, now)))
    except AggregatorError as exc:
        return Retrieved(feed, error=exc)
    except Exception as exc:  # noqa: BLE001 - a bug on one feed must not stop the cycle
        log.exception("unexpected error on feed %s", feed.url)
        return Retrieved(feed, error=FetchError(f"internal error: {type(exc).__name__}: {exc}", kind="internal_error"))


def _store(cycle: _Cycle, got: Retrieved) -> FeedOutcome:
    feed, now = got.feed, cycle.now
    if got.error is not None:
        kind = getattr(got.error, "kind", "error")
        log.warning("feed %s failed: %s", feed.url, got.error)
        retry = next_check(now, feed.id, feed.interval, feed.consecutive_errors + 1, cycle.max_backoff)
        cycle.storage.feeds.record_failure(feed.id, kind, str(got.error), now, retry)
        return FeedOutcome(feed.id, feed.url, feed.name, error=str(got.error), status=kind)
    try:
        return _store_items(cycle, got)
    except Exception as exc:  # noqa: BLE001 - recorded on the feed, the cycle goes on
        log.exception("storing feed %s failed", feed.url)
        cycle.storage.feeds.record_failure(feed.id, "store_error", str(exc), now, now + feed.interval)
        return FeedOutcome(feed.id, feed.url, feed.name, error=f"storing failed: {exc}", status="store_error")


def _store_items(cycle: _Cycle, got: Retrieved) -> FeedOutcome:
    feed, data, now = got.feed, got.data, cycle.now
    assert got.fetched is not None
    placed: list[StoryMember] = []
    with cycle.storage.transaction() as session:
        by_guid, by_url = item_store.stored_refs(session, feed.id, got.items)
        changes = plan_item_changes(feed.id, got.items, by_guid, by_url)
        for item in changes.new:
            decision = cycle.classifier.classify(_topic_input(item, feed))
            if is_sponsored(item, cycle.sponsored):
                item_store.add_item(session, feed.id, item, decision, None, now, sponsored=True)
                continue
            story_id = cycle.index.place(StoryCandidate(feed.id, item.published, item.title, item.summary))
            row = item_store.add_item(session, feed.id, item, decision, story_id, now)
            placed.append(StoryMember(row.id, row.story_id, feed.id, item.published, item.title, item.summary))
        for item_id, item in changes.updated:
            item_store.update_item(session, item_id, item, cycle.classifier.classify(_topic_input(item, feed)), now)
        due = next_check(now, feed.id, feed.interval, 0, cycle.max_backoff)
        cycle.storage.feeds.record_success(
            session, feed.id, got.fetched, got.body_hash, now, due,
            title=data.title if data else None, site_url=data.link if data else None,
        )
    for member in placed:  # only once committed, so a rolled-back item never joins a story
        cycle.index.add(member)
    log.info("feed %s: %d new, %d updated, %d unchanged", feed.url, len(changes.new), len(changes.updated), changes.unchanged)
    return FeedOutcome(
        feed.id, feed.url, feed.name, new=len(changes.new), updated=len(changes.updated),
        unchanged=changes.unchanged, not_modified=got.unchanged_body,
    )


def _topic_input(item: ItemData, feed: FeedForUpdate) -> TopicInput:
    return TopicInput(title=item.title, summary=item.summary, categories=item.categories, feed_topic=feed.topic_hint)


def _story_index(storage: Storage, settings: Settings, now: datetime) -> StoryIndex:
    window = timedelta(hours=settings.stories.window_hours)
    index = StoryIndex(window)
    with storage.read() as session:
        for member in item_store.recent_members(session, now - 2 * window):
            index.add(StoryMember(*member))
    return index
