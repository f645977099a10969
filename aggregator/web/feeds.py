"""Curated feeds: Atom per topic, for everything, the daily digest, and the OPML list."""

from __future__ import annotations

from datetime import date, timedelta

from babel.dates import format_date
from flask import Blueprint, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue

from aggregator.digest import build_digest, day_bounds, today
from aggregator.publish.atom import DigestDay, FeedMeta, digest_atom, stories_atom
from aggregator.publish.opml import feeds_opml
from aggregator.storage.views import StoryView
from aggregator.web.caching import conditional
from aggregator.web.current import service

bp = Blueprint("feeds", __name__)
ATOM = "application/atom+xml"
ENTRIES = 50


def public_url(path: str) -> str:
    return service().settings.service.base_url + path


def _hub() -> str | None:
    """The WebSub hub the curated feeds declare (`[websub] hub`), which `websub` notifies."""
    return service().settings.websub.hub


@bp.get("/feeds/all.atom")
def all_atom() -> ResponseReturnValue:
    settings = service().settings.service
    meta = FeedMeta(public_url(request.path), settings.title, "Все сюжеты", public_url("/"), settings.language, _hub())
    return _stories_feed(meta, topic=None)


@bp.get("/feeds/<slug>.atom")
def topic_atom(slug: str) -> ResponseReturnValue:
    svc = service()
    if slug not in svc.topic_titles:
        abort(404, f"no topic {slug!r}")
    title = f"{svc.topic_titles[slug]} — {svc.settings.service.title}"
    meta = FeedMeta(
        public_url(request.path), title, svc.topic_titles[slug], public_url(f"/topics/{slug}"), svc.settings.service.language, _hub()
    )
    return _stories_feed(meta, topic=slug)


@bp.get("/feeds/digest.atom")
def digest_feed() -> ResponseReturnValue:
    svc = service()
    settings = svc.settings
    tz = settings.service.tz
    current = today(svc.clock(), tz)
    days = []
    for back in range(1, settings.digest.days_in_feed + 1):
        day = current - timedelta(days=back)
        stories = svc.storage.reads.stories_first_published(*day_bounds(day, tz))
        if stories:
            days.append(_digest_day(day, stories))
    meta = FeedMeta(
        public_url(request.path),
        f"{settings.service.title}: дайджест дня",
        "Главное за день",
        public_url("/"),
        settings.service.language,
        _hub(),
    )
    updated = max((d.updated for d in days), default=None)
    return conditional(digest_atom(meta, days), ATOM, updated)


@bp.get("/feeds.opml")
def opml() -> ResponseReturnValue:
    svc = service()
    outlines = [("Все сюжеты", public_url("/feeds/all.atom"), public_url("/"))]
    outlines += [(title, public_url(f"/feeds/{slug}.atom"), public_url(f"/topics/{slug}")) for slug, title in svc.topic_titles.items()]
    outlines.append(("Дайджест дня", public_url("/feeds/digest.atom"), public_url("/")))
    return conditional(feeds_opml(svc.settings.service.title, svc.clock(), outlines), "text/x-opml")


def _stories_feed(meta: FeedMeta, topic: str | None) -> ResponseReturnValue:
    svc = service()
    stories = svc.storage.reads.stories_page(ENTRIES, topic=topic).rows
    body = stories_atom(meta, stories, lambda story_id: public_url(f"/stories/{story_id}"), svc.topic_titles)
    return conditional(body, ATOM, max((s.updated for s in stories), default=None))


def _digest_day(day: date, stories: list[StoryView]) -> DigestDay:
    svc = service()
    settings = svc.settings
    digest = build_digest(day, stories, svc.topic_titles, settings.digest.other_title, settings.digest.max_items_per_topic, svc.clock())
    html = render_template("digest_fragment.html", digest=digest)
    path = url_for("pages.digest_day", day=day.isoformat())
    return DigestDay(
        day,
        public_url(path),
        f"Главное за {format_date(day, 'd MMMM y', locale=settings.service.language)}",
        html,
        max(s.updated for s in stories),
    )
