"""Several pollers sharing one database: every due feed is fetched by exactly one of them,
and nothing is stored twice. Run on PostgreSQL by `make test` (and on SQLite too)."""

import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tomli_w
from sqlalchemy import func, select, update

from aggregator.settings import settings_from_dict
from aggregator.storage import Storage
from aggregator.storage.models import Feed, Item, Story
from conftest import config_dict

FEEDS, ROUNDS, POLLERS = 300, 3, 3
AGGREGATOR = str(Path(sys.executable).parent / "aggregator")


def rss(n: int) -> str:
    items = "".join(
        f"<item><title>Новость {n}-{k}: в районе {n} отремонтировали дорогу номер {k}</title>"
        f"<link>https://outlet{n}.example/news/{k}</link><guid>o{n}-{k}</guid>"
        f"<pubDate>Wed, 25 Nov 2026 0{k}:00:00 +0000</pubDate></item>"
        for k in (1, 2)
    )
    return f'<rss version="2.0"><channel><title>Лента {n}</title>{items}</channel></rss>'


def test_three_pollers_fetch_each_due_feed_exactly_once(tmp_path, feed_server):
    feeds = {f"Лента {n}": feed_server.serve(f"/feed{n}.xml", rss(n)) for n in range(FEEDS)}
    raw = config_dict(tmp_path, feeds, polling={"concurrency": 8})
    config = tmp_path / "config.toml"
    config.write_bytes(tomli_w.dumps(raw).encode())
    storage = Storage(raw["database"]["url"])
    for round_number in range(ROUNDS):
        feed_server.requests.clear()
        pollers = [
            subprocess.Popen([AGGREGATOR, "--config", str(config), "poll"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for _ in range(POLLERS)
        ]
        outputs = [p.communicate(timeout=240)[0].decode() for p in pollers]
        assert all(p.returncode == 0 for p in pollers), outputs
        hits = Counter(path for path, _ in feed_server.requests)
        assert len(hits) == FEEDS and set(hits.values()) == {1}, f"round {round_number}: {hits.most_common(3)}"
        assert sum(int(out.split(" feeds polled")[0].split()[-1]) for out in outputs) == FEEDS
        with storage.transaction() as session:  # every feed due again
            session.execute(update(Feed).values(next_check_at=None))
    with storage.read() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 2 * FEEDS
        assert session.scalar(select(func.count(func.distinct(Item.guid))).select_from(Item)) == 2 * FEEDS
        assert session.scalar(select(func.sum(Story.item_count))) == 2 * FEEDS
    storage.close()


def test_three_pollers_share_a_burst_of_due_feeds(tmp_path, feed_server, make_service):
    """40 feeds fall due at once, each site answering in half a second: pollers side by side
    each take what they can start, so the burst is shared, every feed fetched exactly once."""
    burst, delay, concurrency = 40, 0.5, 4
    feeds = {f"Лента {n}": feed_server.serve(f"/burst{n}.xml", rss(n), delay=delay) for n in range(burst)}
    settings = settings_from_dict(config_dict(tmp_path, feeds, polling={"concurrency": concurrency, "per_host_concurrency": burst}))
    pollers = [make_service(settings) for _ in range(POLLERS)]
    ready = threading.Barrier(POLLERS)

    def poll(service):
        ready.wait()
        return service.poll()

    with ThreadPoolExecutor(POLLERS) as pool:
        outcomes = list(pool.map(poll, pollers))
    polled = [len(outcome.feeds) for outcome in outcomes]
    hits = Counter(path for path, _ in feed_server.requests if path.startswith("/burst"))
    assert len(hits) == burst and set(hits.values()) == {1}, hits.most_common(3)
    assert sum(polled) == burst and max(polled) <= 0.6 * burst, polled
