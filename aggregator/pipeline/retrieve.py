"""Retrieve stage: one feed's document fetched, parsed (or scraped, or read as a Telegram
channel's web preview) and normalised, in worker threads, with the article pages of a
full-text source's new items fetched too.

`retrieve` does one feed and returns its items or its error as a value (`Retrieved.error`):
the publisher's failure as a `SourceError`, a bug of ours met on the way as an
`InternalError` (logged here with its traceback); a Telegram channel read for the first time
is paged back (`?before=`, past pages holding only skipped posts) up to the item limit, later
reads take its newest page only.
`retrieve_all` runs it over many feeds in a thread pool, never more than `[polling]
per_host_concurrency` requests at once to one host, and yields each feed's result as soon as
it (and its articles) are in. Nothing here reads or writes storage: which items want their
article text is asked of the caller.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx

from aggregator import metrics
from aggregator.entities import FeedData, FeedForUpdate, FeedNote, Fetched, ItemData
from aggregator.errors import AggregatorError, InternalError
from aggregator.pipeline.fetch import FetchPolicy, fetch_feed, make_client
from aggregator.pipeline.fulltext import ArticleText, fetch_article
from aggregator.pipeline.normalise import feed_notes, normalise_feed
from aggregator.pipeline.parse import parse_feed
from aggregator.pipeline.scrape import scrape_page
from aggregator.pipeline.telegram import ChannelPage, before_post, post_number, read_channel_page
from aggregator.settings import Settings

log = logging.getLogger(__name__)
Fetcher = Callable[[FeedForUpdate, FetchPolicy, httpx.Client], Fetched]
Claim = Callable[[int], Sequence[FeedForUpdate]]  # up to so many more feeds to poll, taken for this poller
MAX_CHANNEL_PAGES = 100  # a channel's first read pages back at most this far (about 20 posts a page)
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


def retrieve(
    feed: FeedForUpdate,
    policy: FetchPolicy,
    client: httpx.Client,
    now: datetime,
    max_items: int,
    fetcher: Fetcher = fetch_feed,
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
        if feed.kind == "telegram":
            data = _read_channel(feed, fetched, max_items, lambda page: fetcher(page, policy, client))
        else:
            data = _read(feed, fetched, now, tz, max_items)
        items = tuple(normalise_feed(data, now))
        return Retrieved(feed, fetched, body_hash, data, items, data.notes + feed_notes(items))
    except AggregatorError as exc:
        return Retrieved(feed, error=exc)
    except Exception as exc:  # a bug of ours on one feed must not stop the cycle
        log.exception("feed %s: a bug of ours while reading it", feed.url)
        metrics.INTERNAL_ERRORS.labels("retrieve").inc()
        return Retrieved(feed, error=internal_error(exc))


def _read(feed: FeedForUpdate, fetched: Fetched, now: datetime, tz: tzinfo, max_items: int) -> FeedData:
    """The fetched document read as what the source is: a news-list page or a feed."""
    if feed.selectors:
        return scrape_page(fetched, feed.selectors, now, tz, max_items)
    return parse_feed(fetched, max_items)


def _read_channel(feed: FeedForUpdate, fetched: Fetched, max_items: int, fetch: Callable[[FeedForUpdate], Fetched]) -> FeedData:
    """A channel's newest page; for a channel never read before (no body hash yet), with the
    pages before it."""
    page = read_channel_page(fetched, max_items)
    return _older_posts(feed, page, max_items, fetch) if feed.body_hash is None else page.data


def _older_posts(feed: FeedForUpdate, newest: ChannelPage, max_items: int, fetch: Callable[[FeedForUpdate], Fetched]) -> FeedData:
    """A channel's newest page and the pages before it (`?before=<the oldest post on the
    page last read>`), up to `max_items` posts, until a page holds no older post of any kind
    (one of only service messages or deleted posts does not stop it) or after
    MAX_CHANNEL_PAGES pages; a page that cannot be read ends the paging with a note, keeping
    what was read."""
    entries, notes, before = list(newest.data.entries), newest.data.notes, newest.oldest_post
    for _ in range(MAX_CHANNEL_PAGES):
        if before is None or len(entries) >= max_items:
            break
        page_url = before_post(feed.url, before)
        try:
            page = read_channel_page(fetch(replace(feed, url=page_url, etag=None, last_modified=None)), max_items)
        except AggregatorError as exc:
            notes += (FeedNote("older_posts_failed", f"posts before {before} could not be read ({page_url}): {exc}"),)
            break
        entries += [entry for entry in page.data.entries if post_number(entry) < before]
        before = page.oldest_post if page.oldest_post is not None and page.oldest_post < before else None
    return replace(newest.data, entries=tuple(entries[:max_items]), notes=notes)


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


def retrieve_all(
    feeds: Sequence[FeedForUpdate],
    work: Callable[[FeedForUpdate], Retrieved],
    workers: int,
    per_host: int,
    read_article: Callable[[FeedForUpdate, ItemData], ArticleText] | None = None,
    wanting_text: Callable[[Retrieved], Sequence[ItemData]] | None = None,
    claim: Claim | None = None,
) -> Iterator[Retrieved]:
    """`work` on every feed, then `read_article` on the items `wanting_text` names, in
    `workers` threads, never more than `per_host` requests at once to one host; each feed's
    result as soon as it (and its articles) are in.

    With `claim`, more feeds are asked for whenever worker slots are free, at most as many as
    are free, until it has none left: a poller takes no more of a burst of due feeds than it
    can start, and pollers beside it take the rest."""
    awaiting: dict[int, _AwaitingText] = {}
    with ThreadPoolExecutor(workers, thread_name_prefix="poll") as pool:

        def more(free: int) -> list[tuple[str, Callable[[], Any]]]:
            return [(feed.url, partial(work, feed)) for feed in claim(free)] if claim else []

        jobs = _HostJobs(pool, per_host, IN_FLIGHT_PER_WORKER * workers, more if claim else None, workers)
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


def _article_job(
    read_article: Callable[[FeedForUpdate, ItemData], ArticleText], feed: FeedForUpdate, item: ItemData
) -> tuple[int, ArticleText]:
    return feed.id, read_article(feed, item)


class _HostJobs:
    """Jobs for a thread pool, started so that one host never has more than `per_host` at
    once; hosts take turns, so no worker waits on a busy host. Jobs may be added while the
    results are being read.

    At most `in_flight` jobs run (or wait, finished, to be read) at once, and more start only
    as results are read: storing a feed costs more than fetching it, and without the limit
    the workers would fetch and parse every feed of a cold cycle while the first ones are
    stored, holding them all in memory."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        per_host: int,
        in_flight: int,
        more: Callable[[int], list[tuple[str, Callable[[], Any]]]] | None = None,
        slots: int = 0,
    ) -> None:
        self._pool, self._per_host, self._in_flight = pool, per_host, in_flight
        self._more, self._slots = more, slots  # asked for up to as many jobs as `slots` leaves free
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
        self._top_up()
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

    def _top_up(self) -> None:
        """Ask for as many jobs as there are free slots (running, finished but unread, or
        waiting, jobs take one each); once nothing comes, stop asking."""
        if self._more is None:
            return
        free = self._slots - len(self._running) - sum(len(queue) for queue in self._waiting.values())
        if free > 0:
            added = self._more(free)
            if not added:
                self._more = None
            for url, job in added:
                self.add(url, job)

    def _stop_starting(self) -> None:
        """End the cycle with the jobs already running; the feeds not fetched keep their lease
        and are polled after it runs out, by this service's next start or another poller."""
        left = sum(len(queue) for queue in self._waiting.values()) + 1
        log.info("the process is shutting down: %d fetches not started", left)
        self._waiting.clear()
        self._more = None


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def internal_error(exc: Exception, doing: str = "") -> InternalError:
    """A bug of ours (any exception we did not raise on purpose), or our database failing,
    as the error kept on a feed; `doing` says at what."""
    error = InternalError(f"{doing + ': ' if doing else ''}{type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
