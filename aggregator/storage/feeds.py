"""Feeds in storage: the list from config, which are due, and the outcome of each fetch.

A feed remembers the URL it has in `config.toml` (`config_url`) apart from the URL it is
fetched from (`url`), so a permanent redirect can move the latter without the next start
adding the old address again. Health: `status` is "ok", a note kind for a feed read with
trouble (`malformed_xml`, `wrong_encoding`, ...), an error kind, or "gone" (HTTP 410, no
longer polled); `last_error` says it in words. Deciding any of it is left to
`pipeline.decide`: this module writes what it is told.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from aggregator.entities import FeedForUpdate, FeedUpdateIntent, PageSelectors
from aggregator.errors import NotFound
from aggregator.settings import FeedSettings
from aggregator.storage.db import from_db, to_db
from aggregator.storage.models import Feed, Item


@dataclass(frozen=True)
class FeedView:
    """A feed as pages, the API and the CLI show it."""

    id: int
    url: str
    name: str
    title: str | None
    site_url: str | None
    enabled: bool
    from_config: bool
    topic_hint: str | None
    status: str
    last_error: str | None
    consecutive_errors: int
    last_fetched: datetime | None
    last_success: datetime | None
    next_check: datetime | None
    items_total: int = 0
    items_last_7_days: int = 0
    image_url: str | None = None  # the source's picture (a channel's avatar, a feed's logo)


class FeedStore:
    def __init__(self, sessions: sessionmaker[Session], default_interval: timedelta) -> None:
        self._sessions = sessions
        self._default_interval = default_interval

    def sync_config(self, feeds: Sequence[FeedSettings], now: datetime) -> None:
        """Make the stored feed list match config: add new ones, update names, disable removed.
        Several processes starting at once may race to add the same feed: the loser retries
        and finds it."""
        for attempt in range(3):
            try:
                return self._sync_config(feeds, now)
            except IntegrityError:
                if attempt == 2:
                    raise

    def _sync_config(self, feeds: Sequence[FeedSettings], now: datetime) -> None:
        wanted = {feed.url: feed for feed in feeds}
        with self._sessions.begin() as session:
            rows = list(session.scalars(select(Feed)))
            by_config = {row.config_url: row for row in rows if row.config_url}
            by_url = {row.url: row for row in rows}
            for url, feed in wanted.items():
                row = by_config.get(url) or by_url.get(url) or self._new_row(session, url, feed.name, now)
                row.name, row.topic_hint, row.interval_minutes = feed.name, feed.topic, feed.interval_minutes
                row.config_url, row.from_config, row.enabled = url, True, row.status != "gone"
                _set_source(row, feed)
            for row in rows:
                if row.from_config and (row.config_url or row.url) not in wanted:
                    row.enabled, row.from_config = False, False

    def add(self, url: str, name: str, now: datetime, topic: str | None = None, kind: str | None = None) -> FeedView:
        """Add a source (or turn a removed one on again); `kind` ("telegram" for a channel) says
        how it is read: None keeps what is stored, a plain feed for a new one."""
        with self._sessions.begin() as session:
            row = session.scalar(select(Feed).where(Feed.url == url)) or self._new_row(session, url, name, now)
            row.name, row.topic_hint, row.enabled = name, topic, True
            if kind is not None and (row.kind or "feed") != kind:  # read differently: read it again in full
                row.kind, row.etag, row.last_modified, row.body_hash = kind, None, None, None
            if row.status == "gone":  # adding a gone feed again means: try it again now
                row.status, row.last_error, row.next_check_at = "new", None, None
            session.flush()
            return _view(row)

    def remove(self, id_or_url: str) -> FeedView:
        """Remove a feed and its items."""
        with self._sessions.begin() as session:
            row = _find(session, id_or_url)
            view = _view(row)
            session.delete(row)
            return view

    def list(self, now: datetime | None = None) -> list[FeedView]:
        week_ago = to_db(now - timedelta(days=7)) if now else None
        with self._sessions() as session:
            totals = dict(session.execute(select(Item.feed_id, func.count()).group_by(Item.feed_id)).all())
            recent = {}
            if week_ago is not None:
                query = select(Item.feed_id, func.count()).where(Item.published_at >= week_ago).group_by(Item.feed_id)
                recent = dict(session.execute(query).all())
            rows = session.scalars(select(Feed).order_by(Feed.name, Feed.id))
            return [_view(row, totals.get(row.id, 0), recent.get(row.id, 0)) for row in rows]

    def get(self, id_or_url: str) -> FeedView:
        with self._sessions() as session:
            return _view(_find(session, id_or_url))

    def claim(self, now: datetime, lease: timedelta, include_all: bool = False, limit: int | None = None) -> list[FeedForUpdate]:
        """Take the due feeds (every enabled one with `include_all`) that no other poller holds,
        until `now + lease`: at most `limit` of them, longest due first. One statement does it,
        so two pollers never take the same feed: PostgreSQL skips rows another transaction has
        locked, SQLite serialises writers. A crashed poller's lease runs out; one that died on
        this machine is noticed at once."""
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        with self._sessions.begin() as session:
            held = select(Feed.claimed_by).where(Feed.claimed_until > to_db(now)).distinct()
            dead = [holder for holder in session.scalars(held) if holder and _died_here(holder)]
            free = or_(Feed.claimed_until.is_(None), Feed.claimed_until <= to_db(now), Feed.claimed_by.in_(dead))
            wanted = select(Feed.id).where(Feed.enabled.is_(True), free)
            if not include_all:
                wanted = wanted.where(or_(Feed.next_check_at.is_(None), Feed.next_check_at <= to_db(now)))
            if limit is not None:
                wanted = wanted.order_by(Feed.next_check_at.asc().nulls_first(), Feed.id).limit(limit)
            wanted = wanted.with_for_update(skip_locked=True)
            session.execute(
                update(Feed)
                .where(Feed.id.in_(wanted))
                .values(claimed_until=to_db(now + lease), claimed_by=token)
                .execution_options(synchronize_session=False)
            )
            query = select(Feed).where(Feed.claimed_by == token).order_by(Feed.next_check_at, Feed.id)
            return [self._for_update(row) for row in session.scalars(query)]

    def count_due(self, now: datetime, include_all: bool = False) -> int:
        """How many enabled feeds are due (all of them with `include_all`): what a cycle
        started now expects to poll, less what other pollers take."""
        query = select(func.count()).select_from(Feed).where(Feed.enabled.is_(True))
        if not include_all:
            query = query.where(or_(Feed.next_check_at.is_(None), Feed.next_check_at <= to_db(now)))
        with self._sessions() as session:
            return session.scalar(query) or 0

    def record_unchanged(self, updates: Sequence[FeedUpdateIntent]) -> None:
        """Feeds that answered 304 or the same body again (no items, no new validators): one
        UPDATE statement run for all of them in one transaction."""
        if not updates:
            return
        table = Feed.__table__
        statement = (
            update(table)
            .where(table.c.id == bindparam("feed_id"))
            .values(
                status=bindparam("status"),
                last_error=bindparam("last_error"),
                consecutive_errors=bindparam("errors"),
                last_success_at=bindparam("fetched"),
                last_fetched_at=bindparam("fetched"),
                next_check_at=bindparam("due"),
                claimed_until=None,
                claimed_by=None,
            )
        )
        rows = [
            {
                "feed_id": u.feed_id,
                "status": u.status,
                "last_error": u.last_error,
                "errors": u.consecutive_errors,
                "fetched": to_db(u.fetched_at),
                "due": to_db(u.next_check) if u.next_check else None,
            }
            for u in updates
        ]
        with self._sessions.begin() as session:
            session.connection().execute(statement, rows)

    def _new_row(self, session: Session, url: str, name: str, now: datetime) -> Feed:
        row = Feed(url=url, name=name, created_at=to_db(now), status="new", consecutive_errors=0, enabled=True, from_config=False)
        session.add(row)
        return row

    def _for_update(self, row: Feed) -> FeedForUpdate:
        interval = timedelta(minutes=row.interval_minutes) if row.interval_minutes else self._default_interval
        return FeedForUpdate(
            id=row.id,
            url=row.url,
            name=row.name,
            etag=row.etag,
            last_modified=row.last_modified,
            body_hash=row.body_hash,
            consecutive_errors=row.consecutive_errors,
            status=row.status,
            last_error=row.last_error,
            interval=interval,
            topic_hint=row.topic_hint,
            full_text=bool(row.full_text),
            selectors=PageSelectors(**row.selectors) if row.kind == "html" and row.selectors else None,
            kind=row.kind or "feed",
        )


def write_feed_update(session: Session, update: FeedUpdateIntent) -> None:
    """Write what a fetch decided about a feed (inside the transaction that stores its items,
    so both land or neither); the fetch is over, so the feed's lease is freed."""
    row = session.get_one(Feed, update.feed_id)
    row.status, row.last_error, row.consecutive_errors = update.status, update.last_error, update.consecutive_errors
    row.enabled = row.enabled and update.enabled
    if update.succeeded:
        row.last_success_at = to_db(update.fetched_at)
    _fetched(row, update.fetched_at, update.next_check)
    if update.url:
        row.url = update.url
    if update.validators is not None:
        row.etag, row.last_modified, row.body_hash = update.validators
    row.title = update.title or row.title
    row.site_url = update.site_url or row.site_url
    row.image_url = update.image_url or row.image_url


def holder_of(session: Session, url: str, except_feed_id: int) -> str | None:
    """The name of another feed already fetched from `url`, if any."""
    return session.scalar(select(Feed.name).where(Feed.url == url, Feed.id != except_feed_id))


def _set_source(row: Feed, feed: FeedSettings) -> None:
    """How the source is read and republished; when the way of reading it changes, the page is
    read again in full (its validators and body hash are forgotten)."""
    selectors = asdict(feed.selectors) if feed.selectors else None
    if (row.kind or "feed", row.selectors) != (feed.kind, selectors):
        row.etag = row.last_modified = row.body_hash = None
    row.kind, row.selectors, row.full_text, row.publish = feed.kind, selectors, feed.full_text, feed.publish


def _died_here(holder: str) -> bool:
    """Whether a lease holder ("host:pid:token") was a process on this machine that is gone."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _fetched(row: Feed, now: datetime, next_check: datetime | None) -> None:
    """The fetch is over: when it happened, when the next one is due, and the lease is free."""
    row.last_fetched_at = to_db(now)
    row.next_check_at = to_db(next_check) if next_check else None
    row.claimed_until = row.claimed_by = None


def _find(session: Session, id_or_url: str) -> Feed:
    query = select(Feed).where(Feed.id == int(id_or_url)) if str(id_or_url).isdigit() else select(Feed).where(Feed.url == id_or_url)
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"no feed {id_or_url!r}")
    return row


def _view(row: Feed, items_total: int = 0, items_recent: int = 0) -> FeedView:
    return FeedView(
        id=row.id,
        url=row.url,
        name=row.name,
        title=row.title,
        site_url=row.site_url,
        enabled=row.enabled,
        from_config=row.from_config,
        topic_hint=row.topic_hint,
        status=row.status if row.enabled or row.status == "gone" else "disabled",
        last_error=row.last_error,
        consecutive_errors=row.consecutive_errors,
        last_fetched=from_db(row.last_fetched_at),
        last_success=from_db(row.last_success_at),
        next_check=from_db(row.next_check_at),
        items_total=items_total,
        items_last_7_days=items_recent,
        image_url=row.image_url,
    )
