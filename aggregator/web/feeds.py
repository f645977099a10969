"""Curated feeds, each as Atom and as its JSON Feed twin: per topic, for everything, the daily
digest, top stories, a search; and the OPML list of them.

Views pick the stories (through `Storage.reads`), the publishers (`publish.atom`,
`publish.jsonfeed`) write the document, and `caching.conditional` answers with ETag,
Last-Modified and 304. Only the feeds `websub` announces (all, topics, digest in Atom)
declare the WebSub hub.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import NoReturn

from babel.dates import format_date
from flask import Blueprint, abort, make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue

from aggregator.digest import Digest, build_digest, day_bounds, shown, today
from aggregator.publish import atom, jsonfeed
from aggregator.publish.entries import DigestDay, FeedMeta
from aggregator.publish.opml import feeds_opml
from aggregator.storage.views import StoryRank, StoryView
from aggregator.top_stories import TopRules, top_stories
from aggregator.web.caching import conditional
from aggregator.web.current import service

bp = Blueprint("feeds", __name__)
ATOM = "application/atom+xml"
ENTRIES = 50
SEARCH_MATCHES = 200  # the newest matching items a search feed reads, for at most ENTRIES stories
MAX_QUERY = 200
FORMAT = "<any(atom, json):fmt>"
MIMETYPES = {"atom": ATOM, "json": jsonfeed.MIMETYPE}
STORY_WRITERS: dict[str, Callable[..., bytes]] = {"atom": atom.stories_atom, "json": jsonfeed.stories_json}
DIGEST_WRITERS: dict[str, Callable[..., bytes]] = {"atom": atom.digest_atom, "json": jsonfeed.digest_json}


def public_url(path: str) -> str:
    return service().settings.service.base_url + path


def _hub(fmt: str) -> str | None:
    """The WebSub hub (`[websub] hub`), declared by the Atom feeds `websub` notifies it about."""
    return service().settings.websub.hub if fmt == "atom" else None


@bp.get(f"/feeds/all.{FORMAT}")
def all_feed(fmt: str) -> ResponseReturnValue:
    settings = service().settings.service
    meta = FeedMeta(public_url(request.path), settings.title, "Все сюжеты", public_url("/"), settings.language, _hub(fmt))
    return _stories_feed(fmt, meta, topic=None)


@bp.get(f"/feeds/top.{FORMAT}")
def top_feed(fmt: str) -> ResponseReturnValue:
    svc = service()
    settings = svc.settings
    rules = TopRules.from_settings(settings.digest)
    title = f"{settings.service.title}: главное"
    subtitle = f"Сюжеты, о которых написали несколько изданий за {rules.hours} ч"
    meta = FeedMeta(public_url(request.path), title, subtitle, public_url("/"), settings.service.language)
    return _publish(fmt, meta, current_top_stories())


@bp.get(f"/feeds/digest.{FORMAT}")
def digest_feed(fmt: str) -> ResponseReturnValue:
    svc = service()
    settings = svc.settings
    tz = settings.service.tz
    current = today(svc.clock(), tz)
    days = []
    for back in range(1, settings.digest.days_in_feed + 1):
        digest, ranks = day_digest(current - timedelta(days=back))
        if ranks:
            days.append(_digest_day(digest, ranks))
    meta = FeedMeta(
        public_url(request.path),
        f"{settings.service.title}: дайджест дня",
        "Главное за день",
        public_url("/"),
        settings.service.language,
        _hub(fmt),
    )
    updated = max((d.updated for d in days), default=None)
    return conditional(DIGEST_WRITERS[fmt](meta, days), MIMETYPES[fmt], updated)


@bp.get(f"/feeds/<slug>.{FORMAT}")
def topic_feed(slug: str, fmt: str) -> ResponseReturnValue:
    svc = service()
    if slug not in svc.topic_titles:
        abort(404, f"no topic {slug!r}")
    title = f"{svc.topic_titles[slug]} — {svc.settings.service.title}"
    meta = FeedMeta(
        public_url(request.path), title, svc.topic_titles[slug], public_url(f"/topics/{slug}"), svc.settings.service.language, _hub(fmt)
    )
    return _stories_feed(fmt, meta, topic=slug)


@bp.get(f"/search.{FORMAT}")
def search_feed(fmt: str) -> ResponseReturnValue:
    """The stories of the newest items a search finds, newest first: a search to subscribe to."""
    svc = service()
    query = _search_query(fmt)
    found = svc.storage.reads.search(query, SEARCH_MATCHES, newest_first=True)
    if not found.query_lemmas:
        _refuse(fmt, "В запросе нет слов, по которым можно искать")
    story_ids = [item.story_id for item in found.items if item.story_id is not None]
    stories = svc.storage.reads.stories_by_ids(story_ids)[:ENTRIES]
    settings = svc.settings.service
    meta = FeedMeta(
        public_url(request.full_path.rstrip("?")),
        f"{settings.title}: поиск «{query}»",
        f"Новые сюжеты со словами «{query}»",
        public_url(url_for("pages.search", q=query)),
        settings.language,
    )
    return _publish(fmt, meta, stories)


@bp.get("/feeds.opml")
def opml() -> ResponseReturnValue:
    svc = service()
    listed = [("Все сюжеты", "all", "/")]
    listed += [(title, slug, f"/topics/{slug}") for slug, title in svc.topic_titles.items()]
    listed += [("Дайджест дня", "digest", "/"), ("Главное: сюжеты нескольких изданий", "top", "/")]
    outlines = [(title, public_url(f"/feeds/{name}.atom"), public_url(page)) for title, name, page in listed]
    outlines += [(f"{title} (JSON Feed)", public_url(f"/feeds/{name}.json"), public_url(page)) for title, name, page in listed]
    return conditional(feeds_opml(svc.settings.service.title, svc.clock(), outlines), "text/x-opml")


def current_top_stories() -> tuple[StoryView, ...]:
    """Today's top stories by `[digest] top_*` (see `top_stories`), pinned ones first."""
    svc = service()
    rules = TopRules.from_settings(svc.settings.digest)
    now = svc.clock()
    reads = svc.storage.reads
    pinned = reads.pinned_stories(now)
    chosen = top_stories(reads.story_ranks_updated_since(rules.since(now), rules.min_outlets), pinned, now, rules)
    read = {story.id: story for story in pinned}
    read |= {story.id: story for story in reads.stories_by_ids(story.id for story in chosen if story.id not in read)}
    return tuple(read[story.id] for story in chosen if story.id in read)  # one hidden meanwhile is left out


def _stories_feed(fmt: str, meta: FeedMeta, topic: str | None) -> ResponseReturnValue:
    return _publish(fmt, meta, service().storage.reads.stories_page(ENTRIES, topic=topic).rows)


def _publish(fmt: str, meta: FeedMeta, stories: Sequence[StoryView]) -> ResponseReturnValue:
    svc = service()
    body = STORY_WRITERS[fmt](meta, stories, lambda story_id: public_url(f"/stories/{story_id}"), svc.topic_titles)
    return conditional(body, MIMETYPES[fmt], max((s.updated for s in stories), default=None))


def _search_query(fmt: str) -> str:
    query = request.args.get("q", "").strip()
    if not query:
        _refuse(fmt, "Пустой запрос: укажите слова для поиска, например ?q=трамвай")
    if len(query) > MAX_QUERY:
        _refuse(fmt, f"Запрос длиннее {MAX_QUERY} символов: сократите его")
    return query


def _refuse(fmt: str, reason: str) -> NoReturn:
    """400 with the reason: as JSON to a JSON Feed reader, else as the error page."""
    if fmt == "json":
        abort(make_response({"error": reason, "status": 400}, 400))
    abort(400, reason)


def day_digest(day: date) -> tuple[Digest, list[StoryRank]]:
    """A day's digest, and the ranks of every story of the day: the stories are ranked
    without their reports, and only those the digest shows are read whole."""
    svc = service()
    settings, now = svc.settings, svc.clock()
    ranks = svc.storage.reads.story_ranks(*day_bounds(day, settings.service.tz))
    per_topic = settings.digest.max_items_per_topic
    stories = svc.storage.reads.stories_by_ids(shown(ranks, svc.topic_titles, per_topic, now))
    return build_digest(day, stories, svc.topic_titles, settings.digest.other_title, per_topic, now), ranks


def _digest_day(digest: Digest, ranks: list[StoryRank]) -> DigestDay:
    settings = service().settings
    html = render_template("digest_fragment.html", digest=digest)
    path = url_for("pages.digest_day", day=digest.day.isoformat())
    return DigestDay(
        digest.day,
        public_url(path),
        f"Главное за {format_date(digest.day, 'd MMMM y', locale=settings.service.language)}",
        html,
        max(s.updated for s in ranks),
        min(s.first_published for s in ranks),
    )
