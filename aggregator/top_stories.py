"""Top stories: what several outlets are reporting now. Pure.

Shown as «Главное» at the head of the digest page and published as /feeds/top.atom and
/feeds/top.json. A story qualifies when its latest report is within the last `hours` and at
least `min_outlets` different outlets reported it; the most widely reported come first, then
the most recent. Stories an editor has pinned (and whose pin still holds) lead, whatever
their count: pinning is how an editor says "this matters". At most `limit` in all.
The candidates are ranked without their reports (`Reads.story_ranks_updated_since`) and only
those chosen are read whole; showing them is the templates' and publishers' business.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from aggregator.settings import DigestSettings
from aggregator.storage.views import Ranked

R = TypeVar("R", bound=Ranked)


@dataclass(frozen=True)
class TopRules:
    hours: int = 24
    min_outlets: int = 2
    limit: int = 20

    @classmethod
    def from_settings(cls, digest: DigestSettings) -> TopRules:
        return cls(digest.top_hours, digest.top_min_outlets, digest.top_max)

    def since(self, now: datetime) -> datetime:
        """The start of the window a top story's latest report must fall in."""
        return now - timedelta(hours=self.hours)


def top_stories(recent: Iterable[R], pinned: Iterable[R], now: datetime, rules: TopRules) -> tuple[R, ...]:
    """Pinned stories (in the order given), then `recent` ones that qualify, best first."""
    leading = [story for story in pinned if story.pinned(now)]
    taken = {story.id for story in leading}
    since = rules.since(now)
    qualified = [story for story in recent if story.id not in taken and story.updated >= since and story.outlet_count >= rules.min_outlets]
    qualified.sort(key=_weight)
    return tuple([*leading, *qualified][: rules.limit])


def _weight(story: Ranked) -> tuple[int, float, int]:
    """Reported by more outlets first, then the latest report, then the newer story."""
    return (-story.outlet_count, -story.updated.timestamp(), -story.id)
