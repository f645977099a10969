"""What storage hands out about items and stories: frozen views, built from ORM rows inside
the session that read them, so no caller ever holds a row or a session.

A leaf: the query side (`queries`, `search`) builds these; pages, feeds, the API, the digest
and the Atom builder only read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from aggregator.storage.db import from_db
from aggregator.storage.models import Item, Story

T = TypeVar("T")


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


class Ranked(Protocol):
    """What ranking a story reads (the digest's sections, top stories): a `StoryView`, or a
    `StoryRank` read without its reports."""

    id: int
    topic: str | None
    updated: datetime

    @property
    def outlet_count(self) -> int: ...

    def pinned(self, now: datetime) -> bool: ...


@dataclass(frozen=True)
class StoryRank:
    """What ranks a story (`Ranked`), read without its reports: the digest and top stories
    rank every candidate this way and read whole only those they show."""

    id: int
    topic: str | None
    first_published: datetime
    updated: datetime
    outlet_count: int  # outlets among its visible reports
    pinned_until: datetime | None = None

    def pinned(self, now: datetime) -> bool:
        return self.pinned_until is not None and self.pinned_until > now


@dataclass(frozen=True)
class StoryView:
    id: int
    title: str
    topic: str | None
    first_published: datetime
    updated: datetime
    items: tuple[ItemView, ...]
    pinned_until: datetime | None = None
    lead_id: int | None = None  # the report that leads (`pipeline.headline`); the oldest when not given

    def pinned(self, now: datetime) -> bool:
        return self.pinned_until is not None and self.pinned_until > now

    @property
    def lead(self) -> ItemView:
        return next((item for item in self.items if item.id == self.lead_id), self.items[0])

    @property
    def outlets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(item.feed_name for item in self.items))

    @property
    def outlet_count(self) -> int:
        return len(self.outlets)

    @property
    def others(self) -> tuple[ItemView, ...]:
        """Every report but the lead's, oldest first."""
        lead = self.lead
        return tuple(item for item in self.items if item is not lead)

    @property
    def image_url(self) -> str | None:
        """The story's picture, the one rule for pages and feeds: the lead report's, else the
        first other report's that has one; http(s) addresses only."""
        return next((item.image_url for item in (self.lead, *self.others) if _web_address(item.image_url)), None)

    def topics(self, known: Iterable[str]) -> tuple[str, ...]:
        """Every topic of `known` the story carries: its own first, then its reports' in order."""
        wanted = set(known)
        every = (self.topic, *(slug for item in self.items for slug in item.topics))
        return tuple(slug for slug in dict.fromkeys(every) if slug in wanted)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a newest-first list; `next_cursor` asks for the next (None: the last)."""

    rows: list[T]
    next_cursor: str | None


def _web_address(url: str | None) -> bool:
    parts = urlsplit((url or "").strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def item_view(row: Item) -> ItemView:
    """The view of an item row whose feed and topics are loaded."""
    return ItemView(
        id=row.id,
        feed_id=row.feed_id,
        feed_name=row.feed.name,
        title=row.title,
        url=row.url,
        summary=row.summary,
        content_html=row.content_html,
        image_url=row.image_url,
        published=from_db(row.published_at),
        updated=from_db(row.updated_at),
        topic=row.topic,
        topics=tuple(sorted((t.topic for t in row.topics), key=lambda slug: slug != row.topic)),
        story_id=row.story_id,
        categories=tuple(row.categories or ()),
        sponsored=row.sponsored,
        hidden=row.hidden,
        topic_locked=row.topic_locked,
        full_text=row.full_text if row.feed.publish == "full_text" else None,
    )


def story_view(row: Story) -> StoryView:
    """The view of a story row and its visible members, oldest report first."""
    members = sorted((m for m in row.items if not m.hidden), key=lambda m: (m.published_at, m.id))
    return StoryView(
        id=row.id,
        title=row.title,
        topic=row.topic,
        first_published=from_db(row.first_published_at),
        updated=from_db(row.updated_at),
        items=tuple(item_view(m) for m in members),
        pinned_until=from_db(row.pinned_until),
        lead_id=row.lead_item_id,
    )
