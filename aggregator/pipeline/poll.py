"""Poll stage: one cycle over the due feeds, from HTTP to stored, classified, grouped items.

Worker threads fetch, parse and normalise (I/O and feedparser), at most
`[polling] per_host_concurrency` at once per host so a site with many feeds is not
hammered; the calling thread decides and writes, one transaction per feed: dedupe plan,
topics, story placement, feed health (with what was odd about the feed), the next check
(from the feed's hints, see `schedule`) and a permanent redirect's new URL. A feed's
failure is a value (`FeedOutcome.error`), recorded on the feed with a back-off; 410 Gone
stops polling it. Nothing stops the cycle. `now` is passed in; the scheduler and CLI are
thin callers of `poll_cycle`.

A news-list page (`kind = "html"`) is read by `scrape` instead of `parse`. For a source with
`full_text = true`, the items that are new (asked of storage when the feed's result comes in)
have their article pages fetched as jobs of their own, under the same per-host limit, one
fetch per item; the feed is stored once all its articles are in, and topics and stories are
then decided on the article's text (`fulltext.decision_text`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.orm import Session

from aggregator.entities import CycleOutcome, FeedData, FeedForUpdate, FeedNote, FeedOutcome, Fetched, ItemData
from aggregator import metrics
from aggregator.errors import AggregatorError, FetchError
from aggregator.pipeline.classify import TopicClassifier, TopicInput
from aggregator.pipeline.cluster import StoryCandidate, StoryIndex, StoryMember
from aggregator.pipeline.dedupe import plan_item_changes
from aggregator.pipeline.fetch import FetchPolicy, fetch_feed, make_client
from aggregator.pipeline.fulltext import ArticleText, decision_text, fetch_article
from aggregator.pipeline.normalise import feed_notes, normalise_feed
from aggregator.pipeline.parse import parse_feed
from aggregator.pipeline.scrape import scrape_page
from aggregator.pipeline.schedule import ScheduleHints, next_check
from aggregator.pipeline.sponsored import SponsoredRules, is_sponsored
from aggregator.settings import Settings
from aggregator.storage import Storage
from aggregator.storage import items as item_store
from aggregator.storage.items import PlacedItem

log = logging.getLogger(__name__)
UNCHANGED_BATCH = 100  # unchanged feeds recorded per transaction (they are the most common answer)
Fetcher = Callable[[FeedForUpdate, FetchPolicy, httpx.Client], Fetched]
MAX_ARTICLES_PER_FEED = 100  # article pages fetched per source and cycle (the newest new items)
IN_FLIGHT_PER_WORKER = 2  # jobs started ahead of the results read, per worker thread (see _HostJobs)


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
class _AwaitingText:
    """A full-text source's result, waiting for the article texts of its new items."""

    got: Retrieved
    expected: int
    articles: list[ArticleText] = field(default_factory=list)

    def complete(self) -> Retrieved:
        texts = {article.guid: article.text for article in self.articles if article.text}
        items = tuple(replace(item, full_text=texts[item.guid]) if item.guid in texts else item for item in self.got.items)
        failed = [article for article in self.articles if article.error]
        notes = self.got.notes
        if failed:
            message = f"the article text of {len(failed)} of {self.expected} new items could not be had (first: {failed[0].url}: {failed[0].error})"
            notes += (FeedNote("full_text_failed", message),)
        return replace(self.got, items=items, notes=notes)


@dataclass
class StoryPlacer:
    """A poller's story index, kept from cycle to cycle. Before it places a feed's new items it
    catches up with every item stored since it last looked, by this poller or another; a
    cycle whose feeds bring nothing new never touches it."""

    def __init__(self, window: timedelta) -> None:
        self.index = StoryIndex(window)
        self.seen_item_id = 0

    def catch_up(self, session: Session, now: datetime) -> None:
        since = now - self.index.window
        for member in item_store.recent_members(session, since, after_id=self.seen_item_id):
            self.index.add(StoryMember(*member))
            self.seen_item_id = member[0]


@dataclass
class _Cycle:
    """What the storing side of one cycle works with."""

    storage: Storage
    classifier: TopicClassifier
    stories: StoryPlacer
    sponsored: SponsoredRules
    max_backoff: timedelta
    now: datetime
    unchanged: list[tuple[int, datetime]] = field(default_factory=list)  # (feed id, next check), written in batches


def poll_cycle(
    storage: Storage,
    settings: Settings,
    classifier: TopicClassifier,
    now: datetime,
    feeds: Sequence[FeedForUpdate] | None = None,
    on_feed: Callable[[FeedOutcome], None] | None = None,
    fetcher: Fetcher = fetch_feed,
    stories: StoryPlacer | None = None,
) -> CycleOutcome:
    """Poll `feeds` (default: the due ones) and store what they bring; `stories` is the
    poller's story index (a fresh one by default)."""
    if feeds is None:
        feeds = storage.feeds.claim(now, timedelta(minutes=settings.polling.lease_minutes))
    policy = FetchPolicy.from_settings(settings.polling)
    cycle = _Cycle(
        storage, classifier, stories or StoryPlacer(timedelta(hours=settings.stories.window_hours)),
        SponsoredRules.build(**settings.sponsored.model_dump()),
        timedelta(hours=settings.polling.max_backoff_hours), now,
    )
    outcomes, started = [], time.monotonic()
    jobs = settings.polling.concurrency if any(feed.full_text for feed in feeds) else len(feeds)  # articles are jobs too
    workers = max(1, min(settings.polling.concurrency, jobs))
    with make_client(policy, workers) as client:
        def work(feed: FeedForUpdate) -> Retrieved:
            return retrieve(feed, policy, client, now, settings.polling.max_items_per_feed, fetcher, settings.service.tz)

        def read_article(feed: FeedForUpdate, item: ItemData) -> ArticleText:
            return fetch_article(feed, item, policy, client, fetcher)

        retrieved = _retrieve_all(
            feeds, work, workers, settings.polling.per_host_concurrency, read_article, partial(_wanting_text, storage),
        )
        try:
            for got in retrieved:
                outcome = _store(cycle, got)
                metrics.FETCHES.labels(outcome.status if outcome.error else "not_modified" if outcome.not_modified else "ok").inc()
                metrics.ITEMS_INGESTED.inc(outcome.new)
                outcomes.append(outcome)
                if on_feed:
                    on_feed(outcome)
        finally:
            _write_unchanged(cycle)
    finished = datetime.now(now.tzinfo)
    metrics.CYCLE_SECONDS.observe(time.monotonic() - started)
    metrics.LAST_CYCLE.set(time.time())
    return CycleOutcome(tuple(outcomes), started=now, finished=finished)


def retrieve(
    feed: FeedForUpdate, policy: FetchPolicy, client: httpx.Client, now: datetime, max_items: int, fetcher: Fetcher = fetch_feed,
    tz: tzinfo = UTC,
) -> Retrieved:
    """Fetch, parse (or scrape, for a news-list page: its dates are read in `tz`) and
    normalise one feed; any failure comes back as `error`."""
    try:
        with metrics.FETCH_SECONDS.time():
            fetched = fetcher(feed, policy, client)
        if fetched.not_modified:
            return Retrieved(feed, fetched)
        body_hash = hashlib.sha256(fetched.body or b"").hexdigest()
        if body_hash == feed.body_hash:
            return Retrieved(feed, fetched, body_hash)
        data = scrape_page(fetched, feed.selectors, now, tz, max_items) if feed.selectors else parse_feed(fetched, max_items)
        items = tuple(normalise_feed(data, now))
        return Retrieved(feed, fetched, body_hash, data, items, data.notes + feed_notes(items))
    except AggregatorError as exc:
        return Retrieved(feed, error=exc)
    except Exception as exc:  # noqa: BLE001 - a bug on one feed must not stop the cycle
        log.exception("unexpected error on feed %s", feed.url)
        return Retrieved(feed, error=FetchError(f"internal error: {type(exc).__name__}: {exc}", kind="internal_error"))


def try_source(feed: FeedForUpdate, settings: Settings, now: datetime, limit: int, fetcher: Fetcher = fetch_feed) -> Retrieved:
    """What the source would give, storing nothing: its items and, for a full-text source,
    the article texts of the first `limit` of them (fetched one after another)."""
    policy = FetchPolicy.from_settings(settings.polling)
    with make_client(policy, 1) as client:
        got = retrieve(feed, policy, client, now, settings.polling.max_items_per_feed, fetcher, settings.service.tz)
        if got.error is not None or not feed.full_text:
            return got
        wanted = [item for item in got.items[:limit] if item.url]
        articles = [fetch_article(feed, item, policy, client, fetcher) for item in wanted]
    return _AwaitingText(got, len(wanted), articles).complete()


def _retrieve_all(
    feeds: Sequence[FeedForUpdate], work: Callable[[FeedForUpdate], Retrieved], workers: int, per_host: int,
    read_article: Callable[[FeedForUpdate, ItemData], ArticleText] | None = None,
    wanting_text: Callable[[Retrieved], Sequence[ItemData]] | None = None,
) -> Iterator[Retrieved]:
    """`work` on every feed, then `read_article` on the items `wanting_text` names, in
    `workers` threads, never more than `per_host` requests at once to one host; each feed's
    result as soon as it (and its articles) are in."""
    awaiting: dict[int, _AwaitingText] = {}
    with ThreadPoolExecutor(workers, thread_name_prefix="poll") as pool:
        jobs = _HostJobs(pool, per_host, IN_FLIGHT_PER_WORKER * workers)
        for feed in feeds:
            jobs.add(feed.url, partial(work, feed))
        for result in jobs.results():
            if isinstance(result, Retrieved):
                items = wanting_text(result) if wanting_text and read_article else ()
                if not items:
                    yield result
                    continue
                awaiting[result.feed.id] = _AwaitingText(result, len(items))
                for item in items:
                    jobs.add(item.url, partial(_article_job, read_article, result.feed, item))
            else:
                feed_id, article = result
                waiting = awaiting[feed_id]
                waiting.articles.append(article)
                if len(waiting.articles) == waiting.expected:
                    yield awaiting.pop(feed_id).complete()


def _article_job(read_article: Callable[[FeedForUpdate, ItemData], ArticleText], feed: FeedForUpdate, item: ItemData) -> tuple[int, ArticleText]:
    return feed.id, read_article(feed, item)


class _HostJobs:
    """Jobs for a thread pool, started so that one host never has more than `per_host` at
    once; hosts take turns, so no worker waits on a busy host. Jobs may be added while the
    results are being read.

    At most `in_flight` jobs run (or wait, finished, to be read) at once, and more start only
    as results are read: storing a feed costs more than fetching it, and without the limit
    the workers would fetch and parse every feed of a cold cycle while the first ones are
    stored, holding them all in memory."""

    def __init__(self, pool: ThreadPoolExecutor, per_host: int, in_flight: int) -> None:
        self._pool, self._per_host, self._in_flight = pool, per_host, in_flight
        self._waiting: dict[str, deque[Callable[[], Any]]] = {}
        self._busy: Counter[str] = Counter()
        self._running: dict[Future[Any], str] = {}

    def add(self, url: str, job: Callable[[], Any]) -> None:
        self._waiting.setdefault(_host(url), deque()).append(job)

    def results(self) -> Iterator[Any]:
        self._start_ready()
        while self._running:
            done, _ = wait(self._running, return_when=FIRST_COMPLETED)
            for future in done:
                self._busy[self._running.pop(future)] -= 1
            self._start_ready()
            for future in done:
                yield future.result()
            self._start_ready()  # jobs added while the results were read

    def _start_ready(self) -> None:
        started = True
        while started and len(self._running) < self._in_flight:
            started = False
            for host, queue in self._waiting.items():
                if queue and self._busy[host] < self._per_host and len(self._running) < self._in_flight:
                    try:
                        future = self._pool.submit(queue.popleft())
                    except RuntimeError:  # the process is exiting: the pool takes no new jobs
                        self._stop_starting()
                        return
                    self._running[future] = host
                    self._busy[host] += 1
                    started = True

    def _stop_starting(self) -> None:
        """End the cycle with the jobs already running; the feeds not fetched keep their lease
        and are polled after it runs out, by this service's next start or another poller."""
        left = sum(len(queue) for queue in self._waiting.values()) + 1
        log.info("the process is shutting down: %d fetches not started", left)
        self._waiting.clear()


def _wanting_text(storage: Storage, got: Retrieved) -> list[ItemData]:
    """The items of a full-text source whose article pages are to be fetched: the new ones
    with a link, newest first, at most MAX_ARTICLES_PER_FEED."""
    if got.error is not None or not got.feed.full_text or not got.items:
        return []
    try:
        with storage.read() as session:
            by_guid, by_url = item_store.stored_refs(session, got.feed.id, got.items)
    except Exception:  # noqa: BLE001 - the items are still stored (without texts); the cycle goes on
        log.exception("feed %s: could not tell which items are new, so no article texts are fetched", got.feed.url)
        return []
    new = [item for item in plan_item_changes(got.feed.id, got.items, by_guid, by_url).new if item.url]
    return sorted(new, key=lambda item: item.published, reverse=True)[:MAX_ARTICLES_PER_FEED]


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _store(cycle: _Cycle, got: Retrieved) -> FeedOutcome:
    feed = got.feed
    if got.error is None and got.fetched is not None and got.fetched.permanent_url:
        holder = cycle.storage.feeds.holder_of(got.fetched.permanent_url, feed.id)
        if holder is not None:
            message = f"the feed moved permanently to {got.fetched.permanent_url}, which is already the feed {holder!r}; remove one of the two"
            got = Retrieved(feed, error=FetchError(message, kind="moved_to_duplicate"))
    if got.error is not None:
        return _record_failure(cycle, feed, got.error)
    try:
        if got.unchanged_body and not (got.fetched and got.fetched.permanent_url):
            return _record_unchanged(cycle, got)
        return _store_items(cycle, got)
    except Exception as exc:  # noqa: BLE001 - recorded on the feed, the cycle goes on
        log.exception("storing feed %s failed", feed.url)
        return _record_failure(cycle, feed, FetchError(f"storing failed: {exc}", kind="store_error"))


def _record_unchanged(cycle: _Cycle, got: Retrieved) -> FeedOutcome:
    feed = got.feed
    assert got.fetched is not None
    hints = ScheduleHints(fresh_for=got.fetched.fresh_for)
    cycle.unchanged.append((feed.id, next_check(cycle.now, feed.id, feed.interval, 0, cycle.max_backoff, hints)))
    if len(cycle.unchanged) >= UNCHANGED_BATCH:
        _write_unchanged(cycle)
    return FeedOutcome(feed.id, feed.url, feed.name, not_modified=True)


def _write_unchanged(cycle: _Cycle) -> None:
    """Record the unchanged feeds gathered so far. Should it fail, they keep their claim
    until the lease runs out and are simply polled again."""
    batch, cycle.unchanged = cycle.unchanged, []
    try:
        cycle.storage.feeds.record_unchanged(batch, cycle.now)
    except Exception:  # noqa: BLE001 - bookkeeping only: no item is lost
        log.exception("recording %d unchanged feeds failed", len(batch))


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
    locked_at = None
    with cycle.storage.transaction() as session:
        by_guid, by_url = item_store.stored_refs(session, feed.id, got.items)
        changes = plan_item_changes(feed.id, got.items, by_guid, by_url)
        if changes.new:
            item_store.lock_story_placement(session, feed.id)
            locked_at = time.perf_counter()
            cycle.stories.catch_up(session, now)
        placed = []
        for item in sorted(changes.new, key=lambda new: new.published):  # stories grow in the order events were told
            decision = cycle.classifier.classify(_topic_input(item, feed))
            if is_sponsored(item, cycle.sponsored):
                placed.append(PlacedItem(item, decision, sponsored=True))
                continue
            story_id = cycle.stories.index.place(StoryCandidate(feed.id, item.published, item.title, decision_text(item.summary, item.full_text)))
            placed.append(PlacedItem(item, decision, story_id))
        item_store.add_items(session, feed.id, placed, now)
        texts = item_store.stored_full_texts(session, [item_id for item_id, _ in changes.updated]) if feed.full_text else {}
        for item_id, item in changes.updated:
            item = replace(item, full_text=texts.get(item_id))
            item_store.update_item(session, item_id, item, cycle.classifier.classify(_topic_input(item, feed)), now)
        hints = ScheduleHints(ttl=data.ttl if data else None, fresh_for=got.fetched.fresh_for)
        due = next_check(now, feed.id, feed.interval, 0, cycle.max_backoff, hints)
        cycle.storage.feeds.record_success(
            session, feed.id, got.fetched, got.body_hash, now, due,
            title=data.title if data else None, site_url=data.link if data else None,
            notes=got.notes if data else None,
        )
    locked = time.perf_counter() - locked_at if locked_at is not None else 0.0
    if got.fetched.permanent_url:
        log.info("feed %s moved permanently to %s; the new address is stored", feed.url, got.fetched.permanent_url)
    log.info("feed %s: %d new, %d updated, %d unchanged", feed.url, len(changes.new), len(changes.updated), changes.unchanged)
    return FeedOutcome(
        feed.id, feed.url, feed.name, new=len(changes.new), updated=len(changes.updated),
        unchanged=changes.unchanged, not_modified=got.unchanged_body, locked_seconds=locked,
    )


def _topic_input(item: ItemData, feed: FeedForUpdate) -> TopicInput:
    summary = decision_text(item.summary, item.full_text)
    return TopicInput(title=item.title, summary=summary, categories=item.categories, feed_topic=feed.topic_hint)
