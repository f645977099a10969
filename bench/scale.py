"""Scale: latency of the reader's paths with 1M stored items ÷ with 10k (100k with --quick).

Synthetic items go straight into the tables of `aggregator.storage.models` with SQLAlchemy
core bulk inserts (feeds, stories, items, item_topics), `search_lemmas` filled with
`content_lemmas` as the pipeline does. The schema is made by `Storage.create_schema()`; the
triggers that copy inserted items into the full-text table are set aside during the load and
put back after it, and the full-text index is rebuilt once. Items arrive at a steady 300 a day back from now (so even the small database spans the
digest's 30-day chart), so both
databases hold the same last days (the same digest for today) and differ only in how much
history lies behind them; the newest item of both is the same. Texts come from
`bench.corpus.synthetic_texts`.

Latency is measured with the Flask test client on each database in turn, request by request
(small, large, small, ...), after a warm-up; the figure per path is the median at the large
size ÷ the median at the small size. Pages, feeds and API reads are served from a page cache
keyed by path and query, so the API, digest and search figures of record are renders: each
request carries a query parameter of its own (`&r=N`), which the views ignore and the cache
does not, so every one is a miss, as the first request after new data is. Cache hits are
reported beside them, and so is the data-version read the cache makes (at most once a
second, and after every commit of this process), when `queries.data_version` exists.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, insert, text

from bench.common import SEED, Row, config_dict
from bench.corpus import outlet, synthetic_texts

if TYPE_CHECKING:  # for annotations only: this module imports aggregator inside the functions that use it
    from flask.testing import FlaskClient
    from sqlalchemy import Engine

    from aggregator.storage.models import Item, ItemTopic, Story

SMALL = 10_000
LARGE = 1_000_000
LARGE_QUICK = 100_000
PER_DAY = 300
FEEDS = 200
TEXT_POOL = 20_000
BATCH = 20_000
TARGET = 1.5
SEARCHES = ["пожар", "капитальный ремонт", "Северск", "трамвай", "фестиваль", "грант"]


def run(quick: bool = False) -> dict:
    large = LARGE_QUICK if quick else LARGE
    repeats = 9 if quick else 21
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        pool = text_pool(TEXT_POOL)
        builds = {}
        for size in (SMALL, large):
            started = time.perf_counter()
            build_database(Path(tmp) / f"items{size}.db", size, now, pool)
            builds[size] = time.perf_counter() - started
        clients = {size: _client(Path(tmp) / f"items{size}.db") for size in (SMALL, large)}
        paths = {
            "api_items": [f"/api/items?topic={topic}&limit=50&r={{n}}" for topic in _topics()],
            "digest": ["/?r={n}"],
            "search": [f"/search?q={query}&r={{n}}" for query in SEARCHES],
            "digest_cached": ["/"],
            "search_cached": [f"/search?q={query}" for query in SEARCHES],
        }
        timings = {name: {size: [] for size in clients} for name in paths}
        counter = 0
        for name, urls in paths.items():
            for url in urls:
                for client in clients.values():  # warm-up: page cache, statement caches
                    _get(client, url.format(n=(counter := counter + 1)))
                for _ in range(repeats):
                    for size, client in clients.items():
                        timings[name][size].append(_get(client, url.format(n=(counter := counter + 1))))
        version_ms = {size: _version_read_ms(Path(tmp) / f"items{size}.db", repeats) for size in clients}
        sizes = {size: Path(tmp, f"items{size}.db").stat().st_size for size in clients}
    rows = []
    for name, by_size in timings.items():
        small_ms, large_ms = (1000 * statistics.median(by_size[s]) for s in (SMALL, large))
        rows.append(
            Row(
                f"scale: {_label(name)} latency at {large // 1000}k ÷ at {SMALL // 1000}k items",
                large_ms / small_ms,
                None if name.endswith("_cached") else TARGET,
                at_least=False,
                raw={
                    "ms_small": small_ms,
                    "ms_large": large_ms,
                    "requests_each": len(by_size[SMALL]),
                    "worst_url_ratio": _worst(name, paths[name], by_size, repeats, SMALL, large),
                },
            )
        )
    if version_ms[SMALL] is not None:
        rows.append(
            Row(
                f"scale: page-cache data_version read at {large // 1000}k ÷ at {SMALL // 1000}k items",
                version_ms[large] / version_ms[SMALL],
                None,
                at_least=False,
                raw={"ms_small": version_ms[SMALL], "ms_large": version_ms[large]},
            )
        )
    rows[0].raw.update(
        {"build_s_small": builds[SMALL], "build_s_large": builds[large], "db_mb_large": sizes[large] / 2**20, "per_day": PER_DAY}
    )
    return {"rows": rows}


def _label(name: str) -> str:
    return {
        "api_items": "/api/items?topic=X&limit=50",
        "digest": "digest page / (render)",
        "search": "/search?q=… (render)",
        "digest_cached": "digest page / (cache hit)",
        "search_cached": "/search?q=… (cache hit)",
    }[name]


def _version_read_ms(path: Path, repeats: int) -> float | None:
    """Median milliseconds of `Storage.reads.data_version`, the page cache's fingerprint query."""
    from aggregator.service import Service
    from aggregator.settings import settings_from_dict

    storage = Service(settings_from_dict(config_dict(path, []))).storage
    now = datetime.now(UTC)
    timings = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        storage.reads.data_version(now)
        timings.append(time.perf_counter() - started)
    storage.close()
    return 1000 * statistics.median(timings[1:])


def _worst(name: str, urls: list[str], by_size: dict[int, list[float]], repeats: int, small: int, large: int) -> str:
    """The URL whose own median ratio is worst (timings are grouped by URL, `repeats` each)."""
    ratios = []
    for index, url in enumerate(urls):
        part = slice(index * repeats, (index + 1) * repeats)
        ratios.append((statistics.median(by_size[large][part]) / statistics.median(by_size[small][part]), url))
    ratio, url = max(ratios)
    return f"{url} {ratio:.2f}"


def _topics() -> list[str]:
    from bench.corpus import TOPICS

    return list(TOPICS)


def _get(client: FlaskClient, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"scale: {url} answered {response.status_code}: {response.get_data(as_text=True)[:500]}")
    return elapsed


def _client(path: Path) -> FlaskClient:
    from aggregator import create_app
    from aggregator.service import Service
    from aggregator.settings import settings_from_dict

    settings = settings_from_dict(config_dict(path, []))
    app = create_app(service=Service(settings))
    return app.test_client()


# --- the synthetic database ----------------------------------------------------------------------


def text_pool(count: int) -> list[tuple[str, str, str, str, str]]:
    """(title, summary, topic, search lemmas, content hash) of `count` generated items."""
    from aggregator.pipeline.lemmas import content_lemmas

    out = []
    for title, summary, topic in synthetic_texts(count, SEED):
        lemmas = " ".join(content_lemmas(f"{title}\n{summary}"))
        out.append((title, summary, topic, lemmas, hashlib.sha256(f"{title}\x1f{summary}".encode()).hexdigest()))
    return out


def build_database(path: Path, size: int, now: datetime, pool: list) -> None:
    """`size` items, newest at `now`, PER_DAY a day; stories of 1-4 consecutive items."""
    from aggregator.storage import Storage
    from aggregator.storage.db import to_db
    from aggregator.storage.models import Feed, Item, ItemTopic, Story

    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    storage = Storage(f"sqlite:///{path}")
    storage.create_schema()
    storage.close()
    engine = create_engine(f"sqlite:///{path}")
    step = timedelta(days=1) / PER_DAY
    rnd = random.Random(SEED)
    with engine.begin() as db:
        db.execute(text("PRAGMA journal_mode=WAL"))
        triggers = db.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'items' AND sql LIKE '%INSERT ON items%'")
        ).all()
        for name, _sql in triggers:
            db.execute(text(f'DROP TRIGGER "{name}"'))
        db.execute(
            insert(Feed.__table__),
            [
                {
                    "id": n + 1,
                    "url": f"https://{outlet(n)[0]}/rss",
                    "name": outlet(n)[1],
                    "from_config": False,
                    "enabled": True,
                    "status": "ok",
                    "consecutive_errors": 0,
                    "created_at": to_db(now - size * step),
                }
                for n in range(FEEDS)
            ],
        )
    story_id = 0
    items, stories, links = [], [], []
    for item_id, back in enumerate(range(size - 1, -1, -1), start=1):  # oldest first, so ids grow with time
        if not stories or stories[-1]["item_count"] >= stories[-1]["_size"]:
            story_id += 1
            stories.append({"id": story_id, "_size": rnd.choice((1, 1, 1, 2, 2, 3, 4)), "item_count": 0})
        title, summary, topic, lemmas, content_hash = pool[back % len(pool)]
        published = to_db(now - back * step)
        story = stories[-1]
        if story["item_count"] == 0:
            story.update(title=title, topic=topic, lead_item_id=item_id, first_published_at=published, hidden=False)
        story["item_count"] += 1
        story["updated_at"] = published
        feed_id = 1 + (item_id * 7 + story["item_count"]) % FEEDS
        url = f"https://{outlet(feed_id - 1)[0]}/news/{item_id}"
        items.append(
            {
                "id": item_id,
                "feed_id": feed_id,
                "story_id": story_id,
                "guid": url,
                "url": url,
                "canonical_url": url,
                "title": title,
                "summary": summary,
                "content_html": f"<p>{summary}</p>",
                "categories": ["Новости"],
                "content_hash": content_hash,
                "published_at": published,
                "fetched_at": published,
                "updated_at": published,
                "topic": topic,
                "topic_confidence": 0.8,
                "search_lemmas": lemmas,
                "sponsored": False,
                "hidden": False,
                "topic_locked": False,
            }
        )
        links.append({"item_id": item_id, "topic": topic, "score": 0.8, "published_at": published})
        if rnd.random() < 0.3:
            links.append(
                {"item_id": item_id, "topic": rnd.choice([t for t in _topics() if t != topic]), "score": 0.3, "published_at": published}
            )
        if len(items) >= BATCH:
            _flush(engine, items, stories, links, Item, Story, ItemTopic)
    _flush(engine, items, stories, links, Item, Story, ItemTopic, final=True)
    with engine.begin() as db:
        if db.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'items_fts'")).first():
            db.execute(text("INSERT INTO items_fts(items_fts) VALUES('rebuild')"))
        for _name, sql in triggers:  # no ANALYZE: a deployed database has none either
            db.execute(text(sql))
    engine.dispose()


def _flush(
    engine: Engine,
    items: list,
    stories: list,
    links: list,
    item: type[Item],
    story: type[Story],
    item_topic: type[ItemTopic],
    final: bool = False,
) -> None:
    """Write the finished stories (all but the open last one, unless `final`), items and links."""
    done = stories if final else stories[:-1]
    with engine.begin() as db:
        if done:
            db.execute(insert(story.__table__), [{k: v for k, v in s.items() if k != "_size"} for s in done])
        if items:
            db.execute(insert(item.__table__), items)
        if links:
            db.execute(insert(item_topic.__table__), links)
    del stories[: len(done)]
    items.clear()
    links.clear()
