"""When to poll next: the configured interval, the publisher's hints within bounds, back-off
on errors up to a cap that never gives up, and the HTTP headers those hints come from."""

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.pipeline.schedule import MAX_HINT, ScheduleHints, http_freshness, http_retry_after, jitter_share, next_check

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=15)
FEED = 7


def wait(errors: int = 0, interval: timedelta = INTERVAL, **hints: timedelta) -> timedelta:
    """The wait without its jitter, so tests read in round numbers."""
    due = next_check(NOW, FEED, interval, errors, timedelta(hours=24), ScheduleHints(**hints))
    return (due - NOW) / (1 + jitter_share(FEED))


def test_a_healthy_feed_waits_its_interval():
    assert wait() == INTERVAL


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        ({"ttl": timedelta(minutes=1)}, INTERVAL),  # a publisher cannot make us poll more often
        ({"ttl": timedelta(hours=2)}, timedelta(hours=2)),
        ({"fresh_for": timedelta(minutes=40)}, timedelta(minutes=40)),
        ({"ttl": timedelta(hours=1), "fresh_for": timedelta(hours=3)}, timedelta(hours=3)),
        ({"fresh_for": timedelta(days=7)}, MAX_HINT),  # a week-long max-age still brings us back within a day
        ({"ttl": timedelta(days=365)}, MAX_HINT),
    ],
)
def test_the_publishers_hints_lengthen_the_wait_within_bounds(hints, expected):
    assert wait(**hints) == expected


def test_errors_double_the_wait_up_to_the_cap_and_never_give_up():
    assert [wait(errors) for errors in (1, 2, 3)] == [INTERVAL * 2, INTERVAL * 4, INTERVAL * 8]
    assert wait(10) == wait(1000) == timedelta(hours=24)
    assert wait(0) == INTERVAL  # success resets


def test_retry_after_is_honoured_up_to_the_cap():
    assert wait(1, retry_after=timedelta(hours=3)) == timedelta(hours=3)
    assert wait(1, retry_after=timedelta(seconds=10)) == INTERVAL * 2  # never sooner than the back-off
    assert wait(1, retry_after=timedelta(days=30)) == timedelta(hours=24)


def test_a_long_configured_interval_is_kept_whatever_the_cap():
    assert wait(0, interval=timedelta(days=2)) == timedelta(days=2)
    assert wait(3, interval=timedelta(days=2)) == timedelta(days=2)


def test_jitter_is_small_reproducible_and_spreads_feeds():
    shares = {jitter_share(feed_id) for feed_id in range(1, 50)}
    assert all(0 <= share < 0.1 for share in shares) and len(shares) > 40
    assert next_check(NOW, 3, INTERVAL, 0) == next_check(NOW, 3, INTERVAL, 0)


@pytest.mark.parametrize(
    ("cache_control", "expires", "date", "expected"),
    [
        ("max-age=600", None, None, timedelta(minutes=10)),
        ('public, max-age="600"', "Wed, 25 Nov 2026 20:00:00 GMT", None, timedelta(minutes=10)),  # max-age wins
        ("no-store", None, None, None),
        ("max-age=0", None, None, None),
        (None, "Wed, 25 Nov 2026 11:00:00 GMT", None, timedelta(hours=1)),
        (None, "Wed, 25 Nov 2026 11:00:00 GMT", "Wed, 25 Nov 2026 10:30:00 GMT", timedelta(minutes=30)),  # the server's clock
        (None, "0", None, None),
        (None, "Wed, 25 Nov 2026 09:00:00 GMT", None, None),
        ("max-age=99999999999999999999", None, None, timedelta(days=365)),
    ],
)
def test_http_freshness(cache_control, expires, date, expected):
    assert http_freshness(cache_control, expires, date, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", timedelta(minutes=2)),
        ("Wed, 25 Nov 2026 12:00:00 GMT", timedelta(hours=2)),
        ("soon", None),
        (None, None),
        ("Wed, 25 Nov 2026 08:00:00 GMT", timedelta(0)),
    ],
)
def test_http_retry_after(value, expected):
    assert http_retry_after(value, None, NOW) == expected
