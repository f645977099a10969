"""Reader pages: the digest of a day, a topic's recent stories, one story, search, feed health.

Views read through `Storage.reads` and render templates; `digest` and `charts` shape the
data, `formatting` words it; an empty digest or topic says why (`source_health`: sources
failing, not polled yet, or simply no news). Every page (and every curated feed of
`web.feeds`) goes through `caching` (wired by `web.init_app`): rendered once per data version,
then answered from memory with ETag and 304.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue

from aggregator.digest import by_day, calendar_weeks, day_bounds, today
from aggregator.storage.views import StoryRank, StoryView
from aggregator.top_stories import TopRules
from aggregator.web.caching import conditional
from aggregator.web.charts import activity_chart
from aggregator.web.current import service
from aggregator.web.feeds import current_top_stories, day_digest
from aggregator.web.formatting import feed_is_broken
from aggregator.web.source_health import SourceHealth, summarise_sources

bp = Blueprint("pages", __name__)
TOPIC_PAGE_STORIES = 30
SEARCH_PAGE = 20
CALENDAR_WEEKS = 5
CHART_DAYS = 30


@bp.context_processor
def _now() -> dict[str, datetime]:
    """The service's clock for templates (is a story still pinned?)."""
    return {"now": service().clock()}


@bp.get("/")
def digest_today() -> ResponseReturnValue:
    svc = service()
    return _digest_page(today(svc.clock(), svc.settings.service.tz))


@bp.get("/digest/<day>")
def digest_day(day: str) -> ResponseReturnValue:
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        abort(400, f"«{day}» — не дата (нужно ГГГГ-ММ-ДД)")
    svc = service()
    if wanted > today(svc.clock(), svc.settings.service.tz):
        abort(404, "Дайджест этого дня ещё не вышел")
    return _digest_page(wanted)


@bp.get("/topics/<slug>")
def topic(slug: str) -> ResponseReturnValue:
    svc = service()
    if slug not in svc.topic_titles:
        abort(404, f"Темы «{slug}» нет")
    tz, now = svc.settings.service.tz, svc.clock()
    current = today(now, tz)
    cursor = request.args.get("after") or None
    chart_start = day_bounds(current - timedelta(days=CHART_DAYS - 1), tz)[0]
    reads = svc.storage.reads
    page = reads.stories_page(TOPIC_PAGE_STORIES, cursor, topic=slug)
    pinned = [] if cursor else reads.pinned_stories(now, topic=slug)  # shown on top of the first page only
    counts = reads.topic_items_per_day(slug, chart_start, day_bounds(current, tz)[1], tz)
    empty = not page.rows and not pinned and cursor is None
    html = render_template(
        "topic.html",
        slug=slug,
        title=svc.topic_titles[slug],
        pinned=pinned,
        is_first_page=cursor is None,
        days=by_day((s for s in page.rows if not s.pinned(now)), tz),
        next_cursor=page.next_cursor,
        chart=activity_chart(counts, current, CHART_DAYS),
        feed_url=_public_url(f"/feeds/{slug}.atom"),
        opml_url=_public_url("/feeds.opml"),
        sources=_sources_if(empty),
    )
    return conditional(html, "text/html", _latest(page.rows))


@bp.get("/stories/<int:story_id>")
def story(story_id: int) -> ResponseReturnValue:
    svc = service()
    found = svc.storage.reads.story(story_id)
    first_day = found.first_published.astimezone(svc.settings.service.tz).date()
    return conditional(render_template("story.html", story=found, first_day=first_day), "text/html", found.updated)


@bp.get("/search")
def search() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()[:200]
    page = request.args.get("page", "1")
    if not page.isdigit() or not 1 <= int(page) <= 1000:
        abort(400, "Номер страницы — целое число от 1 до 1000")
    number = int(page)
    results = service().storage.reads.search(query, SEARCH_PAGE, (number - 1) * SEARCH_PAGE) if query else None
    items = results.items if results else []
    html = render_template("search.html", query=query, results=results, items=items, page=number, per_page=SEARCH_PAGE)
    return conditional(html, "text/html")


@bp.get("/feeds")
def feed_health() -> ResponseReturnValue:
    svc = service()
    feeds = svc.storage.feeds.list(svc.clock())
    broken = [feed for feed in feeds if feed.enabled and feed_is_broken(feed.status)]
    broken_ids = {feed.id for feed in broken}
    listed = sorted(feeds, key=lambda feed: feed.id not in broken_ids)  # stable: broken first, then by name
    return conditional(render_template("feeds.html", feeds=listed, broken=broken), "text/html")


def _digest_page(day: date) -> ResponseReturnValue:
    svc = service()
    settings = svc.settings
    tz, now = settings.service.tz, svc.clock()
    current = today(now, tz)
    weeks = calendar_weeks(current, day, CALENDAR_WEEKS)
    digest, ranks = day_digest(day)
    with_news = svc.storage.reads.stories_per_day(day_bounds(weeks[0][0], tz)[0], day_bounds(weeks[-1][-1], tz)[1], tz)
    top = current_top_stories() if day == current else ()  # «Главное» is about now, not a past day
    html = render_template(
        "digest.html",
        digest=digest,
        top=top,
        top_rules=TopRules.from_settings(settings.digest),
        is_today=day == current,
        today=current,
        weeks=weeks,
        with_news=with_news,
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1) if day < current else None,
        sources=_sources_if(not digest.sections),
    )
    return conditional(html, "text/html", _latest([*ranks, *top]))


def _sources_if(empty: bool) -> SourceHealth | None:
    """Why a page is empty, read only when it is (a page is rendered once per data version,
    and a fetch of any feed moves it)."""
    if not empty:
        return None
    svc = service()
    return summarise_sources(svc.storage.feeds.list(), svc.clock())


def _latest(stories: Sequence[StoryView | StoryRank]) -> datetime | None:
    return max((story.updated for story in stories), default=None)


def _public_url(path: str) -> str:
    return service().settings.service.base_url + path
