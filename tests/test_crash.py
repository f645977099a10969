"""kill -9 at seeded random moments of `aggregator poll --all`, many times, then one full poll:
the database passes SQLite's own checks, every article served is stored exactly once (by
feed and guid, and by canonical URL across feeds), stories hold existing items, and one
more poll finds nothing new."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import tomli_w

from conftest import FeedServer, config_dict, sqlite_only

FEEDS = 12
PHASES = (10, 20, 30)  # items per feed as the outlets publish more between the killed polls
KILLED_POLLS = 8
SEED = int(os.environ.get("CRASH_TEST_SEED", "20261125"))  # another seed: another set of moments
AGGREGATOR = str(Path(sys.executable).parent / "aggregator")
EVENTS = [
    "На проспекте Ленина ремонтируют трамвайные пути",
    "Губернатор подписал указ о поддержке малого бизнеса",
    "В областной больнице открыли центр лечения инсульта",
    "Хоккеисты «Томи» выиграли домашний матч",
    "Учёные ТГУ получили грант на исследование мерзлоты",
    "Филармония открыла сезон премьерой",
    "На Иркутском тракте столкнулись три автомобиля",
    "В Северске отремонтируют котельную",
]


def article(feed: int, number: int) -> tuple[str, str, str]:
    """(guid, link, title) of an outlet's article; every seventh is one shared by all outlets."""
    shared = number % 7 == 0
    link = f"https://shared.example/story/{number}" if shared else f"https://outlet{feed}.example/news/{number}"
    title = f"{EVENTS[number % len(EVENTS)]}: сообщение {number}" + ("" if shared else f" от редакции {feed}")
    return f"outlet{feed}-{number}", link, title


def rss(feed: int, count: int) -> str:
    items = "".join(
        f'<item><title>{title}</title><link>{link}</link><guid isPermaLink="false">{guid}</guid>'
        f"<description>{title}. Подробности в нашем материале.</description>"
        f"<pubDate>Wed, 25 Nov 2026 {8 + number // 10:02d}:{number % 60:02d}:00 +0700</pubDate></item>"
        for number in range(count)
        for guid, link, title in [article(feed, number)]
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Выпуск {feed}</title>{items}</channel></rss>'


def publish(server: FeedServer, phase: int) -> dict[str, str]:
    return {f"Выпуск {feed}": server.serve(f"/outlet{feed}.xml", rss(feed, PHASES[phase]), delay=0.03) for feed in range(FEEDS)}


@sqlite_only
def test_polls_killed_at_random_moments_lose_and_duplicate_nothing(tmp_path, feed_server, capsys):
    rng = random.Random(SEED)
    config = tmp_path / "config.toml"
    config.write_bytes(tomli_w.dumps(config_dict(tmp_path, publish(feed_server, 0))).encode("utf-8"))
    moments = [
        _killed_poll(config, feed_server, rng, mid_poll=round_ % 2 == 1, phase=round_ * len(PHASES) // KILLED_POLLS)
        for round_ in range(KILLED_POLLS)
    ]
    publish(feed_server, len(PHASES) - 1)
    _poll(config)
    second = _poll(config)
    with capsys.disabled():
        print(f"\ncrash test: killed at {', '.join(moments)}")
    assert " 0 new items, 0 failed." in second
    _check(tmp_path / "test.db")


def _killed_poll(config: Path, server: FeedServer, rng: random.Random, mid_poll: bool, phase: int) -> str:
    """Start a poll and SIGKILL it: at a random moment after launch (start-up and schema
    included), or mid-storing, once a random number of the new items have been committed
    (plus a few random milliseconds, to land inside the next feed's transaction). Says
    when, and how far it got, for the report."""
    publish(server, phase)
    database = config.parent / "test.db"
    stored = _count_items(database)
    process = subprocess.Popen(
        [AGGREGATOR, "--config", str(config), "poll", "--all"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    started = time.monotonic()
    if mid_poll:
        target = stored + rng.randint(1, max(1, len(_links(phase)) - stored))
        while _count_items(database) < target and process.poll() is None and time.monotonic() - started < 120:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
    else:
        time.sleep(rng.uniform(0, 4.0))
    finished = process.poll() is not None
    process.send_signal(signal.SIGKILL)
    process.wait()
    return "after it finished" if finished else f"{time.monotonic() - started:.1f} s ({_count_items(database)} items stored)"


def _links(phase: int) -> set[str]:
    """Every distinct article link the outlets serve in `phase`."""
    return {article(feed, number)[1] for feed in range(FEEDS) for number in range(PHASES[phase])}


def _count_items(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        try:
            return db.execute("SELECT count(*) FROM items").fetchone()[0]
        except sqlite3.OperationalError:  # killed before the schema was made
            return 0


def _poll(config: Path) -> str:
    done = subprocess.run([AGGREGATOR, "--config", str(config), "poll", "--all"], env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("AGGREGATOR_")}


def _check(database: Path) -> None:
    db = sqlite3.connect(database)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    db.execute("INSERT INTO items_fts(items_fts) VALUES ('integrity-check')")
    _check_items(db)
    _check_stories(db)
    assert {status for (status,) in db.execute("SELECT status FROM feeds")} == {"ok"}


def _check_items(db: sqlite3.Connection) -> None:
    rows = db.execute("SELECT feeds.url, items.guid, items.canonical_url FROM items JOIN feeds ON feeds.id = items.feed_id").fetchall()
    served = {
        (f"/outlet{feed}.xml", guid): link
        for feed in range(FEEDS)
        for number in range(PHASES[-1])
        for guid, link, _title in [article(feed, number)]
    }
    assert set(served.values()) == _links(len(PHASES) - 1)
    stored = Counter((url[url.rindex("/") :], guid) for url, guid, _ in rows)
    assert [key for key, count in stored.items() if count > 1] == []
    assert set(stored) <= set(served), "an item no feed ever served"
    links = Counter(link for _, _, link in rows)
    assert [link for link, count in links.items() if count > 1] == []
    assert set(links) == set(served.values())  # every article, shared ones once
    assert db.execute("SELECT count(*) FROM items_fts").fetchone()[0] == len(rows)


def _check_stories(db: sqlite3.Connection) -> None:
    assert db.execute("SELECT count(*) FROM items WHERE story_id IS NULL").fetchone()[0] == 0
    stories = db.execute(
        "SELECT stories.id, stories.item_count, stories.lead_item_id, count(items.id), "
        "sum(items.id = stories.lead_item_id) FROM stories LEFT JOIN items ON items.story_id = stories.id GROUP BY stories.id"
    ).fetchall()
    assert stories
    bad = [story for story in stories if not (story[1] == story[3] >= 1 and story[4] == 1)]
    assert bad == [], "(story, item_count, lead, members, lead is a member)"
