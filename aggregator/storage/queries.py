"""Reading items and stories for pages, feeds and the API: the query side of storage.

Lists are newest first and paged by an opaque cursor (the last row's time and id), so a
page never repeats or skips a row when new items arrive between requests.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from aggregator.errors import InvalidRequest, NotFound
from aggregator.storage.db import from_db, to_db
from aggregator.storage.models import EditorialAction, Feed, Item, ItemTopic, Story


@dataclass(frozen=True)
class ItemView:
    id: int
    feed_id: int
    feed_name: str
    title: str
    url: str
    summary: str
    content_html: str
    image_url: str | None
    published: datetime
    updated: datetime
    topic: str | None
    topics: tuple[str, ...]
    story_id: int | None
    categories: tuple[str, ...]
    sponsored: bool = False
    hidden: bool = False
    topic_locked: bool = False
    full_text: str | None = None  # the article's text, only where its source allows republishing it


@dataclass(frozen=True)
class StoryView:
    id: int
    title: str
    topic: str | None
    first_published: datetime
    updated: datetime
    items: tuple[ItemView, ...]
    pinned_until: datetime | None = None

    def pinned(self, now: datetime) -> bool:
        return self.pinned_until is not None and self.pinned_until > now

    @property
    def lead(self) -> ItemView:
        return self.items[0]

    @property
    def outlets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(item.feed_name for item in self.items))


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None


def items_page(
    session: Session, limit: int, cursor: str | None = None, topic: str | None = None,
    feed_id: int | None = None, since: datetime | None = None, until: datetime | None = None,
) -> Page[ItemView]:
    query = select(Item).options(selectinload(Item.topics), selectinload(Item.feed)).where(Item.hidden.is_(False))
    if topic:
        query = query.where(exists().where(ItemTopic.item_id == Item.id, ItemTopic.topic == topic))
    if feed_id is not None:
        query = query.where(Item.feed_id == feed_id)
    if since is not None:
        query = query.where(Item.published_at >= to_db(since))
    if until is not None:
        query = query.where(Item.published_at < to_db(until))
    rows = _paged(session, query, Item.published_at, Item.id, limit, cursor)
    return _page([item_view(row) for row in rows], limit, lambda v: (v.published, v.id))


def stories_page(session: Session, limit: int, cursor: str | None = None, topic: str | None = None) -> Page[StoryView]:
    query = _visible_stories()
    if topic:
        query = query.where(_has_topic(topic))
    rows = _paged(session, query, Story.updated_at, Story.id, limit, cursor)
    return _page([story_view(row) for row in rows], limit, lambda v: (v.updated, v.id))


def stories_first_published(session: Session, start: datetime, end: datetime) -> list[StoryView]:
    """Stories whose first report falls in [start, end): one day's digest."""
    query = (
        _visible_stories()
        .where(Story.first_published_at >= to_db(start), Story.first_published_at < to_db(end))
        .order_by(Story.updated_at.desc(), Story.id.desc())
    )
    return [story_view(row) for row in session.scalars(query)]


def story(session: Session, story_id: int) -> StoryView:
    row = session.scalar(_visible_stories().where(Story.id == story_id))
    if row is None:
        raise NotFound(f"no story {story_id}")
    return story_view(row)


def topic_stories_page(session: Session, topic: str, limit: int, cursor: str | None = None) -> Page[StoryView]:
    """Like `stories_page(topic=...)`, newest first, with the topic test written so that the
    database walks stories by time and probes each one's items (fast on SQLite and PostgreSQL
    alike; the join form makes SQLite rescan the topic's items for every story)."""
    rows = _paged(session, _visible_stories().where(_has_topic(topic)), Story.updated_at, Story.id, limit, cursor)
    return _page([story_view(row) for row in rows], limit, lambda v: (v.updated, v.id))


def pinned_stories(session: Session, now: datetime, topic: str | None = None) -> list[StoryView]:
    """Stories an editor has pinned until a moment still ahead, most recently updated first."""
    query = _visible_stories().where(Story.pinned_until > to_db(now))
    if topic:
        query = query.where(_has_topic(topic))
    return [story_view(row) for row in session.scalars(query.order_by(Story.updated_at.desc(), Story.id.desc()))]


def _has_topic(topic: str):  # noqa: ANN202 - a SQLAlchemy clause
    """Some member item of the story carries `topic`, primary or secondary."""
    tagged = exists().where(ItemTopic.item_id == Item.id, ItemTopic.topic == topic)
    return exists().where(Item.story_id == Story.id, tagged)


def stories_per_day(session: Session, start: datetime, end: datetime, tz: ZoneInfo) -> dict[date, int]:
    """How many visible stories were first reported on each day of [start, end), in `tz`:
    the days a digest has something to show."""
    query = select(Story.first_published_at).where(
        Story.hidden.is_(False), Story.item_count > 0,
        Story.first_published_at >= to_db(start), Story.first_published_at < to_db(end),
    )
    return _per_day(session.scalars(query), tz)


def topic_items_per_day(session: Session, topic: str, start: datetime, end: datetime, tz: ZoneInfo) -> dict[date, int]:
    """Visible, non-advertising items carrying `topic` (primary or secondary) per day of [start, end), in `tz`."""
    query = (
        select(ItemTopic.published_at)
        .join(Item, Item.id == ItemTopic.item_id)
        .where(
            ItemTopic.topic == topic, ItemTopic.published_at >= to_db(start), ItemTopic.published_at < to_db(end),
            Item.hidden.is_(False), Item.sponsored.is_(False),
        )
    )
    return _per_day(session.scalars(query), tz)


def data_version(session: Session, now: datetime) -> tuple:
    """A cheap fingerprint of everything readers' pages and feeds show, from indexed maxima
    only (no counts over items): it changes when items arrive or change, when any feed is
    fetched (feed health), when an editor acts or undoes, when a pin runs out, and when
    pruning removes the oldest item (it always does, unless an editor's kept item is the
    oldest; the next fetch of any feed changes it then)."""
    def scalar(column):  # noqa: ANN001, ANN202 - SQLAlchemy expressions
        return column.scalar_subquery()

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
    return tuple(session.execute(query).one())


def feeds_in_error(session: Session) -> int:
    """Enabled feeds whose last fetch failed (for /metrics)."""
    return session.scalar(select(func.count(Feed.id)).where(Feed.enabled.is_(True), Feed.consecutive_errors > 0)) or 0


def items_per_topic(session: Session) -> dict[str | None, int]:
    """Stored items by primary topic (None: no topic), counted on the topic index (for /metrics)."""
    return {topic: count for topic, count in session.execute(select(Item.topic, func.count()).group_by(Item.topic))}


def topics_of_stories_touched_since(session: Session, since: datetime) -> set[str]:
    """Every topic carried by an item of a story that gained or changed an item stored at or
    after `since`: the topic feeds those stories appear in (for WebSub)."""
    touched = select(Item.story_id).where(Item.updated_at >= to_db(since), Item.story_id.is_not(None))
    query = select(ItemTopic.topic).join(Item, Item.id == ItemTopic.item_id).where(Item.story_id.in_(touched)).distinct()
    return set(session.scalars(query))


def _per_day(moments: Iterable[datetime], tz: ZoneInfo) -> dict[date, int]:
    return dict(Counter(from_db(moment).astimezone(tz).date() for moment in moments))


def item_for_explanation(session: Session, item_id: int) -> tuple[ItemView, str | None]:
    """An item (hidden ones too) and its feed's topic hint."""
    row = session.get(Item, item_id, options=[selectinload(Item.feed), selectinload(Item.topics)])
    if row is None:
        raise NotFound(f"no item {item_id}")
    return item_view(row), row.feed.topic_hint


def _visible_stories() -> Select:
    """Stories a reader may see: not hidden, with at least one visible report."""
    members = selectinload(Story.items)
    return (
        select(Story)
        .options(members.selectinload(Item.feed), members.selectinload(Item.topics))
        .where(Story.hidden.is_(False), Story.item_count > 0)
    )


def item_view(row: Item) -> ItemView:
    return ItemView(
        id=row.id, feed_id=row.feed_id, feed_name=row.feed.name, title=row.title, url=row.url, summary=row.summary,
        content_html=row.content_html, image_url=row.image_url, published=from_db(row.published_at),
        updated=from_db(row.updated_at), topic=row.topic,
        topics=tuple(sorted((t.topic for t in row.topics), key=lambda slug: slug != row.topic)),
        story_id=row.story_id, categories=tuple(row.categories or ()), sponsored=row.sponsored,
        hidden=row.hidden, topic_locked=row.topic_locked,
        full_text=row.full_text if row.feed.publish == "full_text" else None,
    )


def story_view(row: Story) -> StoryView:
    members = sorted((m for m in row.items if not m.hidden), key=lambda m: (m.published_at, m.id))
    return StoryView(
        id=row.id, title=row.title, topic=row.topic, first_published=from_db(row.first_published_at),
        updated=from_db(row.updated_at), items=tuple(item_view(m) for m in members),
        pinned_until=from_db(row.pinned_until),
    )


def _paged(session: Session, query: Select, time_col, id_col, limit: int, cursor: str | None) -> list:  # noqa: ANN001
    if cursor:
        moment, last_id = decode_cursor(cursor)
        query = query.where(or_(time_col < to_db(moment), and_(time_col == to_db(moment), id_col < last_id)))
    return list(session.scalars(query.order_by(time_col.desc(), id_col.desc()).limit(limit + 1)))


def _page(views: list[T], limit: int, key) -> Page[T]:  # noqa: ANN001
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
