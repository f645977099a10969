"""Serving: requests/s under gunicorn ÷ a hello-world Flask app under the same settings, idle
and while a poll runs.

A database is filled by the real pipeline (generated feeds on 127.0.0.1, one cold cycle in a
child process, the sentence encoder on). Then `gunicorn -w 2 'aggregator:create_app()'`
(AGGREGATOR_CONFIG and AGGREGATOR_DATABASE_URL pointing at it) and `gunicorn -w 2
bench.hello:app` both run (the repository's gunicorn.conf.py, workers not recycled: see
`Gunicorn`), and `wrk` loads each path in turn on loopback, each run between
two runs of the hello app (begun once our workers are idle again: a render goes on after wrk
hangs up), and a path's ratio in a round is taken against the mean of the
hello runs either side of it (load from other tenants of a shared machine drifts within
seconds). The paths: a topic's Atom feed, the same feed asked conditionally (the 304 path:
If-None-Match carries the last ETag seen, as a feed reader's does), the digest page `/` and
`/api/items`. The figure is the median ratio over the rounds. Pages, feeds and API reads
come from the app's page cache once rendered; `digest_render` (information, no target) gives
every request a query parameter of its own through a wrk Lua script, so each one renders the
page, as the first request after new data does.

Each round is measured twice: idle (after loading each cached path unmeasured, as the poll
round before changed the data), then while a poll runs. A poller of its own
(`python -m bench.serve poll CONFIG`, warmed up once, as `aggregator worker` is) polls every
feed of the same database cycle after cycle, `[stories] encoder = "e5"`: the feeds filled
at first answer 304 (their server sends ETags), and a few more (`FreshFeedServer`) bring new
items on every fetch, so each cycle reads, encodes, classifies, places and writes real news.
The during-poll ratios are ours under the poll ÷ hello under the poll: they say whether the
poll hurts our app more than it hurts any app on the machine (SQLite locks, page-cache
invalidation, re-renders); they are held to the idle targets. Ours under the poll ÷ ours
idle, round by round, is information. The poll's own figures come with them: its cycles,
the new items it stored while the paths were loaded, items/s, and the share of the
measurement it was busy (a poll that stopped would make the rows meaningless).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.common import (
    PYTHON,
    REPO_ROOT,
    ChildProcess,
    FeedServerProcess,
    FreshFeedServer,
    Row,
    config_dict,
    median,
    run_child,
    write_config,
)

ITEMS_PER_FEED = 100
FRESH_WINDOW, FRESH_PER_FETCH = 20, 4  # items in a fresh feed, new ones per fetch
WRK_CONNECTIONS = 4
TOPIC = "city"
TARGETS = {"atom": 0.7, "atom_304": 0.9, "digest": 0.5, "api_items": None, "digest_render": None}
UNIQUE_PATHS = """counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/?r=" .. counter)
end
"""
CONDITIONAL = """local etag, formatted = [[%s]], nil
local threads = {}
not_modified, other = 0, 0
function setup(thread) table.insert(threads, thread) end
function request()
  formatted = formatted or wrk.format(nil, nil, {["If-None-Match"] = etag})
  return formatted
end
function response(status, headers)
  local tag = headers["ETag"] or headers["etag"]
  if tag and tag ~= etag then etag, formatted = tag, nil end
  if status == 304 then not_modified = not_modified + 1 else other = other + 1 end
end
function done()
  local a, b = 0, 0
  for _, thread in ipairs(threads) do a, b = a + thread:get("not_modified"), b + thread:get("other") end
  io.write(string.format("Answers: 304=%%d other=%%d\\n", a, b))
end
"""
LABELS = {
    "atom": f"serve: /feeds/{TOPIC}.atom rps ÷ hello-world rps",
    "atom_304": f"serve: /feeds/{TOPIC}.atom 304 rps ÷ hello-world rps",
    "digest": "serve: digest page / rps ÷ hello-world rps",
    "api_items": "serve: /api/items rps ÷ hello-world rps",
    "digest_render": "serve: digest page / rendered each time rps ÷ hello-world rps",
}
DURING = ", during a poll"
SLOWED = ("atom", "atom_304", "digest")  # paths whose rps under the poll ÷ idle is a row of its own


def run(quick: bool = False) -> dict:
    ensure_wrk()
    feeds, fresh_feeds, seconds, rounds = (10, 4, 2, 1) if quick else (40, 10, 3, 3)
    with (
        tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp,
        FeedServerProcess(feeds, ITEMS_PER_FEED, latency=0.0, now=time.time()) as server,
        FreshFeedServer(fresh_feeds, FRESH_WINDOW, FRESH_PER_FETCH) as fresh,
    ):
        folder = Path(tmp)
        config = populate(folder, server.feed_list() + fresh.feed_list())
        env = {"AGGREGATOR_CONFIG": str(config), "AGGREGATOR_DATABASE_URL": f"sqlite:///{folder / 'serve.db'}"}
        with (
            Gunicorn("aggregator:create_app()", env, "/healthz") as app,
            Gunicorn("bench.hello:app", {}, "/") as hello,
            Poller(config) as poller,
        ):
            paths = probe(app.base)
            plan = _plan(app.base, paths, folder)
            idle, during = [], []
            for _ in range(rounds):
                _warm(plan, app.settle)
                idle.append(_round(plan, hello.base + "/", seconds, app.settle))
                handed_out = fresh.new_items
                during.append(poller.during(lambda: _round(plan, hello.base + "/", seconds, app.settle)))
                during[-1]["fresh_items_served"] = fresh.new_items - handed_out
    settings = {"rounds": rounds, "wrk": f"-t1 -c{WRK_CONNECTIONS} -d{seconds}s", "gunicorn": Gunicorn.settings}
    rows = [*_ratio_rows(idle, "", paths, settings), *_ratio_rows(during, DURING, paths, settings)]
    rows += [*_slowdown_rows(idle, during), _poll_row(during, feeds, fresh_feeds)]
    rows[0].raw["items_stored"] = paths["items"]
    return {"rows": rows, "rounds": idle, "rounds_during_poll": during}


def _plan(base: str, paths: dict, folder: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, URL, wrk options) of each path, with the Lua scripts it needs written to `folder`."""
    unique, conditional = folder / "unique.lua", folder / "conditional.lua"
    unique.write_text(UNIQUE_PATHS, encoding="utf-8")
    conditional.write_text(CONDITIONAL % paths["etag"], encoding="utf-8")
    return [
        ("atom", base + paths["atom"], ()),
        ("atom_304", base + paths["atom"], ("-s", str(conditional))),
        ("digest", base + "/", ()),
        ("api_items", base + "/api/items", ()),
        ("digest_render", base + "/", ("-s", str(unique))),
    ]


def _ratio_rows(measured: list[dict], suffix: str, paths: dict, settings: dict) -> list[Row]:
    """One row per path: ours ÷ hello, median over the rounds."""
    rows = []
    for name, target in TARGETS.items():
        raw = {
            "rps": round(median(m[name] for m in measured), 1),
            "hello_rps": round(median(m[f"{name}_hello"] for m in measured), 1),
            **settings,
        }
        if f"{name}_not_modified_share" in measured[0]:
            raw["not_modified_share"] = round(median(m[f"{name}_not_modified_share"] for m in measured), 3)
        if name.startswith("digest"):
            raw["stories_today"] = paths["digest_stories"]
        if name.startswith("atom"):
            raw["body_bytes"] = paths["atom_bytes"]
        rows.append(Row(LABELS[name] + suffix, median(m[name] / m[f"{name}_hello"] for m in measured), target, raw=raw))
    return rows


def _slowdown_rows(idle: list[dict], during: list[dict]) -> list[Row]:
    """Ours while the poll runs ÷ ours idle, round by round (information: the machine is shared)."""
    rows = []
    for name in SLOWED:
        ratios = [d[name] / i[name] for i, d in zip(idle, during, strict=True)]
        hello = [d[f"{name}_hello"] / i[f"{name}_hello"] for i, d in zip(idle, during, strict=True)]
        label = LABELS[name].split(" ÷ ")[0] + " during a poll ÷ idle"
        rows.append(Row(label, median(ratios), raw={"hello_during_poll_over_idle": round(median(hello), 3)}))
    return rows


def _poll_row(during: list[dict], feeds: int, fresh_feeds: int) -> Row:
    """What the poll did while the during-poll rounds were measured."""
    rate = median(d["poll_items_per_s"] for d in during)
    raw = {
        "new_items": [d["poll_new_items"] for d in during],
        "cycles": [d["poll_cycles"] for d in during],
        "fewest_new_in_a_cycle": min(d["poll_fewest_new"] for d in during),
        "busy_share": min(d["poll_busy_share"] for d in during),
        "cpu_ms_per_item": round(median(d["poll_cpu_ms_per_item"] for d in during), 1),
        "items_handed_out": [d["fresh_items_served"] for d in during],
        "errors": sum(d["poll_errors"] for d in during),
        "longest_lock_ms": round(max(d["poll_longest_lock_ms"] for d in during), 1),
        "feeds": f"{feeds} unchanged (304) + {fresh_feeds} bringing {FRESH_PER_FETCH} new items per fetch",
        "encoder": "e5",
    }
    idle = raw["busy_share"] < 0.9 or raw["fewest_new_in_a_cycle"] == 0
    note = "the poll was not busy through the whole measurement" if idle else ""
    return Row("serve: the poll while the paths were loaded, new items stored per second", rate, unit="items/s", raw=raw, note=note)


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `apt-get install -y wrk` (make bench does it)")


def populate(folder: Path, feeds: list[tuple[str, str]]) -> Path:
    """A database filled by the pipeline from `feeds`, with the encoder on; returns its config."""
    config = write_config(folder / "config.toml", config_dict(folder / "serve.db", feeds, stories={"encoder": "e5"}))
    child = run_child("bench.cycle", str(config), "--cycles", "1")
    if child["cycles"][0]["errors"]:
        raise RuntimeError(f"serve: filling the database failed: {child['cycles'][0]['first_error']}")
    return config


def probe(base: str) -> dict:
    """Check every path answers as it should; the Atom feed's ETag, sizes and counts."""
    with httpx.Client(base_url=base, trust_env=False, timeout=60) as client:
        atom = client.get(f"/feeds/{TOPIC}.atom")
        atom.raise_for_status()
        etag = atom.headers["etag"]
        again = client.get(f"/feeds/{TOPIC}.atom", headers={"If-None-Match": etag})
        if again.status_code != 304:
            raise RuntimeError(f"serve: the Atom feed answered {again.status_code} to its own ETag, not 304")
        digest = client.get("/")
        digest.raise_for_status()
        items = client.get("/api/items", params={"limit": 1})
        items.raise_for_status()
        feeds = client.get("/api/feeds").json()["feeds"]
    return {
        "atom": f"/feeds/{TOPIC}.atom",
        "etag": etag,
        "atom_bytes": len(atom.content),
        "digest_stories": digest.text.count('class="story'),
        "items": sum(f.get("items_total", 0) for f in feeds),
    }


def _warm(plan: list[tuple[str, str, tuple[str, ...]]], settle: Callable[[], None], seconds: int = 2) -> None:
    """Load each cached path unmeasured, so that both workers render what the last poll changed
    before an idle round (the first request after new data renders the page)."""
    for name, url, extra in plan:
        if name != "digest_render":
            wrk(url, seconds, extra)
            settle()


def _round(plan: list[tuple[str, str, tuple[str, ...]]], hello: str, seconds: int, settle: Callable[[], None]) -> dict[str, float]:
    """Each path's requests/s, and as `<path>_hello` the mean of the hello runs either side of it
    (each begun once our app has `settle`d: what one run left rendering must not load the next)."""
    rates, before = {}, wrk(hello, seconds)[0]
    for name, url, extra in plan:
        rates[name], share = wrk(url, seconds, extra)
        settle()
        if share is not None:
            rates[f"{name}_not_modified_share"] = share
        after = wrk(hello, seconds)[0]
        rates[f"{name}_hello"], before = (before + after) / 2, after
    return rates


def wrk(url: str, seconds: int, extra: tuple[str, ...] = ()) -> tuple[float, float | None]:
    """Requests/s that wrk measured, and the share of 304 answers when its script counts them;
    errors and non-2xx/3xx answers make it fail."""
    args = ["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", *extra, url]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    if "Non-2xx or 3xx" in out:
        raise RuntimeError(f"serve: {url} answered errors under load:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"serve: cannot read wrk's output:\n{out}")
    answers = re.search(r"Answers: 304=(\d+) other=(\d+)", out)
    share = int(answers[1]) / max(1, int(answers[1]) + int(answers[2])) if answers else None
    return float(match.group(1)), share


class Gunicorn(ChildProcess):
    """`gunicorn -w 2 APP` on a free loopback port, started and waited for. gunicorn reads the
    repository's gunicorn.conf.py (gthread workers, 4 threads each), except that workers are
    not recycled (`--max-requests 0`): at the thousands of requests per second of a load test
    the configured 5000 would restart each worker every few seconds, emptying its page cache,
    which real traffic does every many minutes. Its log goes to a file, not an unread pipe."""

    grace = 20
    settings = "-w 2 --max-requests 0, gunicorn.conf.py (gthread, 4 threads)"

    def __init__(self, app: str, env: dict[str, str], ready_path: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process, closed by close()
        binary = str(Path(PYTHON).parent / "gunicorn")
        self.process = subprocess.Popen(
            [binary, "-w", "2", "--max-requests", "0", "-b", f"127.0.0.1:{self.port}", "--log-level", "warning", app],
            cwd=REPO_ROOT,
            env={**os.environ, "AGGREGATOR_LOG_LEVEL": "WARNING", **env},
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self._wait(ready_path)

    def settle(self, timeout: float = 60) -> None:
        """Wait until the workers have finished what the last load left in flight (renders go on
        after wrk hangs up): until their CPU time stands still for a quarter of a second."""
        deadline, spent = time.monotonic() + timeout, self._cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            spent, before = self._cpu_seconds(), spent
            if spent - before < 0.01:
                return

    def _cpu_seconds(self) -> float:
        pid = self.process.pid
        ticks = 0
        for worker in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):  # a worker that has just exited
                fields = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        super().close()
        self.log.close()

    def _wait(self, path: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"gunicorn exited: {self.log.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(self.base + path, trust_env=False, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.close()
        raise RuntimeError(f"gunicorn did not answer on {self.base}{path}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the poll that runs beside the measurement ---------------------------------------------------


class Poller(ChildProcess):
    """`python -m bench.serve poll CONFIG`, warmed up before it is first told to go; `during`
    runs a measurement while it polls, and tells what it did meanwhile."""

    grace = 60  # a cycle in progress is let finish

    def __init__(self, config: Path, start_up: float = 600) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "bench.serve", "poll", str(config)], cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, name="poller-output", daemon=True).start()
        if self._next(start_up) != "READY":
            self.close()
            raise RuntimeError("serve: the poller did not start")

    def during(self, measure: Callable[[], dict]) -> dict:
        """`measure()` while the poller polls cycle after cycle; its result with the poll's figures."""
        self._tell("go")
        started = time.time()
        measured = measure()
        ended = time.time()
        self._tell("pause")
        cycles = []
        while (line := self._next(900)) != "PAUSED":
            cycles.append(json.loads(line))
        return measured | poll_figures(cycles, started, ended)

    def close(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()  # the poller ends after its cycle
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(self.grace)
        super().close()

    def _read(self) -> None:
        for line in self.process.stdout or ():
            self._lines.put(line.strip())
        self._lines.put("")

    def _next(self, timeout: float) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError("serve: the poller stopped answering") from None
        if not line:
            raise RuntimeError(f"serve: the poller exited ({self.process.poll()})")
        return line

    def _tell(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()


def poll_figures(cycles: list[dict], started: float, ended: float) -> dict:
    """The poll's cycles (each with wall-clock `started` and `finished`) against a measurement
    window: new items, items/s over the cycles, and the share of the window they covered."""
    if not cycles:
        raise RuntimeError("serve: the poll ran no cycle during the measurement")
    busy = sum(max(0.0, min(c["finished"], ended) - max(c["started"], started)) for c in cycles)
    new = sum(c["new"] for c in cycles)
    return {
        "poll_cycles": len(cycles),
        "poll_new_items": new,
        "poll_items_per_s": new / (cycles[-1]["finished"] - cycles[0]["started"]),
        "poll_busy_share": round(busy / (ended - started), 3),
        "poll_fewest_new": min(c["new"] for c in cycles),
        "poll_cpu_ms_per_item": 1000 * sum(c["cpu_seconds"] for c in cycles) / max(1, new),
        "poll_errors": sum(c["errors"] for c in cycles),
        "poll_cycle_seconds": [round(c["seconds"], 2) for c in cycles],
        "poll_longest_lock_ms": max((max(c["lock_ms"], default=0) for c in cycles), default=0),
    }


def poll_until_told(config: str) -> int:
    """The poller: READY once warmed up; on `go`, poll every feed cycle after cycle (a JSON line
    each, `bench.cycle`'s figures with wall-clock start and end; at least one) until `pause`
    (PAUSED after the cycle in progress); stdin closing ends it."""
    from aggregator.service import Service
    from aggregator.settings import load_settings
    from bench.cycle import one_cycle

    service = Service(load_settings(config, env={})).prepare().warm_up()
    commands: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_listen, args=(commands,), daemon=True).start()
    print("READY", flush=True)
    while commands.get() == "go":
        told = False
        while not told:  # at least one cycle per `go`
            started = time.time()
            cycle = one_cycle(service)
            print(json.dumps(cycle | {"started": started, "finished": time.time()}), flush=True)
            told = not commands.empty()
        if commands.get() != "pause":
            break
        print("PAUSED", flush=True)
    return 0


def _listen(commands: queue.Queue[str]) -> None:
    for line in sys.stdin:
        commands.put(line.strip())
    commands.put("")


if __name__ == "__main__":
    if sys.argv[1:2] != ["poll"] or len(sys.argv) != 3:
        raise SystemExit("usage: python -m bench.serve poll CONFIG")
    raise SystemExit(poll_until_told(sys.argv[2]))
