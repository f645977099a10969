"""Poll stage: one cycle over the due feeds, from HTTP to stored, classified, grouped items.

Worker threads fetch, parse and normalise (I/O and feedparser), at most
`[polling] per_host_concurrency` at once per host so a site with many feeds is not
hammered; the calling thread decides and writes, one transaction per feed: dedupe plan,
topics, story placement, feed health (with what was odd about the feed), the next check
(from the feed's hints, see `schedule`) and a permanent redirect's new URL. A feed's
failure is a value (`FeedOutcome.error`), recorded on the feed with a back-off; 410 Gone
stops polling it. Nothing stops the cycle. `now` is passed in; the scheduler and CLI are
thin callers of `poll_cycle`.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from aggregator.entities import CycleOutcome, FeedData, FeedForUpdate, FeedNote, FeedOutcome, Fetched, ItemData
from aggregator import metrics
from aggregator.errors import AggregatorError, FetchError
from aggregator.pipeline.classify import TopicClassifier, TopicInput
from aggregator.pipeline.cluster import StoryCandidate, StoryIndex, StoryMember
from aggregator.pipeline.dedupe import plan_item_changes
from aggregator.pipeline.fetch import FetchPolicy, fetch_feed, make_client
from aggregator.pipeline.normalise import feed_notes, normalise_feed
from aggregator.pipeline.parse import parse_feed
from aggregator.pipeline.schedule import ScheduleHints, next_check
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
    notes: tuple[FeedNote, ...] = ()
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
    with make_client(policy, workers) as client:
        def work(feed: FeedForUpdate) -> Retrieved:
            return retrieve(feed, policy, client, now, settings.polling.max_items_per_feed, fetcher)

        for got in _retrieve_all(feeds, work, workers, settings.polling.per_host_concurrency):
            outcome = _store(cycle, got)
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
        items = tuple(normalise_feed(data, now))
        return Retrieved(feed, fetched, body_hash, data, items, data.notes + feed_notes(items))
    except AggregatorError as exc:
        return Retrieved(feed, error=exc)
    except Exception as exc:  # noqa: BLE001 - a bug on one feed must not stop the cycle
        log.exception("unexpected error on feed %s", feed.url)
        return Retrieved(feed, error=FetchError(f"internal error: {type(exc).__name__}: {exc}", kind="internal_error"))


def _retrieve_all(
    feeds: Sequence[FeedForUpdate], work: Callable[[FeedForUpdate], Retrieved], workers: int, per_host: int,
) -> Iterator[Retrieved]:
    """`work` on every feed in `workers` threads, never more than `per_host` at once for one
    host (hosts take turns, so no worker waits on a busy host); results as they come."""
    waiting: dict[str, deque[FeedForUpdate]] = {}
    for feed in feeds:
        waiting.setdefault(_host(feed.url), deque()).append(feed)
    with ThreadPoolExecutor(workers, thread_name_prefix="poll") as pool:
        running: dict[Future[Retrieved], str] = {}

        def start(host: str) -> None:
            running[pool.submit(work, waiting[host].popleft())] = host

        for _turn in range(per_host):
            for host in [host for host, queue in waiting.items() if queue]:
                start(host)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                host = running.pop(future)
                if waiting[host]:
                    start(host)
                yield future.result()


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _store(cycle: _Cycle, got: Retrieved) -> FeedOutcome:
    feed, now = got.feed, cycle.now
    if got.error is None and got.fetched is not None and got.fetched.permanent_url:
        holder = cycle.storage.feeds.holder_of(got.fetched.permanent_url, feed.id)
        if holder is not None:
            message = f"the feed moved permanently to {got.fetched.permanent_url}, which is already the feed {holder!r}; remove one of the two"
            got = Retrieved(feed, error=FetchError(message, kind="moved_to_duplicate"))
    if got.error is not None:
        return _record_failure(cycle, feed, got.error)
    try:
        return _store_items(cycle, got)
    except Exception as exc:  # noqa: BLE001 - recorded on the feed, the cycle goes on
        log.exception("storing feed %s failed", feed.url)
        return _record_failure(cycle, feed, FetchError(f"storing failed: {exc}", kind="store_error"))


def _record_failure(cycle: _Cycle, feed: FeedForUpdate, error: AggregatorError) -> FeedOutcome:
    kind, now = getattr(error, "kind", "error"), cycle.now
    log.warning("feed %s failed: %s", feed.url, error)
    if kind == "gone":
        cycle.storage.feeds.record_gone(feed.id, str(error), now)
    else:
        hints = ScheduleHints(retry_after=getattr(error, "retry_after", None))
        retry = next_check(now, feed.id, feed.interval, feed.consecutive_errors + 1, cycle.max_backoff, hints)
        cycle.storage.feeds.record_failure(feed.id, kind, str(error), now, retry)
    return FeedOutcome(feed.id, feed.url, feed.name, error=str(error), status=kind)


def _store_items(cycle: _Cycle, got: Retrieved) -> FeedOutcome:
    feed, data, now = got.feed, got.data, cycle.now
    assert got.fetched is not None
    placed: list[StoryMember] = []
    with cycle.storage.transaction() as session:
        by_guid, by_url = item_store.stored_refs(session, feed.id, got.items)
        changes = plan_item_changes(feed.id, got.items, by_guid, by_url)
        for item in sorted(changes.new, key=lambda new: new.published):  # stories grow in the order events were told
            decision = cycle.classifier.classify(_topic_input(item, feed))
            if is_sponsored(item, cycle.sponsored):
                item_store.add_item(session, feed.id, item, decision, None, now, sponsored=True)
                continue
            story_id = cycle.index.place(StoryCandidate(feed.id, item.published, item.title, item.summary))
            row = item_store.add_item(session, feed.id, item, decision, story_id, now)
            placed.append(StoryMember(row.id, row.story_id, feed.id, item.published, item.title, item.summary))
        for item_id, item in changes.updated:
            item_store.update_item(session, item_id, item, cycle.classifier.classify(_topic_input(item, feed)), now)
        hints = ScheduleHints(ttl=data.ttl if data else None, fresh_for=got.fetched.fresh_for)
        due = next_check(now, feed.id, feed.interval, 0, cycle.max_backoff, hints)
        cycle.storage.feeds.record_success(
            session, feed.id, got.fetched, got.body_hash, now, due,
            title=data.title if data else None, site_url=data.link if data else None,
            notes=got.notes if data else None,
        )
    for member in placed:  # only once committed, so a rolled-back item never joins a story
        cycle.index.add(member)
    if got.fetched.permanent_url:
        log.info("feed %s moved permanently to %s; the new address is stored", feed.url, got.fetched.permanent_url)
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
