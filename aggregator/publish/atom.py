"""Curated Atom 1.0 feeds, built with feedgen: one entry per story, one per digest day.

An entry's id is the story's permanent URL on this service, so it never changes while the
story grows; `<updated>` moves when an outlet adds a report. Each entry links the lead
report (its alternate link), every other outlet's report (`rel="related"`, titled with the
outlet's name) and the story's picture (`rel="enclosure"` of an image type, and Media RSS
`media:content` with `media:thumbnail`, which NetNewsWire, Feedly and Inoreader show in the
timeline). Its content tells the lead report's summary, or its whole article text where the
source allows that (`[[feeds]] publish = "full_text"`, which storage reflects in
`ItemView.full_text`), and links every outlet's version and our story page. What the entry
says is shared with the JSON Feed twin (`entries`). Pure: views in, bytes out; the web layer
adds HTTP caching.

feedgen 1.0 drops every attribute but `href` of an entry's links, so the links beyond the
alternate one are written by a small feedgen extension (`_EntryLinks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from aggregator.pipeline.images import image_type
from aggregator.publish.entries import DigestDay, FeedMeta, StoryUrl, clean, story_html, story_summary, story_tags
from aggregator.storage.views import StoryView

__all__ = ["EPOCH", "DigestDay", "FeedMeta", "clean", "digest_atom", "stories_atom"]

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
LINKS = "aggregator_links"


class _FeedLinks(BaseExtension):
    """Nothing at feed level: feedgen wants a feed class for every extension."""


class _EntryLinks(BaseEntryExtension):
    """Extra `<link>`s of an entry, each with every attribute it was given."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def add(self, **attributes: str) -> None:
        self.links.append(attributes)

    def extend_atom(self, entry: Any) -> Any:
        for attributes in self.links:
            xml_elem("link", entry, **attributes)
        return entry


def stories_atom(meta: FeedMeta, stories: Sequence[StoryView], story_url: StoryUrl, topic_titles: dict[str, str]) -> bytes:
    """Atom document of `stories` (newest first); `story_url(id)` gives a story's page URL."""
    generator = _generator(meta, max((s.updated for s in stories), default=EPOCH))
    generator.load_extension("media", atom=True, rss=False)
    generator.register_extension(LINKS, _FeedLinks, _EntryLinks, atom=True, rss=False)
    for story in reversed(stories):  # feedgen prepends entries
        entry = generator.add_entry()
        entry.id(story_url(story.id))
        entry.title(clean(story.title))
        entry.updated(story.updated)
        entry.published(story.first_published)
        entry.link(href=story.lead.url or story_url(story.id))
        for outlet in story.outlets:
            entry.author(name=clean(outlet))
        entry.summary(story_summary(story))
        entry.content(story_html(story, story_url(story.id)), type="html")
        for slug, title in story_tags(story, topic_titles):
            entry.category(term=slug, label=title)
        _related_links(getattr(entry, LINKS), story)
        if story.image_url:
            _picture(entry, story.image_url)
    return generator.atom_str(pretty=True)


def digest_atom(meta: FeedMeta, days: Sequence[DigestDay]) -> bytes:
    """One entry per day; the entry's content is that day's digest as HTML."""
    generator = _generator(meta, max((d.updated for d in days), default=EPOCH))
    for day in reversed(days):
        entry = generator.add_entry()
        entry.id(day.url)
        entry.title(clean(day.title))
        entry.updated(day.updated)
        if day.published:
            entry.published(day.published)
        entry.link(href=day.url)
        entry.content(clean(day.html), type="html")
    return generator.atom_str(pretty=True)


def _related_links(links: _EntryLinks, story: StoryView) -> None:
    """Every outlet's report but the lead's (the alternate link), once per address."""
    seen = {story.lead.url}
    for item in story.others:
        if item.url and item.url not in seen:
            seen.add(item.url)
            links.add(rel="related", type="text/html", href=item.url, title=clean(item.feed_name))


def _picture(entry: Any, url: str) -> None:
    kind = image_type(url)
    getattr(entry, LINKS).add(rel="enclosure", type=kind, href=url)
    entry.media.content(url=url, medium="image", type=kind, group=None)
    entry.media.thumbnail(url=url, group=None)


def _generator(meta: FeedMeta, updated: datetime) -> FeedGenerator:
    generator = FeedGenerator()
    generator.id(meta.self_url)
    generator.title(clean(meta.title))
    generator.subtitle(clean(meta.subtitle))
    generator.link(href=meta.self_url, rel="self", type="application/atom+xml")
    if meta.hub:
        generator.link(href=meta.hub, rel="hub")
    generator.link(href=meta.site_url, rel="alternate", type="text/html")
    generator.language(meta.language)
    generator.author(name=clean(meta.title))  # Atom needs a feed author when an entry has none (digest days)
    generator.generator("regional-news-aggregator")
    generator.updated(updated)
    return generator
