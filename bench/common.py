"""What the speed benchmarks share: settings for local feeds, the feed-server process, the
child-process runner, and the rows of the one table `python -m bench` prints.

A figure is a ratio of two rates measured side by side in the same run (absolute times drift
on shared machines; ratios hold), with its target and the raw numbers behind it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, TextIO

import tomli_w

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SEED = 20261125


@dataclass
class Row:
    """One line of the table: `ratio` against `target` (`at_least` or at most), and the raw numbers."""

    measure: str
    ratio: float | None
    target: float | None = None
    at_least: bool = True
    unit: str = "×"
    raw: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.ratio is None:
            return "SKIP"
        if self.target is None:
            return "info"
        met = self.ratio >= self.target if self.at_least else self.ratio <= self.target
        return "PASS" if met else "MISS"

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "-"
        return f"{'≥' if self.at_least else '≤'} {self.target:g}{'' if self.unit == '×' else ' ' + self.unit}"

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), verdict=self.verdict, target_text=self.target_text)


def print_row(row: Row, out: TextIO = sys.stdout) -> None:
    ratio = "-" if row.ratio is None else f"{row.ratio:.3g}{'' if row.unit == '×' else ' ' + row.unit}"
    print(f"  {row.measure}: {ratio} (target {row.target_text}) {row.verdict}", file=out)
    print(f"      {raw_text(row.raw)}{'  — ' + row.note if row.note else ''}", file=out, flush=True)


def raw_text(raw: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in raw.items())


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_table(rows: Iterable[Row], out: TextIO = sys.stdout) -> None:
    rows = list(rows)
    header = ("measure", "ratio", "target", "result")
    cells = [
        (r.measure, "-" if r.ratio is None else f"{r.ratio:.3g}" + ("" if r.unit == "×" else f" {r.unit}"), r.target_text, r.verdict)
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line, file=out)
    print("-" * len(line), file=out)
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)), file=out)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


# --- configuration -------------------------------------------------------------------------------


def config_dict(db_path: Path, feeds: list[tuple[str, str]], **overrides: dict) -> dict:
    """The repository's config.toml, pointed at local feeds and a throwaway SQLite database."""
    raw = tomllib.loads((REPO_ROOT / "config.toml").read_text(encoding="utf-8"))
    raw["feeds"] = [{"url": url, "name": name} for name, url in feeds]
    raw["database"] = {"url": f"sqlite:///{db_path}"}
    raw["polling"] = dict(raw["polling"], allow_private_addresses=True)
    for section, values in overrides.items():
        raw[section] = dict(raw.get(section, {}), **values)
    return raw


def write_config(path: Path, raw: dict) -> Path:
    path.write_bytes(tomli_w.dumps(raw).encode("utf-8"))
    return path


# --- processes ---------------------------------------------------------------------------------


class ChildProcess:
    """A child process (`self.process`) that is stopped when its `with` block ends: terminated,
    then killed after `grace` seconds."""

    process: subprocess.Popen
    grace: float = 10

    def close(self) -> None:
        stop(self.process, self.grace)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FeedServerProcess(ChildProcess):
    """`bench.feedserver` in a child process; `url(n)` is feed n's address."""

    def __init__(self, feeds: int, items: int, latency: float, now: float, seed: int = SEED, hosts: bool = True) -> None:
        args = [
            PYTHON,
            "-m",
            "bench.feedserver",
            "--feeds",
            str(feeds),
            "--items",
            str(items),
            "--latency",
            str(latency),
            "--seed",
            str(seed),
            "--now",
            str(now),
            *(["--hosts"] if hosts else []),
        ]
        self.feeds = feeds
        self.hosts = hosts
        self.process = subprocess.Popen(args, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"feed server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, number: int) -> str:
        """Feed `number` on its own loopback address (or all on 127.0.0.1 without `hosts`)."""
        from bench.feedserver import feed_host

        host = feed_host(number) if self.hosts else "127.0.0.1"
        return f"http://{host}:{self.port}/feeds/{number}.xml"

    def feed_list(self) -> list[tuple[str, str]]:
        from bench.corpus import outlet

        return [(outlet(n)[1], self.url(n)) for n in range(self.feeds)]

    def stats(self) -> dict[str, int]:
        import httpx

        return httpx.get(self.base + "/_stats", trust_env=False).json()


def stop(process: subprocess.Popen, grace: float) -> None:
    """Terminate a child process, and kill it if it is still there after `grace` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_child(module: str, *args: str, env: dict[str, str] | None = None, timeout: float = 3600) -> dict:
    """Run `python -m module args...` and return the JSON object on its last stdout line."""
    done = subprocess.run(
        [PYTHON, "-m", module, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{module} {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


class FreshFeedServer:
    """Feeds that bring new items on every fetch, served from a thread of this process.

    `/feeds/<n>.xml` holds the newest `window` items of feed n (the first fetch fills the
    window); every later fetch adds `fresh` items that were never told before, dated at that
    fetch, so each poll cycle has real new items to read, classify and place. About a third
    retell one of a few events shared by all feeds in that round of fetches (stories form
    across outlets), the rest are the outlet's own; texts are drawn as `bench.corpus` draws
    them. No ETag, so there is never a 304. `new_items` counts the items handed out so far.
    """

    first = 1000  # feed numbers (and outlets) after those of `FeedServerProcess`

    def __init__(self, feeds: int, window: int, fresh: int, seed: int = SEED) -> None:
        from http.server import ThreadingHTTPServer

        self.feeds, self.window, self.fresh, self.seed = feeds, window, fresh, seed
        self._told: dict[int, list[dict]] = {n: [] for n in range(self.first, self.first + feeds)}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _fresh_handler(self))
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="fresh-feeds", daemon=True).start()

    def feed_list(self) -> list[tuple[str, str]]:
        from bench.corpus import outlet

        return [(outlet(n)[1], f"{self.base}/feeds/{n}.xml") for n in self._told]

    @property
    def new_items(self) -> int:
        with self._lock:
            return sum(len(told) for told in self._told.values())

    def document(self, number: int) -> bytes | None:
        """Feed `number` after adding this fetch's new items; None for no such feed."""
        with self._lock:
            told = self._told.get(number)
            if told is None:
                return None
            now = datetime.now(UTC).replace(microsecond=0)
            for _ in range(self.fresh if told else self.window):
                told.append(self._new_item(number, len(told), now))
            return _rss(number, told[-self.window :])

    def _new_item(self, number: int, index: int, now: datetime) -> dict:
        import random

        from bench.corpus import TOPICS, make_event, outlet, tell

        rnd = random.Random(f"fresh:{self.seed}:{number}:{index}")
        backfill = max(0, self.window - index)  # the first fetch's items are spread over the hour before it
        published = now - timedelta(minutes=3 * backfill)
        fetches = 0 if index < self.window else (index - self.window) // self.fresh + 1
        if rnd.random() < 0.35:
            event = make_event(self.seed, 90_000_000 + fetches * 5 + rnd.randrange(5), published)
        else:
            event = make_event(self.seed, 91_000_000 + number * 100_000 + index, published)
        title, summary = tell(event, rnd)
        link = f"https://{outlet(number)[0]}/live/{index}"
        return {
            "title": title,
            "summary": summary,
            "link": link,
            "published": published,
            "category": rnd.choice(TOPICS[event.topic]["category"]),
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rss(number: int, items: list[dict]) -> bytes:
    """RSS 2.0 of feed `number` with `items` (oldest first), newest first."""
    from email.utils import format_datetime
    from xml.sax.saxutils import escape

    from bench.corpus import outlet

    domain, name = outlet(number)
    entries = [
        f"<item><title>{escape(i['title'])}</title><link>{i['link']}</link><guid>{i['link']}</guid>"
        f"<pubDate>{format_datetime(i['published'])}</pubDate><category>{escape(i['category'])}</category>"
        f"<description>{escape(i['summary'])}</description></item>\n"
        for i in reversed(items)
    ]
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>{escape(name)}</title><link>https://{domain}/</link>\n'
    )
    return (head + "".join(entries) + "</channel></rss>\n").encode("utf-8")


def _fresh_handler(site: FreshFeedServer) -> type:
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            name = self.path.removeprefix("/feeds/").removesuffix(".xml")
            body = site.document(int(name)) if name.isdigit() else None
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    return Handler
