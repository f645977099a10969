"""Reader pages: the digest of a day, a topic's recent stories, one story, search, feed health."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, render_template, request

from aggregator.digest import build_digest, day_bounds, today
from aggregator.storage import queries
from aggregator.storage.search import search_items
from aggregator.web import service
from aggregator.web.caching import conditional

bp = Blueprint("pages", __name__)
TOPIC_PAGE_STORIES = 40
SEARCH_PAGE = 20


@bp.get("/")
def digest_today():
    svc = service()
    return _digest_page(today(svc.clock(), svc.settings.service.tz))


@bp.get("/digest/<day>")
def digest_day(day: str):
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        abort(400, f"{day!r} is not a date (YYYY-MM-DD)")
    return _digest_page(wanted)


@bp.get("/topics/<slug>")
def topic(slug: str):
    svc = service()
    if slug not in svc.topic_titles:
        abort(404, f"no topic {slug!r}")
    with svc.storage.read() as session:
        stories = queries.stories_page(session, TOPIC_PAGE_STORIES, topic=slug).rows
    now = svc.clock()
    stories = sorted(stories, key=lambda story: not story.pinned(now))  # stable: pinned first, then newest
    html = render_template("topic.html", slug=slug, title=svc.topic_titles[slug], stories=stories)
    return conditional(html, "text/html", max((s.updated for s in stories), default=None))


@bp.get("/stories/<int:story_id>")
def story(story_id: int):
    svc = service()
    with svc.storage.read() as session:
        found = queries.story(session, story_id)
    return conditional(render_template("story.html", story=found), "text/html", found.updated)


@bp.get("/search")
def search():
    query = request.args.get("q", "").strip()[:200]
    page = request.args.get("page", "1")
    if not page.isdigit() or int(page) < 1:
        abort(400, "page must be a positive whole number")
    number = int(page)
    results = None
    if query:
        with service().storage.read() as session:
            results = search_items(session, query, SEARCH_PAGE, (number - 1) * SEARCH_PAGE)
    return render_template("search.html", query=query, results=results, page=number)


@bp.get("/feeds")
def feed_health():
    svc = service()
    feeds = svc.storage.feeds.list(svc.clock())
    return render_template("feeds.html", feeds=feeds)


def _digest_page(day: date):
    svc = service()
    settings = svc.settings
    current = today(svc.clock(), settings.service.tz)
    with svc.storage.read() as session:
        stories = queries.stories_first_published(session, *day_bounds(day, settings.service.tz))
    digest = build_digest(day, stories, svc.topic_titles, settings.digest.other_title, settings.digest.max_items_per_topic, svc.clock())
    html = render_template(
        "digest.html", digest=digest, is_today=day == current,
        previous_day=day - timedelta(days=1), next_day=day + timedelta(days=1) if day < current else None,
    )
    return conditional(html, "text/html", max((s.updated for s in stories), default=None))
