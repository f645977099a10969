"""Why a page has no stories: the health of the sources, summed up. Pure.

`summarise_sources` reads the feeds as storage lists them (`FeedView`) and says how many
enabled sources are failing and with which error most often, how many still wait for their
first poll and when it is due. The digest and topic pages show it when they are empty; the
words are the templates' (`_why_empty.html`, with `formatting`'s filters), reading the feeds
is the view's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from aggregator.errors import InternalError
from aggregator.storage.feeds import FeedView
from aggregator.web.formatting import feed_is_broken


@dataclass(frozen=True)
class SourceHealth:
    enabled: int  # sources polled at all
    failing: int  # enabled sources whose last fetch failed
    commonest_error: str | None  # the status most failing sources share
    commonest_count: int  # how many share it
    waiting: int  # enabled sources never fetched yet
    first_poll: datetime | None  # when the earliest waiting source is due; None: now, at the next tick

    @property
    def quiet(self) -> bool:
        """Sources exist and work: the page is empty because there is no news."""
        return self.enabled > 0 and not self.failing and not self.waiting


def summarise_sources(feeds: Iterable[FeedView], now: datetime) -> SourceHealth:
    enabled = [feed for feed in feeds if feed.enabled]
    errors = Counter(feed.status for feed in enabled if _failing(feed))
    waiting = [feed for feed in enabled if feed.status == "new"]
    commonest = min(errors.items(), key=lambda pair: (-pair[1], pair[0]), default=(None, 0))
    return SourceHealth(
        enabled=len(enabled),
        failing=errors.total(),
        commonest_error=commonest[0],
        commonest_count=commonest[1],
        waiting=len(waiting),
        first_poll=_first_poll(waiting, now),
    )


def _failing(feed: FeedView) -> bool:
    """Whether the feed's last fetch failed. A feed read despite a problem (`malformed_xml`,
    `too_many_items`, ...) still brings its news: it is not failing. A bug of ours does not
    count against the feed's error tally, but the feed brings nothing either."""
    return feed_is_broken(feed.status) and (feed.consecutive_errors > 0 or feed.status == InternalError.kind)


def _first_poll(waiting: list[FeedView], now: datetime) -> datetime | None:
    """The earliest `next_check` of the waiting sources, or None when one is due already."""
    due = [feed.next_check for feed in waiting]
    if not due or any(moment is None or moment <= now for moment in due):
        return None
    return min(moment for moment in due if moment is not None)
