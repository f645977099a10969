"""The topic activity chart: items per day as bars. Pure: counts in, geometry out.

templates/_activity_chart.html draws it as inline SVG (with a title, a description and a
table of the same numbers), so it needs no JavaScript. Counting is storage's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

WIDTH, HEIGHT, GAP = 600, 120, 2


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class ActivityChart:
    bars: tuple[Bar, ...]
    total: int
    peak: int
    busiest: date | None
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def first_day(self) -> date:
        return self.bars[0].day

    @property
    def last_day(self) -> date:
        return self.bars[-1].day


def activity_chart(counts: Mapping[date, int], last_day: date, days: int = 30) -> ActivityChart:
    """Bars for the `days` days ending with `last_day`; the busiest day reaches the top."""
    span = [last_day - timedelta(days=back) for back in range(days - 1, -1, -1)]
    peak = max((counts.get(day, 0) for day in span), default=0)
    step = WIDTH / days
    bars = tuple(_bar(day, counts.get(day, 0), index * step, step, peak) for index, day in enumerate(span))
    busiest = max(span, key=lambda day: (counts.get(day, 0), day)) if peak else None
    return ActivityChart(bars, sum(bar.count for bar in bars), peak, busiest)


def _bar(day: date, count: int, x: float, step: float, peak: int) -> Bar:
    height = round((HEIGHT - 1) * count / peak, 1) if peak else 0.0
    return Bar(day, count, round(x + GAP / 2, 1), round(HEIGHT - height, 1), round(step - GAP, 1), height)
