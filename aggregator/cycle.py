"""One poll cycle: the due feeds retrieved in worker threads, then each decided and written.

This is where storage and the pipeline meet, and nowhere else. For each feed's result, as
soon as it is in: read what storage holds about its items (`Storage.items.stored_for`),
bring the poller's story window up to date, let `pipeline.decide` work out everything
(topics, advertising, stories, search text, health, next check), then have storage write
the intent (`Storage.items.ingest`), which holds the story lock for the write alone. Feeds
that answered 304 or the same body are written 100 at a time.

A feed's failure is a value recorded on the feed; a bug of ours on one feed (in deciding or
writing) is logged with its traceback, counted, and recorded on the feed as ours. Nothing
stops the cycle. `now` is passed in; the scheduler and CLI are thin callers of `poll_cycle`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

from aggregator import metrics
from aggregator.entities import (
    CycleOutcome,
    FeedForUpdate,
    FeedIntent,
    FeedOutcome,
    FeedUpdateIntent,
    ItemData,
    ItemUpdateIntent,
    StoredForUpdate,
)
from aggregator.pipeline.classify import TopicClassifier
from aggregator.pipeline.cluster import StoryIndex, StoryMember, StoryRules
from aggregator.pipeline.decide import Judges, decide, failed, replace_stories
from aggregator.pipeline.dedupe import plan_item_changes
from aggregator.pipeline.encoder import Encoder, NoEncoder, make_encoder
from aggregator.pipeline.fetch import FetchPolicy, fetch_feed, make_client
from aggregator.pipeline.fulltext import ArticleText, fetch_article
from aggregator.pipeline.retrieve import Claim, Fetcher, Retrieved, internal_error, retrieve, retrieve_all
from aggregator.pipeline.sponsored import SponsoredRules
from aggregator.pipeline.text import decision_text
from aggregator.settings import Settings
from aggregator.storage import Storage
from aggregator.storage.items import MemberRow

log = logging.getLogger(__name__)
UNCHANGED_BATCH = 100  # unchanged feeds recorded per transaction (they are the most common answer)
MAX_ARTICLES_PER_FEED = 100  # article pages fetched per source and cycle (the newest new items)


class StoryPlacer:
    """A poller's story window, kept from cycle to cycle. Before a feed's new items are
    decided it catches up with every item stored since it last looked, by this poller or
    another; a cycle whose feeds bring nothing new never touches it."""

    def __init__(self, window: timedelta, encoder: Encoder | None = None) -> None:
        self.encoder = encoder or NoEncoder()
        self.index = StoryIndex(window, StoryRules.reading(self.encoder.name))
        self.seen_item_id = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> StoryPlacer:
        stories = settings.stories
        return cls(timedelta(hours=stories.window_hours), make_encoder(stories.encoder, stories.encoder_threads))

    def catch_up(self, storage: Storage, now: datetime) -> None:
        self.add(storage.items.recent_members(now - self.index.window, after_id=self.seen_item_id))

    def add(self, rows: Sequence[MemberRow]) -> None:
        for row in rows:
            self.index.add(StoryMember(*row))
            self.seen_item_id = max(self.seen_item_id, row[0])

    def reword(self, updates: Sequence[ItemUpdateIntent]) -> None:
        """Stored items whose publisher edited them are compared by their new wording, as a
        restarted poller, reading them from storage, would."""
        for update in updates:
            item = update.item
            self.index.reword(update.item_id, item.title, decision_text(item.summary, item.full_text), update.vector)

    def reviser(self, feed: FeedForUpdate) -> Callable[[FeedIntent, list[MemberRow]], FeedIntent]:
        """What storage calls, under the story lock, when other pollers stored items after
        the ones an intent's placements saw: they join the window, the items are placed again."""

        def revise(intent: FeedIntent, fresh: list[MemberRow]) -> FeedIntent:
            log.info("feed %s: %d items stored meanwhile by another poller; its stories are decided again", feed.url, len(fresh))
            self.add(fresh)
            return replace_stories(intent, feed, self.index, self.seen_item_id)

        return revise


@dataclass
class _Cycle:
    """What the deciding and writing side of one cycle works with."""

    storage: Storage
    classifier: TopicClassifier
    stories: StoryPlacer
    sponsored: SponsoredRules
    max_backoff: timedelta
    now: datetime
    unchanged: list[FeedUpdateIntent] = field(default_factory=list)  # written in batches


def poll_cycle(
    storage: Storage,
    settings: Settings,
    classifier: TopicClassifier,
    now: datetime,
    feeds: Sequence[FeedForUpdate] | None = None,
    on_feed: Callable[[FeedOutcome], None] | None = None,
    fetcher: Fetcher = fetch_feed,
    stories: StoryPlacer | None = None,
    include_all: bool = False,
) -> CycleOutcome:
    """Poll `feeds` and store what they bring; `stories` is the poller's story window (a fresh
    one by default). Without `feeds`, the due ones are claimed a few at a time, as worker slots
    free, so that pollers side by side share a burst; with `include_all`, every enabled feed
    is claimed at once."""
    lease = timedelta(minutes=settings.polling.lease_minutes)
    claim = None
    if feeds is None and include_all:
        feeds = storage.feeds.claim(now, lease, include_all=True)
    elif feeds is None:
        feeds, claim = (), partial(_claim_due, storage, now, lease)
    policy = FetchPolicy.from_settings(settings.polling)
    cycle = _Cycle(
        storage,
        classifier,
        stories or StoryPlacer.from_settings(settings),
        SponsoredRules.build(**settings.sponsored.model_dump()),
        timedelta(hours=settings.polling.max_backoff_hours),
        now,
    )
    outcomes, started = [], time.monotonic()
    jobs = settings.polling.concurrency if claim or any(feed.full_text for feed in feeds) else len(feeds)  # articles are jobs too
    workers = max(1, min(settings.polling.concurrency, jobs))
    with make_client(policy, workers) as client:

        def work(feed: FeedForUpdate) -> Retrieved:
            return retrieve(feed, policy, client, now, settings.polling.max_items_per_feed, fetcher, settings.service.tz)

        def read_article(feed: FeedForUpdate, item: ItemData) -> ArticleText:
            return fetch_article(feed, item, policy, client, fetcher)

        def wanting_text(got: Retrieved) -> list[ItemData]:
            return _wanting_text(storage, got)

        order = ClaimOrder(feeds, claim)
        retrieved = retrieve_all(feeds, work, workers, settings.polling.per_host_concurrency, read_article, wanting_text, order.claim)
        try:
            for got in order.sorted(retrieved):
                outcome = _handle(cycle, got)
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


class ClaimOrder:
    """Hands on fetched feeds in the order they were taken, whichever fetch finished first, so
    that a cycle's stories do not depend on which site answered sooner. A result waits (parsed,
    in memory) only for the feeds taken before it; fetching goes on meanwhile."""

    def __init__(self, feeds: Sequence[FeedForUpdate], claim: Claim | None) -> None:
        self._order = [feed.id for feed in feeds]
        self._claim = claim
        self.claim = self._claimed if claim else None

    def _claimed(self, limit: int) -> Sequence[FeedForUpdate]:
        assert self._claim is not None
        taken = self._claim(limit)
        self._order.extend(feed.id for feed in taken)
        return taken

    def sorted(self, results: Iterable[Retrieved]) -> Iterator[Retrieved]:
        waiting: dict[int, Retrieved] = {}
        turn = 0
        for got in results:
            waiting[got.feed.id] = got
            while turn < len(self._order) and self._order[turn] in waiting:
                yield waiting.pop(self._order[turn])
                turn += 1
        yield from waiting.values()  # none, unless a feed was handed on twice


def _claim_due(storage: Storage, now: datetime, lease: timedelta, limit: int) -> list[FeedForUpdate]:
    """Up to `limit` due feeds taken for this poller; none when the database will not say (the
    cycle ends with what it has, and the next tick tries again)."""
    try:
        return storage.feeds.claim(now, lease, limit=limit)
    except Exception:  # the feeds stay due: this or another poller takes them next time
        log.exception("claiming due feeds failed")
        return []


def _wanting_text(storage: Storage, got: Retrieved) -> list[ItemData]:
    """The items of a full-text source whose article pages are to be fetched: the new ones
    with a link, newest first, at most MAX_ARTICLES_PER_FEED."""
    if got.error is not None or not got.feed.full_text or not got.items:
        return []
    try:
        stored = storage.items.stored_for(got.feed.id, got.items)
    except Exception:  # the items are still stored (without texts); the cycle goes on
        log.exception("feed %s: could not tell which items are new, so no article texts are fetched", got.feed.url)
        return []
    new = [item for item in plan_item_changes(got.feed.id, got.items, stored.by_guid, stored.by_url).new if item.url]
    return sorted(new, key=lambda item: item.published, reverse=True)[:MAX_ARTICLES_PER_FEED]


def _handle(cycle: _Cycle, got: Retrieved) -> FeedOutcome:
    """Decide about one feed's result and write it; a bug of ours in either is the feed's
    recorded (and counted) internal error, never the publisher's."""
    feed = got.feed
    try:
        intent = _decide(cycle, got)
    except Exception as exc:  # a bug on one feed must not stop the cycle
        log.exception("feed %s: a bug of ours while deciding about its items", feed.url)
        metrics.INTERNAL_ERRORS.labels("decide").inc()
        intent = failed(feed, internal_error(exc), cycle.now, cycle.max_backoff)
    try:
        return _write(cycle, intent, feed)
    except Exception as exc:  # recorded on the feed, the cycle goes on
        log.exception("feed %s: storing failed", feed.url)
        metrics.INTERNAL_ERRORS.labels("store").inc()
        intent = failed(feed, internal_error(exc, "storing failed"), cycle.now, cycle.max_backoff)
    try:
        return _write(cycle, intent, feed)
    except Exception:  # the feed keeps its lease and is polled again when it runs out
        log.exception("feed %s: recording that storing failed failed too", feed.url)
        return intent.outcome


def _decide(cycle: _Cycle, got: Retrieved) -> FeedIntent:
    moved_to = got.fetched.permanent_url if got.fetched else None
    stored = StoredForUpdate()
    if got.error is None and (got.items or moved_to):
        stored = cycle.storage.items.stored_for(got.feed.id, got.items, moved_to)
    if got.items:
        cycle.stories.catch_up(cycle.storage, cycle.now)
    judges = Judges(
        cycle.classifier, cycle.sponsored, cycle.stories.index, cycle.max_backoff, cycle.stories.seen_item_id, cycle.stories.encoder
    )
    return decide(got, stored, cycle.now, judges)


def _write(cycle: _Cycle, intent: FeedIntent, feed: FeedForUpdate) -> FeedOutcome:
    update = intent.feed
    if not update.succeeded:
        log.warning("feed %s failed: %s", feed.url, intent.outcome.error)
    if _only_checked(intent):
        cycle.unchanged.append(update)
        if len(cycle.unchanged) >= UNCHANGED_BATCH:
            _write_unchanged(cycle)
        return intent.outcome
    held = cycle.storage.items.ingest(intent, cycle.stories.reviser(feed))
    cycle.stories.reword(intent.updated)
    if update.url:
        log.info("feed %s moved permanently to %s; the new address is stored", feed.url, update.url)
    if update.succeeded:
        outcome = intent.outcome
        log.info("feed %s: %d new, %d updated, %d unchanged", feed.url, outcome.new, outcome.updated, outcome.unchanged)
    return replace(intent.outcome, locked_seconds=held)


def _only_checked(intent: FeedIntent) -> bool:
    """A feed that answered 304 or the same body again: nothing to write but its health."""
    update = intent.feed
    return update.succeeded and update.validators is None and update.url is None and not intent.new and not intent.updated


def _write_unchanged(cycle: _Cycle) -> None:
    """Record the unchanged feeds gathered so far. Should it fail, they keep their claim
    until the lease runs out and are simply polled again."""
    batch, cycle.unchanged = cycle.unchanged, []
    try:
        cycle.storage.feeds.record_unchanged(batch)
    except Exception:  # bookkeeping only: no item is lost
        log.exception("recording %d unchanged feeds failed", len(batch))
