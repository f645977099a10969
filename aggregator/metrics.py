"""Prometheus metrics of the pipeline, and the text /metrics answers.

Two kinds of metric, so that no number is counted twice however the service is deployed:

- **Counted by the process that does the work** (the module-level metrics below): fetches,
  fetch latency, items ingested, internal errors, story lock hold times, poll cycles. They live in the polling process: the one
  `aggregator serve` process (scheduler embedded), or each `aggregator worker`, which
  exposes its own with `--metrics-port` (`serve_worker_metrics`). Under gunicorn with several
  web workers, `gunicorn.conf.py` sets PROMETHEUS_MULTIPROC_DIR, every worker writes its
  values to a file there, and `exposition()` sums the files, so whichever worker answers
  /metrics reports them all.
- **Read from the database at scrape time** (`StoredGauges`): feeds in error and items per
  topic. The database is shared, so any web process gives the same answer; workers do not
  repeat them on their own port.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

FETCHES = Counter("aggregator_fetches_total", "Feed fetches by outcome status", ["status"])
FETCH_SECONDS = Histogram(
    "aggregator_fetch_seconds",
    "Duration of one feed fetch (HTTP, redirects included), whatever its outcome",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
)
ITEMS_INGESTED = Counter("aggregator_items_ingested_total", "New items stored")
CYCLE_SECONDS = Histogram("aggregator_poll_cycle_seconds", "Duration of a poll cycle", buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300))
LAST_CYCLE = Gauge(
    "aggregator_last_poll_cycle_timestamp_seconds",
    "Unix time the last poll cycle of this process finished",
    multiprocess_mode="max",
)
INTERNAL_ERRORS = Counter(
    "aggregator_internal_errors_total",
    "Bugs of ours (or database failures) met while handling a feed, by the step that met them",
    ["step"],
)
STORY_LOCK_SECONDS = Histogram(
    "aggregator_story_lock_seconds",
    "How long storing one feed's new items held the story lock",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
NO_TOPIC = "none"  # the `topic` label of items the classifier left without a topic


@dataclass(frozen=True, eq=False)  # a registry keys its collectors by identity
class StoredGauges:
    """Gauges read from the database for one scrape (a prometheus_client collector)."""

    feeds_in_error: int
    items_per_topic: Mapping[str | None, int]

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("aggregator_feeds_in_error", "Enabled feeds whose last fetch failed", value=self.feeds_in_error)
        per_topic = GaugeMetricFamily("aggregator_items_per_topic", "Stored items by primary topic", labels=["topic"])
        for topic, count in sorted(self.items_per_topic.items(), key=lambda pair: pair[0] or ""):
            per_topic.add_metric([topic or NO_TOPIC], count)
        yield per_topic


def exposition(stored: StoredGauges) -> bytes:
    """The /metrics body: this process's metrics (every gunicorn worker's, in multiprocess
    mode), then the gauges read from the database."""
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(stored)
    return generate_latest(_process_registry()) + generate_latest(scraped)


def serve_worker_metrics(port: int, host: str = "127.0.0.1") -> tuple[WSGIServer, Thread]:
    """Expose this process's own metrics on http://host:port/ (a background thread). A
    worker must not share the web's PROMETHEUS_MULTIPROC_DIR, or /metrics would count its
    numbers a second time."""
    return start_http_server(port, addr=host, registry=REGISTRY)


def _process_registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
