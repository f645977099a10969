"""Items and stories in storage: what is stored about a feed's incoming items, and the
writing of what was decided about them.

`ItemStore.stored_for` reads the snapshot a feed's decision is made against;
`ItemStore.ingest` writes the decision (a `FeedIntent`) in one transaction, so a feed's
items, their stories and the feed's new health and ETag land together or not at all (a
poll killed half-way is simply repeated by the next one). Writing new stories is serialised
between pollers by the story lock, held only for the write: everything costly was decided
before. Nothing here decides anything.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

import numpy as np
from sqlalchemy import Select, func, insert, select, text, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from aggregator import metrics
from aggregator.entities import (
    FeedIntent,
    ItemData,
    ItemUpdateIntent,
    NewItemIntent,
    StoredForUpdate,
    StoredItemRef,
    StoredText,
    TopicDecision,
)
from aggregator.pipeline.dedupe import plan_item_changes
from aggregator.pipeline.encoder import pack, unpack
from aggregator.pipeline.headline import lead_of
from aggregator.pipeline.text import DECISION_CHARS, decision_text
from aggregator.storage.db import from_db, to_db
from aggregator.storage.feeds import holder_of, write_feed_update
from aggregator.storage.models import Feed, Item, ItemTopic, Story

STORY_PLACEMENT_LOCK = 0x53746F72  # any constant shared by every poller
T = TypeVar("T")
# item id, story id, feed id, published, title, text stories are decided on, the encoder's vector
MemberRow = tuple[int, int, int, datetime, str, str, np.ndarray | None]
Revise = Callable[[FeedIntent, list[MemberRow]], FeedIntent]


class ItemStore:
    """The ingest side of storage: one read before deciding, one transaction to write."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def stored_for(self, feed_id: int, items: Sequence[ItemData], moved_to: str | None = None) -> StoredForUpdate:
        """What is stored about `items` (see `StoredForUpdate`), read in one session: the
        texts are those of the items whose content changed."""
        with self._sessions() as session:
            by_guid, by_url = stored_refs(session, feed_id, items)
            changed = [item_id for item_id, _ in plan_item_changes(feed_id, items, by_guid, by_url).updated]
            holder = holder_of(session, moved_to, feed_id) if moved_to else None
            return StoredForUpdate(by_guid, by_url, stored_texts(session, changed), holder)

    def reclassify(self, classify: Classify, now: datetime, batch: int = 500, on_batch: Callable[[int], None] | None = None) -> int:
        """Recompute the topics of every stored item an editor has not set (see `reclassify`)."""
        return reclassify(self._sessions, classify, now, batch, on_batch)

    def recent_members(self, since: datetime, after_id: int = 0) -> list[MemberRow]:
        with self._sessions() as session:
            return recent_members(session, since, after_id)

    def ingest(self, intent: FeedIntent, revise: Revise | None = None) -> float:
        """Write a feed's intent in one transaction; returns how long it held the story lock.

        An intent with items for stories takes the story lock first. If another poller stored
        items in stories after the ones the placements were decided against, `revise` is given
        them and returns the intent placed again; only then is it written."""
        locked_at = None
        with self._sessions.begin() as session:
            if intent.places_stories:
                lock_story_placement(session, intent.feed.feed_id)
                locked_at = time.perf_counter()
                if revise is not None and intent.stories_since is not None:
                    fresh = recent_members(session, intent.stories_since, intent.stories_seen)
                    intent = revise(intent, fresh) if fresh else intent
            add_items(session, intent.feed.feed_id, intent.new, intent.feed.fetched_at)
            for update in intent.updated:
                update_item(session, update, intent.feed.fetched_at)
            write_feed_update(session, intent.feed)
        held = time.perf_counter() - locked_at if locked_at is not None else 0.0
        if locked_at is not None:
            metrics.STORY_LOCK_SECONDS.observe(held)
        return held


# title, summary, categories, feed hint, the encoder's stored vector
Classify = Callable[[str, str, Sequence[str], str | None, np.ndarray | None], TopicDecision]


def stored_refs(session: Session, feed_id: int, items: Iterable[ItemData]) -> tuple[dict[str, StoredItemRef], dict[str, StoredItemRef]]:
    """Stored items sharing a guid (this feed) or a canonical URL (any feed) with `items`."""
    items = list(items)
    guids = [item.guid for item in items]
    urls = [item.url for item in items if item.url]
    by_guid: dict[str, StoredItemRef] = {}
    by_url: dict[str, StoredItemRef] = {}
    for chunk in _chunks(guids):
        for row in session.execute(_ref_query().where(Item.feed_id == feed_id, Item.guid.in_(chunk))):
            by_guid[row.guid] = StoredItemRef(*row)
    for chunk in _chunks(urls):
        for row in session.execute(_ref_query().where(Item.canonical_url.in_(chunk))):
            by_url.setdefault(row.canonical_url, StoredItemRef(*row))
    return by_guid, by_url


def add_items(session: Session, feed_id: int, placed: Iterable[NewItemIntent], now: datetime) -> None:
    """Insert a feed's new items, each in a new story unless its `story_id` names one to join
    (advertising stays out of stories altogether), then bring every touched story up to date.

    Written by bulk INSERTs, a few statements per feed, without ORM objects (building them
    cost more than the writing): the rows are not in the session afterwards, a later read
    loads them, and a touched story already loaded would not see its new values. The SQLite
    full-text index follows by its triggers."""
    placed = list(placed)
    starting = [new.item for new in placed if new.story_id is None and not new.sponsored]
    new_story_ids = iter(_inserted_ids(session, Story, [_new_story_values(item) for item in starting]))
    rows, scores = [], []
    for new in placed:
        story_id = None if new.sponsored else new.story_id if new.story_id is not None else next(new_story_ids)
        topic, confidence, applying = _topic_values(new.decision)
        rows.append(
            _item_values(new.item, now, new.item.full_text, new.search_lemmas)
            | {
                "feed_id": feed_id,
                "guid": new.item.guid,
                "story_id": story_id,
                "fetched_at": to_db(now),
                "sponsored": new.sponsored,
                "topic": topic,
                "topic_confidence": confidence,
                "vector": None if new.vector is None else pack(new.vector),
            }
        )
        scores.append(applying)
    links = [
        {"item_id": item_id, "topic": slug, "score": score, "published_at": row["published_at"]}
        for row, applying, item_id in zip(rows, scores, _inserted_ids(session, Item, rows), strict=True)
        for slug, score in applying.items()
    ]
    if links:
        session.execute(insert(ItemTopic.__table__), links)
    _refresh_stories(session, list(dict.fromkeys(row["story_id"] for row in rows if row["story_id"] is not None)))


def update_item(session: Session, update: ItemUpdateIntent, now: datetime) -> Item:
    """A changed item is updated in place; it keeps its id, story and first published time,
    and the topics an editor set."""
    row = session.get_one(Item, update.item_id)
    published = row.published_at
    for name, value in _item_values(update.item, now, update.item.full_text, update.search_lemmas).items():
        setattr(row, name, value)
    row.vector = None if update.vector is None else pack(update.vector)
    if not row.topic_locked:
        set_topics(row, update.decision)
    row.published_at = published
    for link in row.topics:
        link.published_at = published
    session.flush()
    if row.story is not None:
        refresh_story(row.story)
    return row


def set_topics(row: Item, decision: TopicDecision) -> None:
    row.topic, row.topic_confidence, wanted = _topic_values(decision)
    row.topics[:] = [link for link in row.topics if link.topic in wanted]
    have = {link.topic: link for link in row.topics}
    for slug, score in wanted.items():
        link = have.get(slug) or ItemTopic(topic=slug, score=score, published_at=row.published_at)
        link.score, link.published_at = score, row.published_at
        if slug not in have:
            row.topics.append(link)


def _topic_values(decision: TopicDecision) -> tuple[str | None, float, dict[str, float]]:
    """An item's primary topic, its confidence, and the score of every topic that applies."""
    if not decision.primary:
        return decision.primary, 0.0, {}
    return decision.primary, decision.confidence, {score.slug: score.score for score in decision.topics}


def _item_values(item: ItemData, now: datetime, full_text: str | None, search_lemmas: str) -> dict[str, object]:
    """The item's columns that follow its content, `full_text` being the article text it keeps."""
    return {
        "url": item.url,
        "canonical_url": item.url,
        "title": item.title,
        "summary": item.summary,
        "content_html": item.content_html,
        "image_url": item.image_url,
        "author": item.author,
        "categories": list(item.categories),
        "content_hash": item.content_hash,
        "published_at": to_db(item.published),
        "updated_at": to_db(now),
        "full_text": full_text,
        "search_lemmas": search_lemmas,
    }


def _new_story_values(item: ItemData) -> dict[str, object]:
    return {"title": item.title, "first_published_at": to_db(item.published), "updated_at": to_db(item.published), "item_count": 0}


def _inserted_ids(session: Session, model: type[Story | Item], rows: list[dict[str, object]]) -> list[int]:
    """Insert `rows`, returning their new ids in the same order. Into the table, not the ORM
    entity: the ORM's bulk layer would add half as much again for nothing we use."""
    if not rows:
        return []
    table = model.__table__
    return list(session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows))


class _Member(Protocol):
    id: int
    title: str
    published_at: datetime
    topic: str | None
    topic_confidence: float
    topic_locked: bool
    vector: bytes | None


def refresh_story(story: Story) -> None:
    """Derive a story's lead, title, topic, times and count from its visible members."""
    for name, value in _story_values([m for m in story.items if not m.hidden]).items():
        setattr(story, name, value)


def _refresh_stories(session: Session, story_ids: list[int]) -> None:
    """`refresh_story` for stories not loaded in the session: members read by a query, the
    results written by one bulk UPDATE."""
    members: dict[int, list[_Member]] = defaultdict(list)
    for chunk in _chunks(story_ids):
        query = select(
            Item.story_id, Item.id, Item.title, Item.published_at, Item.topic, Item.topic_confidence, Item.topic_locked, Item.vector
        ).where(Item.story_id.in_(chunk), Item.hidden.is_(False))
        for row in session.execute(query):
            members[row.story_id].append(row)
    if story_ids:
        session.execute(update(Story), [{"id": story_id, **_story_values(members[story_id])} for story_id in story_ids])


def _story_values(members: Sequence[_Member]) -> dict[str, object]:
    """A story's lead (`headline.lead_of`), title, topic, times and count from its visible
    members (just the count, 0, when it has none)."""
    members = sorted(members, key=lambda m: (m.published_at, m.id or 0))
    if not members:
        return {"item_count": 0}
    lead = members[lead_of([m.title for m in members], [unpack(m.vector) for m in members])]
    votes: dict[str, float] = defaultdict(float)
    for member in members:
        if member.topic:
            votes[member.topic] += 10.0 if member.topic_locked else max(member.topic_confidence, 0.01)
    return {
        "item_count": len(members),
        "lead_item_id": lead.id,
        "title": lead.title,
        "topic": max(votes, key=lambda t: (votes[t], t == lead.topic), default=None),
        "first_published_at": members[0].published_at,
        "updated_at": max(m.published_at for m in members),
    }


def recent_members(session: Session, since: datetime, after_id: int = 0) -> list[MemberRow]:
    """(item id, story id, feed id, published, title, text, vector) of the items in stories
    published since `since` and stored after item `after_id`, in the order they were stored;
    the text is the one stories are decided on (the article's head, else the summary)."""
    head = func.substr(Item.full_text, 1, DECISION_CHARS + 1)
    query = (
        select(Item.id, Item.story_id, Item.feed_id, Item.published_at, Item.title, Item.summary, head, Item.vector)
        .where(Item.published_at >= to_db(since), Item.story_id.is_not(None), Item.id > after_id)
        .order_by(Item.id)
    )
    return [(r[0], r[1], r[2], from_db(r[3]), r[4], decision_text(r[5], r[6]), unpack(r[7])) for r in session.execute(query)]


def stored_texts(session: Session, item_ids: Sequence[int]) -> dict[int, StoredText]:
    """What these items said when last written, with their article texts and encoder vectors."""
    found: dict[int, StoredText] = {}
    for chunk in _chunks(item_ids):
        query = select(Item.id, Item.title, Item.summary, Item.full_text, Item.vector).where(Item.id.in_(chunk))
        found.update((row.id, StoredText(row.title, row.summary, row.full_text, unpack(row.vector))) for row in session.execute(query))
    return found


def lock_story_placement(session: Session, feed_id: int) -> None:
    """Make this transaction the only one placing items into stories until it ends, so two
    pollers never start two stories for one event: an advisory lock on PostgreSQL; on SQLite,
    taking the write lock first (WAL readers are unaffected)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STORY_PLACEMENT_LOCK})
    else:
        session.execute(update(Feed).where(Feed.id == feed_id).values(claimed_by=Feed.claimed_by))


def _ref_query() -> Select:
    return select(Item.id, Item.feed_id, Item.guid, Item.canonical_url, Item.content_hash)


def _chunks(values: Sequence[T], size: int = 500) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def reclassify(
    sessions: sessionmaker[Session],
    classify: Classify,
    now: datetime,
    batch: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Recompute topics of every item not locked by an editor, in batches of `batch`: each
    batch is read, classified with no transaction open, then written in one transaction;
    stories follow their members, and an item whose topics change counts as updated at `now`
    (so cached pages and feeds are rebuilt). Returns how many items were looked at."""
    last_id, done = 0, 0
    while True:
        with sessions() as session:
            query = (
                select(Item.id, Item.title, Item.summary, Item.full_text, Item.categories, Feed.topic_hint, Item.vector)
                .join(Feed, Item.feed_id == Feed.id)
                .where(Item.id > last_id, Item.topic_locked.is_(False))
                .order_by(Item.id)
                .limit(batch)
            )
            rows = list(session.execute(query))
        if not rows:
            return done
        decisions = {
            row.id: classify(row.title, decision_text(row.summary, row.full_text), row.categories or (), row.topic_hint, unpack(row.vector))
            for row in rows
        }
        _write_topics(sessions, decisions, now)
        last_id, done = rows[-1].id, done + len(rows)
        if on_batch:
            on_batch(len(rows))


def _write_topics(sessions: sessionmaker[Session], decisions: dict[int, TopicDecision], now: datetime) -> None:
    """Set the decided topics in one transaction, except where an editor set one meanwhile."""
    with sessions.begin() as session:
        query = select(Item).options(selectinload(Item.topics)).where(Item.id.in_(list(decisions)), Item.topic_locked.is_(False))
        stories = set()
        for row in session.scalars(query):
            before = (row.topic, sorted(t.topic for t in row.topics))
            set_topics(row, decisions[row.id])
            if (row.topic, sorted(t.topic for t in row.topics)) != before:
                row.updated_at = to_db(now)
            if row.story is not None:
                stories.add(row.story)
        for story in stories:
            refresh_story(story)
