"""Operations: `/healthz` (200 when the database answers) and `/metrics` (Prometheus)."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from aggregator import metrics
from aggregator.web import service

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        with service().storage.read() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        return {"status": "error", "database": str(exc)}, 503
    return {"status": "ok", "database": "ok"}


@bp.get("/metrics")
def prometheus_metrics():
    svc = service()
    metrics.FEEDS_IN_ERROR.set(sum(1 for feed in svc.storage.feeds.list() if feed.enabled and feed.consecutive_errors))
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
