"""JSON API: items, stories, topics and feeds, in the shapes its users rely on (the public contract: these field names are fixed).

Items, stories and topics are public reads of the data alone: like the pages, each answer is
rendered once per data version and then served from the page cache with ETag and 304
(`caching`), so a client polling the API costs almost nothing between polls. Feeds are not:
their health counts the items of the last seven days back from this moment."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue

from aggregator.errors import InvalidRequest
from aggregator.pipeline.classify import TopicInput
from aggregator.storage import FeedView
from aggregator.storage.views import ItemView, StoryView
from aggregator.web.caching import conditional
from aggregator.web.current import service
from aggregator.web.formatting import safe_url

bp = Blueprint("api", __name__, url_prefix="/api")
DEFAULT_LIMIT, MAX_LIMIT = 50, 500


@bp.get("/items")
def items() -> ResponseReturnValue:
    svc = service()
    topic = request.args.get("topic") or None
    if topic and topic not in svc.topic_titles:
        raise InvalidRequest(f"unknown topic {topic!r}")
    page = svc.storage.reads.items_page(
        _limit(),
        request.args.get("cursor") or None,
        topic=topic,
        feed_id=_int_arg("feed"),
        since=_time_arg("since"),
        until=_time_arg("until"),
    )
    return _cached({"items": [item_json(item) for item in page.rows], "next_cursor": page.next_cursor})


@bp.get("/items/<int:item_id>/explain")
def explain(item_id: int) -> ResponseReturnValue:
    """Why the item has its topic: rules, hints, the strongest model terms and what its meaning added."""
    svc = service()
    item, feed_topic, vector = svc.storage.reads.item_for_explanation(item_id)
    why = svc.classifier.explain(TopicInput(item.title, item.summary, item.categories, feed_topic, vector=vector))
    return {"item": item_json(item), "set_by_editor": item.topic_locked, "explanation": why}


@bp.get("/stories")
def stories() -> ResponseReturnValue:
    page = service().storage.reads.stories_page(_limit(), request.args.get("cursor") or None, topic=request.args.get("topic") or None)
    return _cached({"stories": [story_json(story) for story in page.rows], "next_cursor": page.next_cursor})


@bp.get("/topics")
def topics() -> ResponseReturnValue:
    return _cached(
        {"topics": [{"slug": slug, "title": title, "feed": f"/feeds/{slug}.atom"} for slug, title in service().topic_titles.items()]}
    )


@bp.get("/feeds")
def feeds() -> ResponseReturnValue:
    svc = service()
    return {"feeds": [feed_json(feed) for feed in svc.storage.feeds.list(svc.clock())]}


def _cached(payload: dict) -> Response:
    """Flask's own JSON answer, through the page cache."""
    return conditional(current_app.json.response(payload).get_data(), "application/json")


def item_json(item: ItemView) -> dict:
    return {
        "id": item.id,
        "title": item.title,
        "url": item.url,
        "summary": item.summary,
        "published": item.published.isoformat(),
        "updated": item.updated.isoformat(),
        "feed": {"id": item.feed_id, "title": item.feed_name},
        "topic": item.topic,
        "topics": list(item.topics),
        "story_id": item.story_id,
        "image": item.image_url,
        "categories": list(item.categories),
        "sponsored": item.sponsored,
    }


def story_json(story: StoryView) -> dict:
    return {
        "id": story.id,
        "title": story.title,
        "topic": story.topic,
        "first_published": story.first_published.isoformat(),
        "updated": story.updated.isoformat(),
        "outlets": list(story.outlets),
        "items": [item_json(i) for i in story.items],
    }


def feed_json(feed: FeedView) -> dict:
    return {
        "id": feed.id,
        "url": feed.url,
        "title": feed.title or feed.name,
        "name": feed.name,
        "status": feed.status,
        "last_error": feed.last_error,
        "last_fetched": _iso(feed.last_fetched),
        "last_success": _iso(feed.last_success),
        "next_check": _iso(feed.next_check),
        "consecutive_errors": feed.consecutive_errors,
        "enabled": feed.enabled,
        "items_total": feed.items_total,
        "items_last_7_days": feed.items_last_7_days,
        "image": safe_url(feed.image_url),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _limit() -> int:
    limit = _int_arg("limit")
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be a whole number, got {raw!r}") from exc


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be an ISO 8601 date or time, got {raw!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=service().settings.service.tz).astimezone(UTC)
