"""Operations: liveness, readiness and Prometheus metrics.

- `/healthz`: liveness. 200 `{"status": "ok"}` whenever the process answers; it asks nothing
  of the database, so an outage there never gets a healthy web process restarted.
- `/readyz` (also `/healthz?ready`): readiness. 200 when the database answers and, if the
  scheduler runs in this process (`aggregator serve`), it is running and polls on time: the
  last cycle finished within `STALE_TICKS` ticks, or the running one started within the
  lease. Otherwise 503 with the reasons. Pollers in `aggregator worker` processes are watched
  through their metrics instead (`aggregator_last_poll_cycle_timestamp_seconds`).
- `/metrics`: see `aggregator.metrics`; the database-derived gauges are read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST

from aggregator import metrics
from aggregator.service import Service
from aggregator.web.current import service

bp = Blueprint("health", __name__)
STALE_TICKS = 3  # ticks without a finished poll cycle before the process is no longer ready


@dataclass(frozen=True)
class PollingState:
    """What readiness knows of this process's scheduler, on the service clock."""

    now: datetime
    scheduler_running: bool
    running_since: datetime | None
    last_cycle_at: datetime | None
    tick: timedelta
    lease: timedelta

    @classmethod
    def of(cls, svc: Service) -> PollingState:
        polling, scheduler = svc.settings.polling, svc.scheduler
        running = scheduler is not None and scheduler.running and scheduler.get_job("poll") is not None
        return cls(
            svc.clock(),
            running,
            svc.cycle_running_since,
            svc.last_cycle_at,
            timedelta(seconds=polling.tick_seconds),
            timedelta(minutes=polling.lease_minutes),
        )


def polling_problems(state: PollingState) -> list[str]:
    """Why the scheduler of this process is not polling on time (empty: it is)."""
    if not state.scheduler_running:
        return ["the scheduler is not running"]
    if state.running_since is not None:
        running = state.now - state.running_since
        if running > state.lease:
            return [
                f"a poll cycle has been running for {running.total_seconds():.0f} s, longer than the {state.lease.total_seconds():.0f} s lease"
            ]
        return []
    if state.last_cycle_at is None:
        return ["no poll cycle has finished yet"]
    age, limit = state.now - state.last_cycle_at, STALE_TICKS * state.tick
    if age > limit:
        return [
            f"the last poll cycle finished {age.total_seconds():.0f} s ago, more than {STALE_TICKS} ticks ({limit.total_seconds():.0f} s)"
        ]
    return []


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    if "ready" in request.args:
        return readyz()
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    svc = service()
    checks: dict[str, object] = {}
    reasons = _database_problems(svc)
    checks["database"] = "unreachable" if reasons else "ok"
    if svc.scheduler is None:
        checks["scheduler"] = "not in this process"
    else:
        state = PollingState.of(svc)
        reasons += polling_problems(state)
        checks["scheduler"] = "running" if state.scheduler_running else "stopped"
        checks["last_cycle"] = _cycle_report(state)
    if reasons:
        return {"status": "unavailable", "reasons": reasons, "checks": checks}, 503
    return {"status": "ok", "checks": checks}


@bp.get("/metrics")
def prometheus_metrics() -> ResponseReturnValue:
    reads = service().storage.reads
    stored = metrics.StoredGauges(reads.feeds_in_error(), reads.items_per_topic())
    return Response(metrics.exposition(stored), mimetype=CONTENT_TYPE_LATEST)


def _database_problems(svc: Service) -> list[str]:
    try:
        svc.storage.ping()
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        return [f"the database does not answer: {type(exc).__name__}: {exc}"]
    return []


def _cycle_report(state: PollingState) -> dict[str, object]:
    finished = state.last_cycle_at
    return {
        "finished": finished.isoformat() if finished else None,
        "age_seconds": round((state.now - finished).total_seconds(), 1) if finished else None,
        "running_since": state.running_since.isoformat() if state.running_since else None,
        "limit_seconds": STALE_TICKS * state.tick.total_seconds(),
    }
