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

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session, sessionmaker

from aggregator.storage.db import to_db
from aggregator.storage.models import Item, ItemTopic, Story


@dataclass(frozen=True)
class Pruned:
    stories: int
    items: int


class Retention:
    """Pruning old stories (the facade's `Storage.retention`), one short transaction per batch."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def prune(self, cutoff: datetime, batch: int = 500) -> Pruned:
        """Delete stories last reported before `cutoff` with their items, then loose items
        published before it, `batch` at a time; editors' corrected items and their stories stay."""
        stories = items = 0
        while (done := self._prune_stories(cutoff, batch)) != (0, 0):
            stories, items = stories + done[0], items + done[1]
        while done_items := self._prune_loose_items(cutoff, batch):
            items += done_items
        return Pruned(stories, items)

    def _prune_stories(self, cutoff: datetime, batch: int) -> tuple[int, int]:
        kept = exists().where(Item.story_id == Story.id, Item.topic_locked.is_(True))
        with self._sessions.begin() as session:
            story_ids = list(session.scalars(select(Story.id).where(Story.updated_at < to_db(cutoff), ~kept).limit(batch)))
            if not story_ids:
                return 0, 0
            item_ids = list(session.scalars(select(Item.id).where(Item.story_id.in_(story_ids))))
            _delete_items(session, item_ids)
            session.execute(delete(Story).where(Story.id.in_(story_ids)))
            return len(story_ids), len(item_ids)

    def _prune_loose_items(self, cutoff: datetime, batch: int) -> int:
        with self._sessions.begin() as session:
            query = select(Item.id).where(Item.story_id.is_(None), Item.published_at < to_db(cutoff), Item.topic_locked.is_(False))
            item_ids = list(session.scalars(query.limit(batch)))
            _delete_items(session, item_ids)
            return len(item_ids)


def _delete_items(session: Session, item_ids: list[int]) -> None:
    if item_ids:
        session.execute(delete(ItemTopic).where(ItemTopic.item_id.in_(item_ids)))
        session.execute(delete(Item).where(Item.id.in_(item_ids)))
