"""The digest of a day: stories grouped by topic in the configured order. Pure.

Used by the digest page and by the digest Atom feed. A story sits under its primary topic;
stories without one go to a last section («Другое»). Within a section, pinned stories come
first, then those reported by more outlets, then the most recent. `shown` picks the stories a
digest shows from their ranks alone, so that only those are read whole. Also here: the weeks
of the day calendar and the grouping of a topic's stories by day. Reading the stories is
storage's business, showing them the templates'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from aggregator.storage.views import Ranked, StoryView

OTHER = "other"


@dataclass(frozen=True)
class DigestSection:
    slug: str
    title: str
    stories: tuple[StoryView, ...]


@dataclass(frozen=True)
class Digest:
    day: date
    sections: tuple[DigestSection, ...]

    @property
    def story_count(self) -> int:
        return sum(len(section.stories) for section in self.sections)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in the service time zone, as aware datetimes."""
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


R = TypeVar("R", bound=Ranked)


def build_digest(
    day: date,
    stories: Sequence[StoryView],
    topics: Mapping[str, str],
    other_title: str,
    per_topic: int,
    now: datetime,
) -> Digest:
    """`topics` maps slug to title, in display order; pinned stories lead their topic."""
    titles = {**topics, OTHER: other_title}
    sections = _sections(stories, topics, per_topic, now)
    return Digest(day, tuple(DigestSection(slug, titles[slug], tuple(members)) for slug, members in sections.items()))


def shown(stories: Sequence[Ranked], topics: Mapping[str, str], per_topic: int, now: datetime) -> list[int]:
    """The ids of the stories the digest of these shows (each section's first `per_topic`)."""
    return [story.id for members in _sections(stories, topics, per_topic, now).values() for story in members]


def _sections(stories: Sequence[R], topics: Mapping[str, str], per_topic: int, now: datetime) -> dict[str, list[R]]:
    grouped: dict[str, list[R]] = {slug: [] for slug in [*topics, OTHER]}
    for story in stories:
        grouped[story.topic if story.topic in topics else OTHER].append(story)
    return {slug: sorted(members, key=lambda story: rank(story, now))[:per_topic] for slug, members in grouped.items() if members}


def rank(story: Ranked, now: datetime) -> tuple[bool, int, float, int]:
    """Pinned first, then reported by more outlets, then the most recent."""
    return (not story.pinned(now), -story.outlet_count, -story.updated.timestamp(), -story.id)


def calendar_weeks(today: date, shown: date, weeks: int = 5) -> tuple[tuple[date, ...], ...]:
    """Monday-first weeks for the day calendar: the `weeks` weeks up to the current one, or,
    for a day older than that, up to the week of the day shown."""
    last = today if today - shown < timedelta(weeks=weeks) else shown
    first_monday = last - timedelta(days=last.weekday()) - timedelta(weeks=weeks - 1)
    return tuple(tuple(first_monday + timedelta(days=7 * week + day) for day in range(7)) for week in range(weeks))


def by_day(stories: Iterable[StoryView], tz: ZoneInfo) -> tuple[tuple[date, tuple[StoryView, ...]], ...]:
    """Stories (newest first) in runs of the same day of their latest report, in `tz`."""
    days: dict[date, list[StoryView]] = {}
    for story in stories:
        days.setdefault(story.updated.astimezone(tz).date(), []).append(story)
    return tuple((day, tuple(members)) for day, members in days.items())
