"""When to poll a feed next: pure decisions from the last fetch's outcome, the feed's own
hints and `now`, plus the reading of those hints out of HTTP header values.

A healthy feed waits its configured interval, lengthened (never shortened) by what the
publisher says: RSS `<ttl>` and HTTP freshness (Cache-Control max-age, Expires), bounded by
`MAX_HINT` so that a week-long max-age still brings us back within a day. Each consecutive
error doubles the wait up to `max_backoff`, and a feed is never given up for good; a
Retry-After on 429 or 503 is honoured within the same cap. A small jitter, derived from the
feed id so it is reproducible, spreads feeds that share an interval over time.
Nothing here reads a clock or the network: the fetch stage passes header values and `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

JITTER_SHARE = 0.1
MAX_HINT = timedelta(hours=24)
LONGEST_HEADER_DELAY = timedelta(days=365)


@dataclass(frozen=True)
class ScheduleHints:
    """What the publisher said about polling: RSS ttl, HTTP freshness, Retry-After."""

    ttl: timedelta | None = None
    fresh_for: timedelta | None = None
    retry_after: timedelta | None = None


NO_HINTS = ScheduleHints()


def next_check(
    now: datetime,
    feed_id: int,
    interval: timedelta,
    consecutive_errors: int,
    max_backoff: timedelta = timedelta(hours=24),
    hints: ScheduleHints = NO_HINTS,
) -> datetime:
    """The moment to poll again; `consecutive_errors` counts the failure just recorded."""
    wait = _backoff(interval, consecutive_errors, max_backoff, hints.retry_after) if consecutive_errors else _healthy_wait(interval, hints)
    return now + wait * (1 + jitter_share(feed_id))


def jitter_share(feed_id: int) -> float:
    """A reproducible share of the wait in [0, JITTER_SHARE), spreading feeds apart."""
    return ((feed_id * 2654435761) % 1000) / 1000 * JITTER_SHARE


def _healthy_wait(interval: timedelta, hints: ScheduleHints) -> timedelta:
    asked = max((hint for hint in (hints.ttl, hints.fresh_for) if hint), default=interval)
    return max(interval, min(asked, MAX_HINT))


def _backoff(interval: timedelta, errors: int, max_backoff: timedelta, retry_after: timedelta | None) -> timedelta:
    cap = max(max_backoff, interval)
    wait = min(interval * 2 ** min(errors, 16), cap)
    return max(wait, min(retry_after, cap)) if retry_after else wait


def http_freshness(cache_control: str | None, expires: str | None, date: str | None, now: datetime) -> timedelta | None:
    """How long an HTTP answer says it stays fresh: Cache-Control max-age, else Expires - Date."""
    directives = _cache_directives(cache_control)
    if "no-cache" in directives or "no-store" in directives:
        return None
    if "max-age" in directives:
        seconds = _seconds(directives["max-age"])
        return timedelta(seconds=seconds) if seconds else None
    expiry = _http_date(expires)
    if expiry is None:
        return None
    left = expiry - (_http_date(date) or now)
    return min(left, LONGEST_HEADER_DELAY) if left > timedelta(0) else None


def http_retry_after(value: str | None, date: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds or an HTTP date) as a delay from now."""
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return timedelta(seconds=seconds)
    moment = _http_date(value)
    if moment is None:
        return None
    return min(max(moment - (_http_date(date) or now), timedelta(0)), LONGEST_HEADER_DELAY)


def _cache_directives(value: str | None) -> dict[str, str]:
    directives = {}
    for part in (value or "").split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = argument.strip().strip('"')
    return directives


def _seconds(value: str) -> int | None:
    value = value.strip()
    if not value.isdigit():
        return None
    return min(int(value), int(LONGEST_HEADER_DELAY.total_seconds()))


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
