"""The embedded scheduler: APScheduler ticks, and each tick polls the due feeds.

No business logic lives here: which feeds are due is storage's question and what a poll does
is `Service.poll`; once a day it also prunes old stories (`Service.prune`). `serve` runs it in
the background beside the web app; `worker` runs it alone in the foreground. The web app under
gunicorn (`gunicorn.conf.py`) never starts it. The started scheduler is kept on the service
(`Service.scheduler`) so readiness can see it. Tests never start it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from aggregator.service import Service

log = logging.getLogger(__name__)


def start(service: Service, blocking: bool = False) -> BaseScheduler:
    """Start ticking every `[polling] tick_seconds`, the first tick at once."""
    scheduler: BaseScheduler = BlockingScheduler() if blocking else BackgroundScheduler(daemon=True)
    scheduler.add_job(
        _tick, "interval", args=[service], seconds=service.settings.polling.tick_seconds,
        id="poll", max_instances=1, coalesce=True, next_run_time=datetime.now(service.settings.service.tz),
    )
    scheduler.add_job(_prune, "interval", args=[service], hours=24, id="prune", max_instances=1, coalesce=True,
                      next_run_time=datetime.now(service.settings.service.tz) + timedelta(minutes=5))
    service.scheduler = scheduler
    scheduler.start()
    return scheduler


def _prune(service: Service) -> None:
    try:
        pruned = service.prune()
    except Exception:  # noqa: BLE001 - the scheduler must keep ticking
        log.exception("pruning old stories failed")
        return
    if pruned.items:
        log.info("pruned %d stories and %d items", pruned.stories, pruned.items)


def _tick(service: Service) -> None:
    try:
        outcome = service.poll()
    except Exception:  # noqa: BLE001 - the scheduler must keep ticking
        log.exception("poll cycle could not run")
        return
    if outcome.feeds:
        log.info("poll cycle: %d feeds, %d new items, %d failed", len(outcome.feeds), outcome.new, outcome.failed)
