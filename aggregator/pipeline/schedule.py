"""When to poll a feed next: a pure decision from the outcome of the last fetch and `now`.

A healthy feed waits its interval; each consecutive error doubles the wait, up to a cap,
and the feed is never given up for good. A small jitter, derived from the feed id so it is
reproducible, spreads feeds that share an interval over time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

JITTER_SHARE = 0.1


def next_check(
    now: datetime,
    feed_id: int,
    interval: timedelta,
    consecutive_errors: int,
    max_backoff: timedelta = timedelta(hours=24),
) -> datetime:
    wait = interval * (2 ** min(consecutive_errors, 16)) if consecutive_errors else interval
    wait = min(wait, max(max_backoff, interval))
    jitter = ((feed_id * 2654435761) % 1000) / 1000 * JITTER_SHARE
    return now + wait * (1 + jitter)
