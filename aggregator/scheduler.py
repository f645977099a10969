"""The embedded scheduler: APScheduler ticks, and each tick polls the due feeds.

No business logic lives here: which feeds are due is storage's question and what a poll does
is `Service.poll`; once a day it also prunes old stories (`Service.prune`). `serve` runs it in
the background beside the web app; `worker` runs it alone in the foreground. The web app under
gunicorn (`gunicorn.conf.py`) never starts it. The started scheduler is kept on the service
(`Service.scheduler`) so readiness can see it. Tests never start it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from aggregator.service import Service

log = logging.getLogger(__name__)
T = TypeVar("T")


def start(service: Service, blocking: bool = False) -> BaseScheduler:
    """Start ticking every `[polling] tick_seconds`, the first tick at once."""
    scheduler: BaseScheduler = BlockingScheduler() if blocking else BackgroundScheduler(daemon=True)
    scheduler.add_job(
        _tick,
        "interval",
        args=[service],
        seconds=service.settings.polling.tick_seconds,
        id="poll",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(service.settings.service.tz),
    )
    scheduler.add_job(
        _prune,
        "interval",
        args=[service],
        hours=24,
        id="prune",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(service.settings.service.tz) + timedelta(minutes=5),
    )
    service.scheduler = scheduler
    scheduler.start()
    return scheduler


def _prune(service: Service) -> None:
    pruned = _guarded("pruning old stories", service.prune)
    if pruned and pruned.items:
        log.info("pruned %d stories and %d items", pruned.stories, pruned.items)


def _tick(service: Service) -> None:
    outcome = _guarded("a poll cycle", service.poll)
    if outcome and outcome.feeds:
        log.info("poll cycle: %d feeds, %d new items, %d failed", len(outcome.feeds), outcome.new, outcome.failed)


def _guarded(what: str, job: Callable[[], T]) -> T | None:
    """Run a job; a failure is logged and the scheduler keeps ticking."""
    try:
        return job()
    except Exception:
        log.exception("%s failed", what)
        return None
