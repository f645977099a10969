"""Reading items and stories for pages, feeds, the API, metrics and WebSub: the query side
of storage.

`Reads` (the facade's `Storage.reads`) answers each question in a session of its own and
returns frozen views (`views.ItemView`, `StoryView`, `Page`) or plain values, so no caller
holds a session or a row. Lists are newest first and paged by an opaque cursor (the last
row's time and id), so a page never repeats or skips a row when new items arrive between
requests. Writing is left to `items` (ingest) and `editorial` (editors).
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload, sessionmaker

from aggregator.errors import InvalidRequest, NotFound
from aggregator.pipeline.encoder import unpack
from aggregator.storage.db import from_db, to_db
from aggregator.storage.models import EditorialAction, Feed, Item, ItemTopic, Story
from aggregator.storage.search import SearchResults, matching_items
from aggregator.storage.views import ItemView, Page, StoryRank, StoryView, T, item_view, story_view

__all__ = ["ItemView", "Page", "Reads", "SearchResults", "StoryView", "decode_cursor", "encode_cursor"]


class Reads:
    """Every read of items and stories; each method opens and closes its own session."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def items_page(
        self,
        limit: int,
        cursor: str | None = None,
        topic: str | None = None,
        feed_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page[ItemView]:
        """Visible items, newest first, optionally of a topic (primary or secondary), a feed
        and a time range [since, until)."""
        query = _items().where(Item.hidden.is_(False))
        if topic:
            query = query.where(exists().where(ItemTopic.item_id == Item.id, ItemTopic.topic == topic))
        if feed_id is not None:
            query = query.where(Item.feed_id == feed_id)
        if since is not None:
            query = query.where(Item.published_at >= to_db(since))
        if until is not None:
            query = query.where(Item.published_at < to_db(until))
        with self._sessions() as session:
            rows = _paged(session, query, Item.published_at, Item.id, limit, cursor)
            return _page([item_view(row) for row in rows], limit, lambda v: (v.published, v.id))

    def recent_items(self, limit: int) -> list[ItemView]:
        """The newest items, hidden and advertising ones too: what editors look over."""
        query = _items().order_by(Item.published_at.desc(), Item.id.desc()).limit(limit)
        with self._sessions() as session:
            return [item_view(row) for row in session.scalars(query)]

    def item_for_explanation(self, item_id: int) -> tuple[ItemView, str | None, np.ndarray | None]:
        """An item (hidden ones too), its feed's topic hint and the encoder's vector stored with it."""
        with self._sessions() as session:
            row = session.get(Item, item_id, options=[selectinload(Item.feed), selectinload(Item.topics)])
            if row is None:
                raise NotFound(f"no item {item_id}")
            return item_view(row), row.feed.topic_hint, unpack(row.vector)

    def stories_page(self, limit: int, cursor: str | None = None, topic: str | None = None) -> Page[StoryView]:
        """Visible stories, most recently updated first, optionally those with an item of `topic`."""
        query = _visible_stories()
        if topic:
            query = query.where(_has_topic(topic))
        with self._sessions() as session:
            rows = _paged(session, query, Story.updated_at, Story.id, limit, cursor)
            return _page([story_view(row) for row in rows], limit, lambda v: (v.updated, v.id))

    def story_ranks(self, start: datetime, end: datetime) -> list[StoryRank]:
        """The ranks of the visible stories first reported in [start, end): one day's digest."""
        return self._ranks(Story.first_published_at >= to_db(start), Story.first_published_at < to_db(end))

    def story_ranks_updated_since(self, since: datetime, min_reports: int = 1) -> list[StoryRank]:
        """The ranks of the visible stories whose latest report is at or after `since` and
        that have at least `min_reports` visible reports: top stories' candidates."""
        return self._ranks(Story.updated_at >= to_db(since), Story.item_count >= min_reports)

    def stories_by_ids(self, story_ids: Iterable[int]) -> list[StoryView]:
        """The visible stories among `story_ids`, most recently updated first."""
        wanted = list(dict.fromkeys(story_ids))
        if not wanted:
            return []
        return self._stories(_visible_stories().where(Story.id.in_(wanted)).order_by(Story.updated_at.desc(), Story.id.desc()))

    def pinned_stories(self, now: datetime, topic: str | None = None) -> list[StoryView]:
        """Stories an editor has pinned until a moment still ahead, most recently updated first."""
        query = _visible_stories().where(Story.pinned_until > to_db(now))
        if topic:
            query = query.where(_has_topic(topic))
        return self._stories(query.order_by(Story.updated_at.desc(), Story.id.desc()))

    def story(self, story_id: int) -> StoryView:
        found = self._stories(_visible_stories().where(Story.id == story_id))
        if not found:
            raise NotFound(f"no story {story_id}")
        return found[0]

    def stories_per_day(self, start: datetime, end: datetime, tz: ZoneInfo) -> dict[date, int]:
        """How many visible stories were first reported on each day of [start, end), in `tz`:
        the days a digest has something to show."""
        query = select(Story.first_published_at).where(
            Story.hidden.is_(False),
            Story.item_count > 0,
            Story.first_published_at >= to_db(start),
            Story.first_published_at < to_db(end),
        )
        return self._per_day(query, tz)

    def topic_items_per_day(self, topic: str, start: datetime, end: datetime, tz: ZoneInfo) -> dict[date, int]:
        """Visible, non-advertising items carrying `topic` (primary or secondary) per day of [start, end), in `tz`."""
        query = (
            select(ItemTopic.published_at)
            .join(Item, Item.id == ItemTopic.item_id)
            .where(
                ItemTopic.topic == topic,
                ItemTopic.published_at >= to_db(start),
                ItemTopic.published_at < to_db(end),
                Item.hidden.is_(False),
                Item.sponsored.is_(False),
            )
        )
        return self._per_day(query, tz)

    def search(self, query: str, limit: int = 20, offset: int = 0, newest_first: bool = False) -> SearchResults:
        """Items a reader may see matching every word of `query` in some form, best first, or
        newest first for a search as a feed (see `search`)."""
        with self._sessions() as session:
            return matching_items(session, query, limit, offset, newest_first)

    def data_version(self, now: datetime) -> Hashable:
        """A cheap fingerprint of everything readers' pages and feeds show, from indexed maxima
        only (no counts over items): it changes when items arrive or change, when any feed is
        fetched (feed health), when an editor acts or undoes, when a pin runs out, and when
        pruning removes the oldest item (it always does, unless an editor's kept item is the
        oldest; the next fetch of any feed changes it then)."""

        def scalar(query: Select) -> ColumnElement:
            return query.scalar_subquery()

        query = select(
            scalar(select(func.max(Item.id))),
            scalar(select(func.min(Item.id))),  # moves when retention prunes
            scalar(select(func.max(Item.updated_at))),  # indexed: in-place updates and reclassify
            scalar(select(func.count(Feed.id))),
            scalar(select(func.max(Feed.last_fetched_at))),
            scalar(select(func.max(EditorialAction.id))),
            scalar(select(func.count(EditorialAction.undone_at))),
            scalar(select(func.count(Story.id)).where(Story.pinned_until > to_db(now))),
        )
        with self._sessions() as session:
            return tuple(session.execute(query).one())

    def feeds_in_error(self) -> int:
        """Enabled feeds whose last fetch failed (for /metrics)."""
        query = select(func.count(Feed.id)).where(Feed.enabled.is_(True), Feed.consecutive_errors > 0)
        with self._sessions() as session:
            return session.scalar(query) or 0

    def items_per_topic(self) -> dict[str | None, int]:
        """Stored items by primary topic (None: no topic), counted on the topic index (for /metrics)."""
        with self._sessions() as session:
            return dict(session.execute(select(Item.topic, func.count()).group_by(Item.topic)).all())

    def topics_of_stories_touched_since(self, since: datetime) -> set[str]:
        """Every topic carried by an item of a story that gained or changed an item stored at or
        after `since`: the topic feeds those stories appear in (for WebSub)."""
        touched = select(Item.story_id).where(Item.updated_at >= to_db(since), Item.story_id.is_not(None))
        query = select(ItemTopic.topic).join(Item, Item.id == ItemTopic.item_id).where(Item.story_id.in_(touched)).distinct()
        with self._sessions() as session:
            return set(session.scalars(query))

    def _ranks(self, *conditions: ColumnElement[bool]) -> list[StoryRank]:
        """What ranks each visible story meeting `conditions`, read without its reports."""
        outlets = func.count(func.distinct(Feed.name))
        query = (
            select(Story.id, Story.topic, Story.first_published_at, Story.updated_at, outlets, Story.pinned_until)
            .join(Item, and_(Item.story_id == Story.id, Item.hidden.is_(False)))
            .join(Feed, Feed.id == Item.feed_id)
            .where(Story.hidden.is_(False), *conditions)
            .group_by(Story.id)
        )
        with self._sessions() as session:
            return [StoryRank(r[0], r[1], from_db(r[2]), from_db(r[3]), r[4], from_db(r[5])) for r in session.execute(query)]

    def _stories(self, query: Select) -> list[StoryView]:
        with self._sessions() as session:
            return [story_view(row) for row in session.scalars(query)]

    def _per_day(self, moments: Select, tz: ZoneInfo) -> dict[date, int]:
        with self._sessions() as session:
            return _count_days(session.scalars(moments), tz)


def _items() -> Select:
    """Items with their feed and topics, ready for `item_view`."""
    return select(Item).options(selectinload(Item.topics), selectinload(Item.feed))


def _visible_stories() -> Select:
    """Stories a reader may see: not hidden, with at least one visible report."""
    members = selectinload(Story.items)
    return (
        select(Story)
        .options(members.selectinload(Item.feed), members.selectinload(Item.topics))
        .where(Story.hidden.is_(False), Story.item_count > 0)
    )


def _has_topic(topic: str) -> ColumnElement[bool]:
    """Some member item of the story carries `topic`, primary or secondary. Written so that
    the database walks stories by time and probes each one's items (fast on SQLite and
    PostgreSQL alike; the join form makes SQLite rescan the topic's items for every story)."""
    tagged = exists().where(ItemTopic.item_id == Item.id, ItemTopic.topic == topic)
    return exists().where(Item.story_id == Story.id, tagged)


def _count_days(moments: Iterable[datetime], tz: ZoneInfo) -> dict[date, int]:
    return dict(Counter(from_db(moment).astimezone(tz).date() for moment in moments))


def _paged(
    session: Session,
    query: Select,
    time_col: InstrumentedAttribute,
    id_col: InstrumentedAttribute,
    limit: int,
    cursor: str | None,
) -> list:
    """One row more than `limit`, after the cursor's row: the extra one says a next page exists."""
    if cursor:
        moment, last_id = decode_cursor(cursor)
        query = query.where(or_(time_col < to_db(moment), and_(time_col == to_db(moment), id_col < last_id)))
    return list(session.scalars(query.order_by(time_col.desc(), id_col.desc()).limit(limit + 1)))


def _page(views: list[T], limit: int, key: Callable[[T], tuple[datetime, int]]) -> Page[T]:
    if len(views) <= limit:
        return Page(views, None)
    views = views[:limit]
    moment, last_id = key(views[-1])
    return Page(views, encode_cursor(moment, last_id))


def encode_cursor(moment: datetime, last_id: int) -> str:
    raw = f"{to_db(moment).isoformat()}|{last_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, last_id = raw.split("|")
        return from_db(datetime.fromisoformat(moment)), int(last_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("cursor is not one this service gave out") from exc
