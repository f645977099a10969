"""Curated Atom 1.0 feeds, built with feedgen: one entry per story, one per digest day.

An entry's id is the story's permanent URL on this service, so it never changes while the
story grows; `<updated>` moves when an outlet adds a report. Each entry links the lead
report, and its content links every outlet's version and our story page. The content tells
the lead report's summary, or its whole article text where the source allows that
(`[[feeds]] publish = "full_text"`, which storage reflects in `ItemView.full_text`).
Pure: views in, bytes out; the web layer adds HTTP caching.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from feedgen.feed import FeedGenerator
from markupsafe import escape

from aggregator.pipeline.normalise import xml_safe as clean
from aggregator.pipeline.text import text_html
from aggregator.storage.queries import StoryView

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedMeta:
    """What identifies a curated feed: its URL (also its id), title, the site it belongs to,
    and the WebSub hub announcing its changes, if any."""

    self_url: str
    title: str
    subtitle: str
    site_url: str
    language: str = "ru"
    hub: str | None = None


@dataclass(frozen=True)
class DigestDay:
    day: date
    url: str
    title: str
    html: str
    updated: datetime


def stories_atom(meta: FeedMeta, stories: Sequence[StoryView], story_url: Callable[[int], str], topic_titles: dict[str, str]) -> bytes:
    """Atom document of `stories` (newest first); `story_url(id)` gives a story's page URL."""
    generator = _generator(meta, max((s.updated for s in stories), default=EPOCH))
    for story in reversed(stories):  # feedgen prepends entries
        entry = generator.add_entry()
        entry.id(story_url(story.id))
        entry.title(clean(story.title))
        entry.updated(story.updated)
        entry.published(story.first_published)
        # feedgen 1.0 drops rel/type of entry links, so an entry carries only its alternate
        # link (the lead report); our story page is linked from the content instead.
        entry.link(href=story.lead.url or story_url(story.id))
        for outlet in story.outlets:
            entry.author(name=clean(outlet))
        entry.summary(clean(story.lead.summary) or clean(story.title))
        entry.content(clean(_story_html(story, story_url(story.id))), type="html")
        if story.topic:
            entry.category(term=story.topic, label=clean(topic_titles.get(story.topic, story.topic)))
    return generator.atom_str(pretty=True)


def digest_atom(meta: FeedMeta, days: Sequence[DigestDay]) -> bytes:
    """One entry per day; the entry's content is that day's digest as HTML."""
    generator = _generator(meta, max((d.updated for d in days), default=EPOCH))
    for day in reversed(days):
        entry = generator.add_entry()
        entry.id(day.url)
        entry.title(clean(day.title))
        entry.updated(day.updated)
        entry.link(href=day.url)
        entry.content(clean(day.html), type="html")
    return generator.atom_str(pretty=True)


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


def _story_html(story: StoryView, page_url: str) -> str:
    lead = story.lead
    if lead.full_text:
        parts = [text_html(lead.full_text)]
    elif lead.summary:
        parts = [f"<p>{escape(lead.summary)}</p>"]
    else:
        parts = []
    if lead.image_url:
        parts.insert(0, f'<p><img src="{escape(lead.image_url)}" alt=""></p>')
    links = "".join(f'<li><a href="{escape(item.url)}">{escape(item.feed_name)}</a>: {escape(item.title)}</li>' for item in story.items)
    label = "Источник" if len(story.items) == 1 else "Источники"
    parts.append(f"<p>{label}:</p><ul>{links}</ul>")
    parts.append(f'<p><a href="{escape(page_url)}">Все сообщения сюжета</a></p>')
    return "".join(parts)
