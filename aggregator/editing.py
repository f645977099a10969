"""Editorial corrections as the admin page and the API ask for them: one entry point that
checks the request and hands it to `Storage.editorial`, which applies and records it in a
transaction of its own and returns the recorded action."""

from __future__ import annotations

from datetime import timedelta

from aggregator.errors import InvalidRequest
from aggregator.service import Service
from aggregator.storage.editorial import ACTIONS, ActionView

PIN_FOR = timedelta(days=1)


def apply(
    service: Service,
    who: str,
    action: str,
    item_id: int | None = None,
    story_id: int | None = None,
    topic: str | None = None,
) -> ActionView:
    now, editorial = service.clock(), service.storage.editorial
    match action:
        case "set_topic":
            if topic not in service.topic_titles:
                raise InvalidRequest(f"unknown topic {topic!r}")
            return editorial.set_topic(_need(item_id, "item_id"), topic, who, now)
        case "hide_item" | "show_item":
            return editorial.set_item_hidden(_need(item_id, "item_id"), action == "hide_item", who, now)
        case "hide_story" | "show_story":
            return editorial.set_story_hidden(_need(story_id, "story_id"), action == "hide_story", who, now)
        case "pin_story" | "unpin_story":
            until = now + PIN_FOR if action == "pin_story" else None
            return editorial.pin_story(_need(story_id, "story_id"), until, who, now)
        case "move_item":
            return editorial.move_item(_need(item_id, "item_id"), _need(story_id, "story_id"), who, now)
        case "split_item":
            return editorial.split_item(_need(item_id, "item_id"), who, now)
    raise InvalidRequest(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")


def undo(service: Service, who: str, action_id: int) -> ActionView:
    return service.storage.editorial.undo(action_id, who, service.clock())


def _need(value: int | None, name: str) -> int:
    if value is None:
        raise InvalidRequest(f"{name} is required for this action")
    return value
