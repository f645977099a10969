"""Prometheus metrics of the pipeline, exposed at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FETCHES = Counter("aggregator_fetches_total", "Feed fetches by outcome status", ["status"])
ITEMS_INGESTED = Counter("aggregator_items_ingested_total", "New items stored")
CYCLE_SECONDS = Histogram("aggregator_poll_cycle_seconds", "Duration of a poll cycle", buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300))
FEEDS_IN_ERROR = Gauge("aggregator_feeds_in_error", "Enabled feeds whose last fetch failed")
