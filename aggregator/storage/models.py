"""Database tables as SQLAlchemy 2 typed models.

Times are stored as naive UTC (SQLite has no time zones); `storage` converts at its edge.
Indexes follow the queries of the pages and feeds: items by published time, by story and by
feed; topics by (topic, published); stories by last update; feeds by next check.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)  # where it is fetched from (moves on 301/308)
    config_url: Mapped[str | None] = mapped_column(String(2000))  # as written in config.toml
    name: Mapped[str] = mapped_column(String(300))
    title: Mapped[str | None] = mapped_column(String(500))
    site_url: Mapped[str | None] = mapped_column(String(2000))
    from_config: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    topic_hint: Mapped[str | None] = mapped_column(String(64))
    interval_minutes: Mapped[int | None] = mapped_column(Integer)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    body_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(64), default="new")
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    last_fetched_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    claimed_until: Mapped[datetime | None]  # a poller's lease: nobody else fetches it until then
    claimed_by: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    # What kind of source it is, from config.toml (NULL, as for feeds stored before these existed: a plain feed).
    kind: Mapped[str | None] = mapped_column(String(16))  # "feed", "html" (a news-list page) or "telegram" (a channel)
    selectors: Mapped[dict | None] = mapped_column(JSON)  # [feeds.selectors] of an "html" source
    full_text: Mapped[bool | None] = mapped_column(Boolean)  # fetch each new item's article page for its text
    publish: Mapped[str | None] = mapped_column(String(16))  # "summary" or "full_text": what curated Atom offers
    image_url: Mapped[str | None] = mapped_column(String(2000))  # the source's picture: a channel's avatar, a feed's logo

    items: Mapped[list[Item]] = relationship(back_populates="feed", passive_deletes=True)


class Story(Base):
    __tablename__ = "stories"
    __table_args__ = (Index("ix_stories_topic_updated", "topic", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(64))
    lead_item_id: Mapped[int | None] = mapped_column(Integer)
    first_published_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(index=True)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned_until: Mapped[datetime | None] = mapped_column(index=True)

    items: Mapped[list[Item]] = relationship(back_populates="story", order_by="Item.published_at")


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("feed_id", "guid", name="uq_items_feed_guid"),
        Index("ix_items_published", "published_at", "id"),
        Index("ix_items_topic_published", "topic", "published_at"),
        Index("ix_items_feed_published", "feed_id", "published_at"),
        Index("ix_items_updated", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"), index=True)
    guid: Mapped[str] = mapped_column(String(2000))
    url: Mapped[str] = mapped_column(String(2000))
    canonical_url: Mapped[str] = mapped_column(String(2000), index=True)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[str] = mapped_column(Text, default="")
    full_text: Mapped[str | None] = mapped_column(Text)  # the article's main text (sources with full_text = true)
    image_url: Mapped[str | None] = mapped_column(String(2000))
    author: Mapped[str | None] = mapped_column(String(300))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    content_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime]
    fetched_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    topic: Mapped[str | None] = mapped_column(String(64))
    topic_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    search_lemmas: Mapped[str] = mapped_column(Text, default="")
    sponsored: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    topic_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)  # the sentence encoder's float16 unit vector (pipeline/encoder)

    feed: Mapped[Feed] = relationship(back_populates="items")
    story: Mapped[Story | None] = relationship(back_populates="items")
    topics: Mapped[list[ItemTopic]] = relationship(back_populates="item", cascade="all, delete-orphan", passive_deletes=True)


class ItemTopic(Base):
    """Every topic that applies to an item (the primary one included), for topic feeds."""

    __tablename__ = "item_topics"
    __table_args__ = (Index("ix_item_topics_topic_published", "topic", "published_at"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    published_at: Mapped[datetime]

    item: Mapped[Item] = relationship(back_populates="topics")


class EditorialAction(Base):
    """One correction by a curator: who, when, what, and the state before, so it can be undone."""

    __tablename__ = "editorial_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    who: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"), index=True)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None] = mapped_column(String(100))
