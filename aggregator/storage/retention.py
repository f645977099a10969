"""Retention: old stories and their items are deleted in small batches, each its own short
transaction, so readers and pollers never wait long.

The policy: a story goes when its last report is older than the cut-off (never younger than
what the curated feeds and the digest feed still show); its items go with it. Items outside
stories (advertising) go by their own publication time. Items an editor gave a topic are
kept, with their story, because they are the classifier's training data. The editorial log
keeps its records; their links to deleted items and stories become empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, exists, select

from aggregator.storage.db import to_db
from aggregator.storage.models import Item, ItemTopic, Story

if TYPE_CHECKING:
    from aggregator.storage import Storage


@dataclass(frozen=True)
class Pruned:
    stories: int
    items: int


def prune(storage: Storage, cutoff: datetime, batch: int = 500) -> Pruned:
    stories = items = 0
    while (done := _prune_stories(storage, cutoff, batch)) != (0, 0):
        stories, items = stories + done[0], items + done[1]
    while done_items := _prune_loose_items(storage, cutoff, batch):
        items += done_items
    return Pruned(stories, items)


def _prune_stories(storage: Storage, cutoff: datetime, batch: int) -> tuple[int, int]:
    kept = exists().where(Item.story_id == Story.id, Item.topic_locked.is_(True))
    with storage.transaction() as session:
        story_ids = list(session.scalars(select(Story.id).where(Story.updated_at < to_db(cutoff), ~kept).limit(batch)))
        if not story_ids:
            return 0, 0
        item_ids = list(session.scalars(select(Item.id).where(Item.story_id.in_(story_ids))))
        _delete_items(session, item_ids)
        session.execute(delete(Story).where(Story.id.in_(story_ids)))
        return len(story_ids), len(item_ids)


def _prune_loose_items(storage: Storage, cutoff: datetime, batch: int) -> int:
    with storage.transaction() as session:
        query = select(Item.id).where(Item.story_id.is_(None), Item.published_at < to_db(cutoff), Item.topic_locked.is_(False))
        item_ids = list(session.scalars(query.limit(batch)))
        _delete_items(session, item_ids)
        return len(item_ids)


def _delete_items(session, item_ids: list[int]) -> None:  # noqa: ANN001 - a Session
    if item_ids:
        session.execute(delete(ItemTopic).where(ItemTopic.item_id.in_(item_ids)))
        session.execute(delete(Item).where(Item.id.in_(item_ids)))
