"""Fixtures that compose: a local feed server, settings pointing at it, a service with a
fixed clock, the Flask app and client, and a CLI runner."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w

from aggregator import create_app
from aggregator.pipeline.classify import TopicClassifier
from aggregator.service import Service
from aggregator.settings import REPO_ROOT, Settings, load_settings, settings_from_dict
from postgres import fresh_schema_url, throwaway_cluster

DATA = Path(__file__).parent / "data"
SHARED = REPO_ROOT.parent / "shared"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # 17:00 in Tomsk
# The suite runs on SQLite by default and on PostgreSQL with AGGREGATOR_TEST_DB=postgres (a
# throwaway cluster is started unless AGGREGATOR_TEST_POSTGRES_URL names a server).
BACKEND = os.environ.get("AGGREGATOR_TEST_DB", "sqlite")
_postgres: list[str] = []
sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="checks SQLite files directly")


@pytest.fixture(scope="session", autouse=True)
def database_server() -> Iterator[str | None]:
    if BACKEND != "postgres":
        yield None
        return
    given = os.environ.get("AGGREGATOR_TEST_POSTGRES_URL")
    if given:
        _postgres.append(given)
        yield given
        return
    with throwaway_cluster() as url:
        _postgres.append(url)
        yield url


def database_url(tmp_path: Path) -> str:
    """A database of the test's own: a file in its folder, or a PostgreSQL schema named after it."""
    if _postgres:
        return fresh_schema_url(_postgres[0], "t_" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:16])
    return f"sqlite:///{tmp_path / 'test.db'}"


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml"
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class FeedServer:
    """A throwaway HTTP server playing the publishers' sites, with conditional GET."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                time.sleep(route.delay)
                etag = '"' + hashlib.sha1(route.body).hexdigest() + '"'
                if route.status == 200 and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                self.send_header("ETag", etag)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, path: str, body: bytes | str = b"", **options: object) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(data, **options)  # type: ignore[arg-type]
        return self.base + path

    def serve_file(self, path: str, file: Path, **options: object) -> str:
        return self.serve(path, file.read_bytes(), **options)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def sample_feeds(feed_server: FeedServer) -> dict[str, str]:
    """The five small sample feeds of tests/data/feeds, by outlet name -> URL."""
    feeds = DATA / "feeds"
    return {
        "Томский вестник": feed_server.serve_file("/vestnik.xml", feeds / "rss2_utf8.xml"),
        "Город-Т": feed_server.serve_file("/gorod.atom", feeds / "atom.xml", content_type="application/atom+xml"),
        "Сибирский курьер": feed_server.serve_file("/kurier.rdf", feeds / "rss1.rdf", content_type="application/rdf+xml"),
        "Обь-Томь": feed_server.serve_file("/ob-tom.xml", feeds / "rss2_cp1251.xml", content_type="text/xml"),
        "Томская неделя": feed_server.serve_file("/nedelya.xml", feeds / "rss2_koi8r.xml", content_type="application/xml; charset=koi8-r"),
    }


NEW_ITEM_TITLE = "Ледовый городок откроют на Новособорной"


def serve_a_new_vestnik_item(feed_server: FeedServer) -> None:
    """«Томский вестник» (a `sample_feeds` feed) publishes one more item, titled NEW_ITEM_TITLE."""
    body = (
        (DATA / "feeds" / "rss2_utf8.xml")
        .read_text(encoding="utf-8")
        .replace(
            "<item>",
            f"""<item>
      <title>{NEW_ITEM_TITLE}</title><link>https://vestnik.example/ice</link>
      <pubDate>Wed, 25 Nov 2026 16:00:00 +0700</pubDate></item><item>""",
            1,
        )
    )
    feed_server.serve("/vestnik.xml", body)


def config_dict(tmp_path: Path, feeds: dict[str, str], **overrides: dict) -> dict:
    """The repository's config.toml, pointed at local feeds and a throwaway database."""
    raw = tomllib.loads((REPO_ROOT / "config.toml").read_text(encoding="utf-8"))
    raw["feeds"] = [{"url": url, "name": name} for name, url in feeds.items()]
    raw["database"] = {"url": database_url(tmp_path)}
    raw["polling"] = dict(
        raw["polling"], allow_private_addresses=True, read_timeout_seconds=2, total_timeout_seconds=5, connect_timeout_seconds=2
    )
    raw["service"] = dict(raw["service"], base_url="http://news.test")
    for section, values in overrides.items():
        raw[section] = dict(raw.get(section, {}), **values)
    return raw


@pytest.fixture
def settings(tmp_path: Path, sample_feeds: dict[str, str]) -> Settings:
    return settings_from_dict(config_dict(tmp_path, sample_feeds))


@pytest.fixture
def clock() -> list[datetime]:
    """The service's clock; tests move it by assigning clock[0]."""
    return [NOW]


@pytest.fixture(scope="session")
def classifier() -> TopicClassifier:
    """Fitted once: every test configuration uses the repository's topics."""
    return TopicClassifier.from_settings(load_settings(REPO_ROOT / "config.toml", env={}))


@pytest.fixture
def make_service(clock: list[datetime], classifier: TopicClassifier) -> Iterator:
    made: list[Service] = []

    def make(settings: Settings) -> Service:
        made.append(Service(settings, clock=lambda: clock[0], classifier=classifier).prepare())
        return made[-1]

    yield make
    for service in made:
        service.storage.close()


@pytest.fixture
def service(settings: Settings, make_service) -> Service:
    return make_service(settings)


@pytest.fixture
def app(service: Service):
    app = create_app(service=service)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def config_file(tmp_path: Path, sample_feeds: dict[str, str]) -> Path:
    path = tmp_path / "config.toml"
    path.write_bytes(tomli_w.dumps(config_dict(tmp_path, sample_feeds)).encode("utf-8"))
    return path
