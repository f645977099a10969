"""Operations: what an operator's Prometheus, load balancer and WebSub hub see, and the
gunicorn configuration the web app is deployed with."""

from __future__ import annotations

import http.server
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from aggregator import create_app, metrics
from aggregator.cli import cli
from aggregator.pipeline.fetch import FetchPolicy
from aggregator.settings import REPO_ROOT, settings_from_dict
from aggregator.web.health import PollingState, polling_problems
from aggregator.websub import notify_hub
from conftest import NOW, config_dict

ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "http://news.test"


class FakeHub:
    """A WebSub hub on 127.0.0.1 that records every publish notification."""

    def __init__(self, status: int = 204) -> None:
        self.posts: list[dict[str, list[str]]] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hub.posts.append(parse_qs(body.decode("utf-8")))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hub"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def announced(self) -> list[str]:
        return [url for post in self.posts for url in post["hub.url"]]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class RunningScheduler:
    """Stands in for the scheduler `aggregator serve` starts (tests never start the real one)."""

    running = True

    def get_job(self, job_id: str) -> object | None:
        return object() if job_id == "poll" else None


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    server = FakeHub()
    yield server
    server.close()


def rss(*items: tuple[str, str, str]) -> str:
    entries = "".join(
        f"<item><title>{title}</title><link>https://t.example/{slug}</link><guid>{slug}</guid>"
        f"<pubDate>Wed, 25 Nov 2026 08:00:00 +0000</pubDate><description>{summary}</description></item>"
        for slug, title, summary in items
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Т</title>{entries}</channel></rss>'


HOCKEY = ("hockey", "Хоккеисты «Томи» выиграли домашний матч", "Томские хоккеисты обыграли гостей в матче чемпионата.")
MORTGAGE = (
    "mortgage",
    "Томские банки снизили ставки по ипотеке",
    "Банки региона снизили процентные ставки по кредитам и ипотеке для бизнеса.",
)


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").data.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def links(body: bytes) -> dict[str, str]:
    return {link.get("rel"): link.get("href") for link in etree.fromstring(body).findall(f"{ATOM}link")}


# Metrics


def test_metrics_count_a_poll_and_read_topics_and_feed_health_from_the_database(tmp_path, feed_server, sample_feeds, make_service):
    feeds = dict(sample_feeds, Пропавшая=feed_server.serve("/gone.xml", status=404))
    service = make_service(settings_from_dict(config_dict(tmp_path, feeds)))
    client = create_app(service=service).test_client()
    before = scrape(client)
    service.poll(include_all=True)
    after = scrape(client)
    assert delta(before, after, "aggregator_fetches_total", status="ok") == 5
    assert delta(before, after, "aggregator_fetches_total", status="http_404") == 1
    assert delta(before, after, "aggregator_fetch_seconds_count") == 6
    assert delta(before, after, "aggregator_fetch_seconds_bucket", le="+Inf") == 6
    assert delta(before, after, "aggregator_items_ingested_total") == 9
    assert delta(before, after, "aggregator_poll_cycle_seconds_count") == 1
    assert after[("aggregator_last_poll_cycle_timestamp_seconds", ())] >= time.time() - 60
    assert after[("aggregator_feeds_in_error", ())] == 1
    per_topic = {dict(labels)["topic"]: value for (name, labels), value in after.items() if name == "aggregator_items_per_topic"}
    stored = Counter(item["topic"] or metrics.NO_TOPIC for item in client.get("/api/items?limit=100").json["items"])
    assert sum(per_topic.values()) == 9 and per_topic == {topic: float(count) for topic, count in stored.items()}
    assert set(per_topic) <= {*service.settings.topics, metrics.NO_TOPIC}


def test_gunicorn_workers_metrics_are_summed_through_the_multiprocess_folder(tmp_path):
    script = textwrap.dedent("""
        import os, sys
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
        from aggregator import metrics
        child = os.fork()
        if child == 0:
            metrics.ITEMS_INGESTED.inc(2)
            os._exit(0)
        os.waitpid(child, 0)
        metrics.ITEMS_INGESTED.inc(3)
        sys.stdout.buffer.write(metrics.exposition(metrics.StoredGauges(4, {"sport": 7})))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60, check=True)
    assert "aggregator_items_ingested_total 5.0" in done.stdout
    assert "aggregator_feeds_in_error 4.0" in done.stdout and 'aggregator_items_per_topic{topic="sport"} 7.0' in done.stdout


def test_a_worker_serves_its_own_metrics_port(service):
    server, thread = metrics.serve_worker_metrics(0)
    try:
        service.poll(include_all=True)
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5) as answer:
            body = answer.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert "aggregator_items_ingested_total" in body and "aggregator_fetch_seconds_bucket" in body
    assert "aggregator_items_per_topic" not in body  # the database's gauges are the web's alone
    assert "--metrics-port" in CliRunner().invoke(cli, ["worker", "--help"]).output


# Liveness and readiness


def test_liveness_answers_even_when_the_database_does_not(client, service, monkeypatch):
    def unreachable(*_args: object):
        raise ConnectionRefusedError("connection refused")

    assert client.get("/readyz").json == {"status": "ok", "checks": {"database": "ok", "scheduler": "not in this process"}}
    service.storage.feeds.add("https://late.example/feed.xml", "Поздняя лента", NOW)  # a commit: the data version is stale
    monkeypatch.setattr(service.storage, "read", unreachable)
    monkeypatch.setattr(service.storage.reads, "data_version", unreachable)
    assert client.get("/healthz").status_code == 200 and client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["status"] == "unavailable"
    assert "the database does not answer" in ready.json["reasons"][0] and ready.json["checks"]["database"] == "unreachable"


def test_readiness_turns_503_when_the_last_poll_cycle_is_too_old(client, service, clock):
    service.scheduler = RunningScheduler()
    assert client.get("/readyz").json["reasons"] == ["no poll cycle has finished yet"]
    service.poll(include_all=True)
    limit = 3 * timedelta(seconds=service.settings.polling.tick_seconds)
    clock[0] = NOW + limit - timedelta(seconds=1)
    fresh = client.get("/readyz")
    assert fresh.status_code == 200 and fresh.json["checks"]["scheduler"] == "running"
    assert fresh.json["checks"]["last_cycle"]["age_seconds"] == limit.total_seconds() - 1
    clock[0] = NOW + limit + timedelta(seconds=1)
    for path in ("/readyz", "/healthz?ready"):
        stale = client.get(path)
        assert stale.status_code == 503
        assert stale.json["reasons"] == [
            f"the last poll cycle finished {limit.total_seconds() + 1:.0f} s ago, more than 3 ticks ({limit.total_seconds():.0f} s)"
        ]
    assert client.get("/healthz").status_code == 200


TICK, LEASE = timedelta(seconds=60), timedelta(minutes=30)


@pytest.mark.parametrize(
    ("running", "running_since", "last_cycle_at", "problem"),
    [
        (True, None, NOW - TICK, None),
        (True, NOW - LEASE + TICK, NOW - 10 * TICK, None),  # a long cycle, still within its lease
        (True, NOW - LEASE - TICK, NOW - LEASE - 2 * TICK, "a poll cycle has been running for 1860 s, longer than the 1800 s lease"),
        (True, None, NOW - 4 * TICK, "the last poll cycle finished 240 s ago, more than 3 ticks (180 s)"),
        (True, None, None, "no poll cycle has finished yet"),
        (False, None, NOW, "the scheduler is not running"),
    ],
)
def test_when_the_scheduler_counts_as_polling_on_time(running, running_since, last_cycle_at, problem):
    state = PollingState(NOW, running, running_since, last_cycle_at, TICK, LEASE)
    assert polling_problems(state) == ([problem] if problem else [])


# WebSub


def test_curated_feeds_declare_the_hub_and_themselves(tmp_path, sample_feeds, make_service, hub, client):
    service = make_service(settings_from_dict(config_dict(tmp_path / "hubbed", sample_feeds, websub={"hub": hub.url})))
    hubbed = create_app(service=service).test_client()
    for path in ("/feeds/all.atom", "/feeds/economy.atom", "/feeds/digest.atom"):
        declared = links(hubbed.get(path).data)
        assert declared["hub"] == hub.url and declared["self"] == BASE + path
        assert "hub" not in links(client.get(path).data)  # no [websub] hub: no hub link


def test_the_hub_hears_of_every_changed_feed_and_nothing_more(tmp_path, feed_server, make_service, hub, clock):
    served = feed_server.serve("/t.xml", rss(HOCKEY))
    service = make_service(settings_from_dict(config_dict(tmp_path, {"Т": served}, websub={"hub": hub.url})))
    site = create_app(service=service).test_client()
    service.poll(include_all=True)
    hockey = site.get("/api/items").json["items"][0]
    assert hockey["topics"] and all(post["hub.mode"] == ["publish"] for post in hub.posts)
    assert hub.announced == [f"{BASE}/feeds/all.atom", *topic_feeds(service, hockey["topics"]), f"{BASE}/feeds/digest.atom"]
    for url in hub.announced:  # each announced URL is the feed's own rel="self"
        assert links(site.get(url.removeprefix(BASE)).data)["self"] == url

    hub.posts.clear()
    service.poll(include_all=True)  # 304: nothing changed
    assert hub.posts == []

    feed_server.serve("/t.xml", rss(HOCKEY, MORTGAGE))
    clock[0] = NOW + timedelta(minutes=15)
    service.poll(include_all=True)
    mortgage = next(item for item in site.get("/api/items").json["items"] if item["url"].endswith("/mortgage"))
    assert mortgage["story_id"] != hockey["story_id"] and mortgage["topics"]
    assert hub.announced == [f"{BASE}/feeds/all.atom", *topic_feeds(service, mortgage["topics"]), f"{BASE}/feeds/digest.atom"]
    assert "sport" in hockey["topics"] and "sport" not in mortgage["topics"]  # the hockey story did not change


def topic_feeds(service, slugs) -> list[str]:
    return [f"{BASE}/feeds/{slug}.atom" for slug in service.settings.topics if slug in slugs]


def test_a_failing_hub_never_breaks_the_cycle(tmp_path, sample_feeds, make_service, caplog):
    refusing = FakeHub(status=500)
    gone = FakeHub()
    gone.close()  # nothing listens on its port any more
    try:
        for hub, complaint in ((refusing, "answered HTTP 500"), (gone, "unreachable")):
            caplog.clear()
            raw = config_dict(tmp_path / complaint.split()[0], sample_feeds, websub={"hub": hub.url})
            with caplog.at_level(logging.WARNING, logger="aggregator.websub"):
                outcome = make_service(settings_from_dict(raw)).poll(include_all=True)
            assert outcome.new == 9 and outcome.failed == 0
            assert complaint in caplog.text and hub.url in caplog.text
        assert len(refusing.posts) >= 3  # every changed feed was still tried
    finally:
        refusing.close()


def test_the_hub_obeys_the_private_address_rule(settings, hub, caplog):
    policy = FetchPolicy.from_settings(settings.polling.model_copy(update={"allow_private_addresses": False}))
    with caplog.at_level(logging.WARNING, logger="aggregator.websub"):
        assert notify_hub(hub.url, [f"{BASE}/feeds/all.atom"], policy) == []
    assert hub.posts == [] and "non-public address 127.0.0.1" in caplog.text
    allowed = FetchPolicy.from_settings(settings.polling)
    assert notify_hub(hub.url, [f"{BASE}/feeds/all.atom"], allowed) == [f"{BASE}/feeds/all.atom"]


# Deployment


def test_gunicorn_serves_the_app_with_several_workers_and_no_scheduler(tmp_path, service, config_file):
    service.poll(include_all=True)  # another process (a worker) stored items in the shared database
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key != "AGGREGATOR_DATABASE_URL"}
    env |= {
        "AGGREGATOR_CONFIG": str(config_file),
        "AGGREGATOR_BIND": f"127.0.0.1:{port}",
        "AGGREGATOR_WEB_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    web = subprocess.Popen(
        [str(gunicorn), "--config", str(REPO_ROOT / "gunicorn.conf.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = _get_json(f"http://127.0.0.1:{port}/readyz", web)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            exposed = answer.read().decode()
    finally:
        web.terminate()
        try:
            _, log = web.communicate(timeout=60)  # graceful_timeout is 10 s; the master kills what lingers past it
        except subprocess.TimeoutExpired:
            web.kill()
            _, log = web.communicate()
            pytest.fail(f"gunicorn did not stop within 60 s of SIGTERM:\n{log}")
    assert ready == {"status": "ok", "checks": {"database": "ok", "scheduler": "not in this process"}}
    fires = sum(item.topic == "incidents" for item in service.storage.reads.items_page(100).rows)
    assert f'aggregator_items_per_topic{{topic="incidents"}} {fires:.1f}' in exposed and "aggregator_items_ingested_total" in exposed
    assert log.count("Booting worker") == 2 and "Traceback" not in log


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get_json(url: str, process: subprocess.Popen) -> dict:
    import json

    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return json.loads(answer.read())
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
