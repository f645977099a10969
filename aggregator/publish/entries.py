"""What a curated feed says about a story or a digest day, whatever its format (Atom in
`atom`, JSON Feed in `jsonfeed`), so the two twins always tell the same thing: the same
ids, texts, topics, picture and reports. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from markupsafe import escape

from aggregator.pipeline.normalise import xml_safe as clean
from aggregator.pipeline.text import text_html
from aggregator.storage.views import StoryView

__all__ = ["DigestDay", "FeedMeta", "StoryUrl", "clean", "story_html", "story_summary", "story_tags"]


class StoryUrl(Protocol):
    def __call__(self, story_id: int, /) -> str: ...


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
    published: datetime | None = None  # the day's first report


def story_summary(story: StoryView) -> str:
    return clean(story.lead.summary) or clean(story.title)


def story_tags(story: StoryView, topic_titles: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """(slug, title) of every configured topic the story carries, its own first."""
    return tuple((slug, clean(topic_titles[slug])) for slug in story.topics(topic_titles))


def story_html(story: StoryView, page_url: str) -> str:
    """The entry's content: the picture, the lead report's text (its summary, or its whole
    article where the source allows that), every outlet's report, and our story page."""
    lead = story.lead
    parts = []
    if story.image_url:
        parts.append(f'<p><img src="{escape(story.image_url)}" alt="{escape(story.title)}"></p>')
    if lead.full_text:
        parts.append(text_html(lead.full_text))
    elif lead.summary:
        parts.append(f"<p>{escape(lead.summary)}</p>")
    links = "".join(f'<li><a href="{escape(item.url)}">{escape(item.feed_name)}</a>: {escape(item.title)}</li>' for item in story.items)
    label = "Источник" if len(story.items) == 1 else "Источники"
    parts.append(f"<p>{label}:</p><ul>{links}</ul>")
    parts.append(f'<p><a href="{escape(page_url)}">Все сообщения сюжета</a></p>')
    return clean("".join(parts))
