"""Editorial API for scripts and tools: bearer token only (no cookies, so no CSRF), JSON in
and out. `POST /api/admin/actions` applies a correction; `.../undo` reverts one."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from aggregator import editing
from aggregator.errors import InvalidRequest
from aggregator.storage.editorial import ActionView
from aggregator.web.auth import csrf, token_required
from aggregator.web.current import service

bp = Blueprint("admin_api", __name__, url_prefix="/api/admin")
csrf.exempt(bp)


@bp.post("/actions")
@token_required
def create_action(editor: str) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("action"), str):
        raise InvalidRequest('send JSON like {"action": "set_topic", "item_id": 1, "topic": "sport"}')
    done = editing.apply(
        service(),
        editor,
        body["action"],
        item_id=_id(body, "item_id"),
        story_id=_id(body, "story_id"),
        topic=body.get("topic"),
    )
    return {"action": action_json(done)}, 201


@bp.post("/actions/<int:action_id>/undo")
@token_required
def undo_action(editor: str, action_id: int) -> ResponseReturnValue:
    return {"action": action_json(editing.undo(service(), editor, action_id))}


@bp.get("/actions")
@token_required
def list_actions(editor: str) -> ResponseReturnValue:
    return {"actions": [action_json(a) for a in service().storage.editorial.history(limit=200)]}


def action_json(action: ActionView) -> dict:
    data = asdict(action)
    data["at"] = action.at.isoformat()
    data["undone_at"] = action.undone_at.isoformat() if action.undone_at else None
    return data


def _id(body: dict, key: str) -> int | None:
    value = body.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise InvalidRequest(f"{key} must be a whole number")
