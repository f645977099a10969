"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1) twins of the curated Atom feeds.

Same entries as `atom`, built from the same `entries` helpers: an item's `id` is the Atom
entry's id (the story's page on this service), `url` the lead report, `content_html` and
`summary` the entry's content and summary, `tags` the titles of the story's topics, `image`
its picture. The `_aggregator` extension (JSON Feed's way to carry more: a key that starts
with an underscore; the README describes it) gives the story's page and lists every outlet's
report (the lead's first) with the outlet's name, the report's address, title and time. Dates are RFC 3339. Pure: views in, bytes out; the web layer adds caching.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aggregator.publish.entries import DigestDay, FeedMeta, StoryUrl, clean, story_html, story_summary, story_tags
from aggregator.storage.views import ItemView, StoryView

VERSION = "https://jsonfeed.org/version/1.1"
MIMETYPE = "application/feed+json"


def stories_json(meta: FeedMeta, stories: Sequence[StoryView], story_url: StoryUrl, topic_titles: dict[str, str]) -> bytes:
    """JSON Feed of `stories` (newest first), item for item the Atom feed's entries."""
    return _document(meta, [_story_item(story, story_url(story.id), topic_titles) for story in stories])


def digest_json(meta: FeedMeta, days: Sequence[DigestDay]) -> bytes:
    """One item per day; its content is that day's digest as HTML."""
    return _document(meta, [_day_item(day) for day in days])


def _document(meta: FeedMeta, items: list[dict[str, Any]]) -> bytes:
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": clean(meta.title),
        "home_page_url": meta.site_url,
        "feed_url": meta.self_url,
        "description": clean(meta.subtitle),
        "language": meta.language,
        "authors": [{"name": clean(meta.title), "url": meta.site_url}],
    }
    if meta.hub:
        feed["hubs"] = [{"type": "WebSub", "url": meta.hub}]
    feed["items"] = items
    return json.dumps(feed, ensure_ascii=False, indent=2).encode("utf-8")


def _story_item(story: StoryView, page_url: str, topic_titles: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": page_url,
        "url": story.lead.url or page_url,
        "title": clean(story.title),
        "content_html": story_html(story, page_url),
        "summary": story_summary(story),
        "date_published": rfc3339(story.first_published),
        "date_modified": rfc3339(story.updated),
        "authors": [{"name": clean(outlet)} for outlet in story.outlets],
    }
    tags = [title for _slug, title in story_tags(story, topic_titles)]
    if tags:
        item["tags"] = tags
    if story.image_url:
        item["image"] = story.image_url
    item["_aggregator"] = {"story_url": page_url, "reports": [_report(report) for report in (story.lead, *story.others)]}
    return item


def _report(report: ItemView) -> dict[str, str]:
    return {"outlet": clean(report.feed_name), "url": report.url, "title": clean(report.title), "date_published": rfc3339(report.published)}


def _day_item(day: DigestDay) -> dict[str, Any]:
    item: dict[str, Any] = {"id": day.url, "url": day.url, "title": clean(day.title), "content_html": clean(day.html)}
    if day.published:
        item["date_published"] = rfc3339(day.published)
    item["date_modified"] = rfc3339(day.updated)
    return item


def rfc3339(moment: datetime) -> str:
    """`2026-11-25T10:00:00Z`: UTC, whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
