"""Editorial corrections: set a topic, hide, pin, move or split; each one recorded and undoable.

Every action is written to `editorial_actions` with who did it, when, and the state it
replaced, in the same transaction as its effect. Undo puts that state back and marks the
action undone; it never deletes the record. Topic corrections also lock the item's topic
so `reclassify` keeps it, and they become training examples at the next fit. `Editorial`
(the facade's `Storage.editorial`) opens each transaction; checking what an editor asked
for is `aggregator.editing`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from aggregator.entities import TopicDecision, TopicScore
from aggregator.errors import InvalidRequest, NotFound
from aggregator.storage.db import from_db, to_db
from aggregator.storage.items import refresh_story, set_topics
from aggregator.storage.models import EditorialAction, Item, Story

ACTIONS = ("set_topic", "hide_item", "show_item", "hide_story", "show_story", "pin_story", "unpin_story", "move_item", "split_item")


@dataclass(frozen=True)
class ActionView:
    id: int
    at: datetime
    who: str
    action: str
    item_id: int | None
    story_id: int | None
    details: dict
    undone_at: datetime | None


@dataclass(frozen=True)
class Correction:
    """An editor's topic for an item: a training example for the classifier."""

    title: str
    summary: str
    topic: str


class Editorial:
    """Editors' corrections and their log (the facade's `Storage.editorial`): each correction
    is applied and recorded in a transaction of its own."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def set_topic(self, item_id: int, topic: str, who: str, now: datetime) -> ActionView:
        """Give the item `topic` as its primary one and lock it against `reclassify`."""
        with self._sessions.begin() as session:
            row = _item(session, item_id)
            before = {"topic": row.topic, "topics": [[t.topic, t.score] for t in row.topics], "locked": row.topic_locked}
            others = tuple(TopicScore(t.topic, t.score) for t in row.topics if t.topic != topic)
            set_topics(row, TopicDecision(primary=topic, topics=(TopicScore(topic, 1.0), *others)))
            row.topic_locked = True
            _refresh(row.story)
            return _record(session, "set_topic", who, now, item=row, before=before, after={"topic": topic})

    def set_item_hidden(self, item_id: int, hidden: bool, who: str, now: datetime) -> ActionView:
        with self._sessions.begin() as session:
            row = _item(session, item_id)
            before, row.hidden = {"hidden": row.hidden}, hidden
            _refresh(row.story)
            return _record(session, "hide_item" if hidden else "show_item", who, now, item=row, before=before)

    def set_story_hidden(self, story_id: int, hidden: bool, who: str, now: datetime) -> ActionView:
        with self._sessions.begin() as session:
            story = _story(session, story_id)
            before, story.hidden = {"hidden": story.hidden}, hidden
            return _record(session, "hide_story" if hidden else "show_story", who, now, story=story, before=before)

    def pin_story(self, story_id: int, until: datetime | None, who: str, now: datetime) -> ActionView:
        """Pin at the top of its topic until `until`; None unpins."""
        with self._sessions.begin() as session:
            story = _story(session, story_id)
            before = {"pinned_until": _iso(story.pinned_until)}
            story.pinned_until = to_db(until) if until else None
            return _record(
                session,
                "pin_story" if until else "unpin_story",
                who,
                now,
                story=story,
                before=before,
                after={"pinned_until": _iso(story.pinned_until)},
            )

    def move_item(self, item_id: int, story_id: int, who: str, now: datetime) -> ActionView:
        with self._sessions.begin() as session:
            row, target = _item(session, item_id), _story(session, story_id)
            if row.sponsored:
                raise InvalidRequest("advertising stays out of stories")
            old = row.story
            _place(row, target)
            return _record(session, "move_item", who, now, item=row, story=target, before={"story_id": old.id if old else None})

    def split_item(self, item_id: int, who: str, now: datetime) -> ActionView:
        """Take the item out of its story into a story of its own."""
        with self._sessions.begin() as session:
            row = _item(session, item_id)
            old = row.story
            story = Story(title=row.title, first_published_at=row.published_at, updated_at=row.published_at, item_count=0)
            session.add(story)
            _place(row, story)
            session.flush()
            return _record(session, "split_item", who, now, item=row, story=story, before={"story_id": old.id if old else None})

    def undo(self, action_id: int, who: str, now: datetime) -> ActionView:
        """Put back the state `action_id` replaced and mark it undone (the record stays)."""
        with self._sessions.begin() as session:
            action = session.get(EditorialAction, action_id)
            if action is None:
                raise NotFound(f"no editorial action {action_id}")
            if action.undone_at is not None:
                raise InvalidRequest(f"action {action_id} is already undone")
            _UNDO[action.action](session, action, action.details.get("before", {}))
            action.undone_at, action.undone_by = to_db(now), who
            return _view(action)

    def history(self, limit: int = 100, item_id: int | None = None) -> list[ActionView]:
        """The latest actions first, optionally those on one item."""
        query = select(EditorialAction).order_by(EditorialAction.id.desc()).limit(limit)
        if item_id is not None:
            query = query.where(EditorialAction.item_id == item_id)
        with self._sessions() as session:
            return [_view(action) for action in session.scalars(query)]

    def corrections(self) -> list[Correction]:
        """The topic each corrected item ended with: the classifier's training examples."""
        with self._sessions() as session:
            return corrections(session)


def corrections(session: Session) -> list[Correction]:
    """The topic each corrected item ended with (its latest standing correction)."""
    query = select(Item.title, Item.summary, Item.topic).where(Item.topic_locked.is_(True), Item.topic.is_not(None)).order_by(Item.id)
    return [Correction(*row) for row in session.execute(query)]


def _undo_topic(session: Session, action: EditorialAction, before: dict) -> None:
    row = _item(session, action.item_id)
    scores = tuple(TopicScore(slug, score) for slug, score in before.get("topics", []))
    set_topics(row, TopicDecision(primary=before.get("topic"), topics=scores))
    row.topic_locked = bool(before.get("locked"))
    _refresh(row.story)


def _undo_item_hidden(session: Session, action: EditorialAction, before: dict) -> None:
    row = _item(session, action.item_id)
    row.hidden = bool(before.get("hidden"))
    _refresh(row.story)


def _undo_story_hidden(session: Session, action: EditorialAction, before: dict) -> None:
    _story(session, action.story_id).hidden = bool(before.get("hidden"))


def _undo_pin(session: Session, action: EditorialAction, before: dict) -> None:
    pinned = before.get("pinned_until")
    _story(session, action.story_id).pinned_until = datetime.fromisoformat(pinned) if pinned else None


def _undo_move(session: Session, action: EditorialAction, before: dict) -> None:
    row = _item(session, action.item_id)
    if before.get("story_id") is not None:
        _place(row, _story(session, before["story_id"]))


_UNDO = {
    "set_topic": _undo_topic,
    "hide_item": _undo_item_hidden,
    "show_item": _undo_item_hidden,
    "hide_story": _undo_story_hidden,
    "show_story": _undo_story_hidden,
    "pin_story": _undo_pin,
    "unpin_story": _undo_pin,
    "move_item": _undo_move,
    "split_item": _undo_move,
}


def _place(row: Item, story: Story) -> None:
    old = row.story
    row.story = story
    _refresh(story)
    if old is not None and old is not story:
        _refresh(old)


def _refresh(story: Story | None) -> None:
    if story is not None:
        refresh_story(story)


def _item(session: Session, item_id: int | None) -> Item:
    row = session.get(Item, item_id) if item_id is not None else None
    if row is None:
        raise NotFound(f"no item {item_id}")
    return row


def _story(session: Session, story_id: int | None) -> Story:
    story = session.get(Story, story_id) if story_id is not None else None
    if story is None:
        raise NotFound(f"no story {story_id}")
    return story


def _record(
    session: Session,
    action: str,
    who: str,
    now: datetime,
    item: Item | None = None,
    story: Story | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> ActionView:
    story = story or (item.story if item is not None else None)
    row = EditorialAction(
        at=to_db(now),
        who=who,
        action=action,
        item_id=item.id if item else None,
        story_id=story.id if story else None,
        details={"before": before or {}, "after": after or {}},
    )
    session.add(row)
    session.flush()
    return _view(row)


def _view(row: EditorialAction) -> ActionView:
    return ActionView(row.id, from_db(row.at), row.who, row.action, row.item_id, row.story_id, dict(row.details), from_db(row.undone_at))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
