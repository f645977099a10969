"""Peer: `aggregator poll --all` beside lemon24/reader, on the same feeds, from empty databases.

reader (feedparser, SQLite, no topics, no stories) is installed by pip into a throwaway
virtualenv under the temporary directory (kept between runs, never a dependency of ours).
`python -m bench.peer serve` serves FEEDS local feeds of ITEMS items whose descriptions are
1–3 KB of HTML (`bench.corpus` items, each followed by paragraphs recalling earlier news of
its topic), each feed on its own loopback address. Every run is a fresh process on a fresh
database, timed whole (start-up included, as a user meets it), and reaped with `os.wait4`, so
its CPU time and peak RSS are its own. Rounds interleave: reader, ours, ours with
`[stories] encoder = "none"`, reader, ... after one untimed warm-up of each on one feed
(byte-compiled modules, the page cache, and our topic model kept, as a second start finds
them). A program whose run takes over LONG_RUN_S is run once. The encoder's own CPU per item
is measured in one more process, on the texts decide would give it for ENCODER_FEEDS feeds.
A program's figures are its median run; the rows give ours ÷ reader with the raw numbers.

This module is also run by reader's interpreter (`python -m bench.peer reader ...`), so it
imports only the standard library at the top.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

if TYPE_CHECKING:  # the rows are made with our interpreter; reader's never builds them
    from bench.common import Row

FEEDS = 30
ITEMS_PER_FEED = 100
DESCRIPTION_BYTES = (1000, 3000)
ENCODER_FEEDS = 5  # the encoder's cost per item is measured on this many feeds' items (it is slow)
LONG_RUN_S = 120.0
READER_VENV = Path(tempfile.gettempdir()) / "aggregator-bench-reader"


@dataclass(frozen=True)
class Run:
    """One program's run: wall and CPU seconds of its process, its peak RSS and what it stored."""

    program: str
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    stored: int

    def figures(self) -> dict[str, float]:
        return {
            "items_per_s": self.stored / self.seconds,
            "cpu_ms_per_item": 1000 * self.cpu_seconds / self.stored,
            "peak_rss_mb": self.peak_rss_mb,
            "seconds": self.seconds,
            "stored": self.stored,
        }


def run(quick: bool = False, feeds: int | None = None, rounds: int | None = None) -> dict:
    from bench.common import SEED

    feeds = feeds or (10 if quick else FEEDS)
    rounds = rounds or (1 if quick else 3)
    python = reader_python()
    now = time.time()
    with PeerFeedServer(feeds, ITEMS_PER_FEED, SEED, now) as server, tempfile.TemporaryDirectory() as tmp:
        programs = _programs(python, Path(tmp))
        urls = server.urls()
        for name, start in programs.items():  # untimed, on one feed: byte-compiles, fills the page cache, keeps our topic model
            start(f"warm-{name}", urls[:1])
        runs = interleave(programs, urls, rounds)
        encoder = _child_json(sys.executable, "encoder", str(min(feeds, ENCODER_FEEDS)), str(ITEMS_PER_FEED), str(SEED), str(now))
    summary = {name: _median_figures([r for r in runs if r.program == name]) for name in programs}
    return {"rows": rows(summary, encoder), "programs": summary, "encoder": encoder}


def interleave(programs: dict, urls: list[str], rounds: int) -> list[Run]:
    """`rounds` rounds of one run of each program in turn; a program whose run took longer than
    LONG_RUN_S seconds is not run again (its one run stands: the rest would not change the picture)."""
    runs: list[Run] = []
    done: set[str] = set()
    for number in range(rounds):
        for name, start in programs.items():
            if name not in done:
                runs.append(start(f"{name}-{number}", urls))
                print(f"  {name} round {number + 1}: {runs[-1].stored} items in {runs[-1].seconds:.1f} s", flush=True)
                if runs[-1].seconds > LONG_RUN_S:
                    done.add(name)
    return runs


def _programs(python: str, tmp: Path) -> dict:
    """The programs to interleave, by name: each a function of (run label, feed URLs) giving a `Run`."""
    out = {
        "reader": lambda label, urls: measure_reader(python, urls, tmp / f"{label}.sqlite"),
        "ours": lambda label, urls: measure_ours("ours", urls, tmp / label, {}),
    }
    if encoder_setting_accepted():
        none = {"stories": {"encoder": "none"}}
        out["ours_no_encoder"] = lambda label, urls: measure_ours("ours_no_encoder", urls, tmp / label, none)
    return out


def _median_figures(runs: list[Run]) -> dict[str, float]:
    from bench.common import median

    figures = [r.figures() for r in runs]
    return {key: median(f[key] for f in figures) for key in figures[0]} | {"rounds": len(runs)}


# --- the rows ---------------------------------------------------------------------------------


def rows(summary: dict[str, dict[str, float]], encoder: dict) -> list[Row]:
    from bench.common import Row

    peer, ours = summary["reader"], summary["ours"]
    out = [
        _ratio_row("peer: items/s, ours ÷ reader", ours, peer, "items_per_s"),
        _ratio_row("peer: CPU per item, ours ÷ reader", ours, peer, "cpu_ms_per_item"),
        _ratio_row("peer: peak RSS, ours ÷ reader", ours, peer, "peak_rss_mb"),
    ]
    if "ours_no_encoder" in summary:
        bare = summary["ours_no_encoder"]
        out += [
            _ratio_row('peer: items/s, ours (encoder "none") ÷ reader', bare, peer, "items_per_s", 1.0),
            _ratio_row('peer: CPU per item, ours (encoder "none") ÷ reader', bare, peer, "cpu_ms_per_item"),
            _ratio_row('peer: peak RSS, ours (encoder "none") ÷ reader', bare, peer, "peak_rss_mb", 4.0, at_least=False),
        ]
    else:
        why = "settings have no [stories] encoder key: nothing to turn off"
        out.append(Row('peer: items/s, ours (encoder "none") ÷ reader', None, 1.0, note=why))
    return [*out, _cpu_row(ours, peer, encoder), _encoder_row(encoder)]


def _ratio_row(measure: str, ours: dict, peer: dict, key: str, target: float | None = None, at_least: bool = True) -> Row:
    from bench.common import Row

    raw = {f"ours_{k}": v for k, v in ours.items()} | {f"reader_{k}": v for k, v in peer.items()}
    return Row(measure, ours[key] / peer[key], target, at_least=at_least, raw=raw)


def _cpu_row(ours: dict, peer: dict, encoder: dict) -> Row:
    """(our CPU per item − the encoder's own) ÷ reader's: all we add besides meaning, against a whole peer."""
    from bench.common import Row

    own = encoder.get("cpu_ms_per_item") or 0.0
    raw = {
        "ours_cpu_ms_per_item": ours["cpu_ms_per_item"],
        "encoder_cpu_ms_per_item": own,
        "reader_cpu_ms_per_item": peer["cpu_ms_per_item"],
    }
    ratio = (ours["cpu_ms_per_item"] - own) / peer["cpu_ms_per_item"]
    note = "" if encoder.get("available") else "no encoder measured: nothing subtracted"
    return Row("peer: CPU per item, ours − encoder's own ÷ reader", ratio, 1.0, at_least=False, raw=raw, note=note)


def _encoder_row(encoder: dict) -> Row:
    from bench.common import Row

    note = "" if encoder.get("available") else "n/a: no sentence encoder to measure (missing module, package or setting)"
    raw = {k: v for k, v in encoder.items() if k != "cpu_ms_per_item"}
    return Row("peer: encoder's own CPU per item", encoder.get("cpu_ms_per_item"), None, unit="ms", raw=raw, note=note)


# --- the runs ---------------------------------------------------------------------------------


def measure(program: str, args: Sequence[str], log: Path) -> tuple[float, float, float]:
    """Run `args` to its end: its wall seconds, CPU seconds and peak RSS in MB, its own.

    A small launcher process (`launch`) starts it and reaps it with `wait4`: a process started
    straight from this one would be charged this one's peak RSS (Linux keeps the high-water
    mark of the memory a child replaces when it executes its program)."""
    from bench.common import REPO_ROOT

    launcher = [sys.executable, "-m", "bench.peer", "launch", str(log), "--", *args]
    done = subprocess.run(launcher, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else done.stderr[-3000:]
        raise RuntimeError(f"{program} failed ({done.returncode}): {tail}")
    usage = json.loads(done.stdout)
    return usage["seconds"], usage["cpu_seconds"], usage["peak_rss_mb"]


def launch(log: str, args: Sequence[str]) -> int:
    """Run `args` with its output in `log`, print its wall and CPU time and peak RSS as JSON; its exit status."""
    with open(log, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": usage.ru_maxrss / 1024}))  # KiB on Linux
    return process.returncode


def measure_reader(python: str, urls: list[str], database: Path) -> Run:
    """reader on a new database: the feeds added, `update_feeds()` once, as its docs show."""
    seconds, cpu, rss = measure("reader", [python, "-m", "bench.peer", "reader", str(database), *urls], database.with_suffix(".log"))
    return Run("reader", seconds, cpu, rss, _count(database, "SELECT count(*) FROM entries"))


def measure_ours(program: str, urls: list[str], stem: Path, overrides: dict) -> Run:
    """`aggregator poll --all` on a new database (`stem`.db), with the repository's config.toml
    pointed at the feeds; its databases share a folder, so the topic model kept by the warm-up is found."""
    from bench.common import PYTHON, config_dict, write_config

    database = stem.with_suffix(".db")
    feeds = [(f"feed {n}", url) for n, url in enumerate(urls)]
    config = write_config(stem.with_suffix(".toml"), config_dict(database, feeds, **overrides))
    args = [PYTHON, "-m", "aggregator", "--config", str(config), "poll", "--all"]
    seconds, cpu, rss = measure(program, args, stem.with_suffix(".log"))
    return Run(program, seconds, cpu, rss, _count(database, "SELECT count(*) FROM items"))


def _count(database: Path, query: str) -> int:
    with sqlite3.connect(database) as db:
        return db.execute(query).fetchone()[0]


def encoder_setting_accepted() -> bool:
    """Whether `[stories] encoder` is a key our settings know (it is being added)."""
    from aggregator.settings import StorySettings

    return "encoder" in StorySettings.model_fields


def reader_python() -> str:
    """The interpreter of a virtualenv holding reader, made (and pip-installed into) on first use.

    sgmllib3k too: reader's own copy of feedparser imports `sgmllib`, which the feedparser
    installed here no longer brings along."""
    python = READER_VENV / "bin" / "python"
    check = [python, "-c", "from reader._parser.feedparser import FeedparserParser"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return str(python)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(READER_VENV)], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "reader", "sgmllib3k"], check=True, capture_output=True)
    return str(python)


def _child_json(python: str, *args: str) -> dict:
    from bench.common import REPO_ROOT

    done = subprocess.run([python, "-m", "bench.peer", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench.peer {args[0]} failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(lines[-1])


# --- the feeds --------------------------------------------------------------------------------


class PeerFeedServer:
    """`python -m bench.peer serve` in a child process; `urls()` are the feeds' addresses."""

    def __init__(self, feeds: int, items: int, seed: int, now: float) -> None:
        from bench.common import PYTHON, REPO_ROOT

        args = [PYTHON, "-m", "bench.peer", "serve", str(feeds), str(items), str(seed), str(now)]
        self.feeds = feeds
        self.process = subprocess.Popen(args, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"feed server did not start: {line!r}")
        self.port = int(line.split()[1])

    def urls(self) -> list[str]:
        from bench.feedserver import feed_host

        return [f"http://{feed_host(n)}:{self.port}/feeds/{n}.xml" for n in range(self.feeds)]

    def close(self) -> None:
        from bench.common import stop

        stop(self.process, 10)

    def __enter__(self) -> PeerFeedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def peer_document(number: int, items: int, seed: int, now: datetime) -> bytes:
    """RSS 2.0 of feed `number`: `bench.corpus` items with descriptions of 1–3 KB of HTML."""
    from bench.corpus import feed_items, outlet

    rnd = random.Random(f"peer:{seed}:{number}")
    domain, name = outlet(number)
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0">\n<channel>\n<title>{escape(name)}</title>\n',
        f"<link>https://{domain}/</link>\n<description>Новости {escape(name)}</description>\n<language>ru</language>\n",
    ]
    for item in feed_items(number, items, seed, now):
        parts.append(
            f"<item>\n<title>{escape(item['title'])}</title>\n<link>{escape(item['link'])}</link>\n"
            f'<guid isPermaLink="true">{escape(item["guid"])}</guid>\n<pubDate>{_rfc822(item["published"])}</pubDate>\n'
            f"<category>{escape(item['category'])}</category>\n"
            f"<description><![CDATA[{_description(item, domain, rnd, seed)}]]></description>\n</item>\n"
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode("utf-8")


def _description(item: dict, domain: str, rnd: random.Random, seed: int) -> str:
    """The item's own summary, then earlier news of its topic, recalled, up to 1–3 KB of HTML."""
    from bench.corpus import make_event, tell

    low, high = DESCRIPTION_BYTES
    size = rnd.randint(low, high)
    image = f'<p><img src="{item["image"]}" alt=""></p>' if item["image"] else ""
    html = f"{image}<p><strong>{escape(item['summary'])}</strong></p>"
    while len(html.encode()) < size:
        event = make_event(seed, 90_000_000 + rnd.randrange(10_000_000), item["published"])
        if event.topic != item["topic"] and rnd.random() < 0.95:
            continue  # mostly the same topic, as a news site's «earlier» paragraphs are
        title, summary = tell(event, rnd)
        link = f"https://{domain}/news/{rnd.randrange(100_000, 1_000_000)}"
        paragraph = f'<p>Ранее: <a href="{link}">{escape(title)}</a>. {escape(summary)}</p>'
        if len((html + paragraph).encode()) > high and len(html.encode()) >= low:
            break
        html += paragraph
    return html


def _rfc822(moment: datetime) -> str:
    from email.utils import format_datetime

    return format_datetime(moment.astimezone(UTC))


# --- the child processes -----------------------------------------------------------------------


def serve(feeds: int, items: int, seed: int, now: float) -> None:
    """Serve the peer documents like `bench.feedserver` (whose site and loop this reuses)."""
    import asyncio
    import hashlib

    from bench.feedserver import FeedSite, feed_host
    from bench.feedserver import serve as serve_site

    moment = datetime.fromtimestamp(now, UTC)
    site = FeedSite(0, items, seed, moment, latency=0.0)
    site.bodies = {f"/feeds/{n}.xml": peer_document(n, items, seed, moment) for n in range(feeds)}
    site.etags = {path: '"' + hashlib.sha1(body).hexdigest() + '"' for path, body in site.bodies.items()}
    asyncio.run(serve_site(site, 0, [feed_host(n) for n in range(feeds)]))


def reader_update(database: str, urls: list[str]) -> None:
    """reader's side, run by its own interpreter: add the feeds, update them once."""
    from reader import make_reader

    reader = make_reader(database)
    for url in urls:
        reader.add_feed(url)
    reader.update_feeds()
    reader.close()


def encoder_cost(feeds: int, items: int, seed: int, now: float) -> dict:
    """The encoder's own CPU per item, on what decide gives it: each feed's new items in one batch,
    as `encoder.item_text` of their title and decision text."""
    try:
        from aggregator.pipeline.encoder import E5Encoder, make_encoder
    except ImportError:
        return {"available": False}
    from aggregator.settings import StorySettings

    stories = StorySettings()
    encoder = make_encoder(stories.encoder, stories.encoder_threads)
    if not isinstance(encoder, E5Encoder):
        return {"available": False, "encoder": encoder.name}
    batches = _item_texts(feeds, items, seed, datetime.fromtimestamp(now, UTC))
    started = time.process_time()
    encoder.warm_up()  # loading the model: start-up, reported apart
    loaded = time.process_time()
    for texts in batches:
        encoder.encode(texts)
    cpu = time.process_time() - loaded
    count = sum(map(len, batches))
    return {"available": True, "cpu_ms_per_item": 1000 * cpu / count, "texts": count, "load_cpu_s": loaded - started}


def _item_texts(feeds: int, items: int, seed: int, now: datetime) -> list[list[str]]:
    """Per feed, the texts decide encodes of its items."""
    from aggregator.entities import Fetched
    from aggregator.pipeline.encoder import item_text
    from aggregator.pipeline.normalise import normalise_feed
    from aggregator.pipeline.parse import parse_feed
    from aggregator.pipeline.text import decision_text

    documents = (peer_document(n, items, seed, now) for n in range(feeds))
    feeds_items = [normalise_feed(parse_feed(Fetched("http://127.0.0.1/feed.xml", 200, doc)), now) for doc in documents]
    return [[item_text(item.title, decision_text(item.summary, item.full_text)) for item in batch] for batch in feeds_items]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "encoder"):
        command = commands.add_parser(name)
        for arg in ("feeds", "items", "seed"):
            command.add_argument(arg, type=int)
        command.add_argument("now", type=float)
    reader = commands.add_parser("reader")
    reader.add_argument("database")
    reader.add_argument("urls", nargs="+")
    launcher = commands.add_parser("launch")
    launcher.add_argument("log")
    launcher.add_argument("args", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "launch":
        return launch(args.log, args.args)
    if args.command == "serve":
        serve(args.feeds, args.items, args.seed, args.now)
    elif args.command == "encoder":
        print(json.dumps(encoder_cost(args.feeds, args.items, args.seed, args.now)))
    else:
        reader_update(args.database, args.urls)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
