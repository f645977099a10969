"""Burst sharing: a burst of due feeds polled by 3 pollers side by side ÷ by 1 alone.

60 feeds of 10 items, each on its own loopback host answering in 0.3 s (latency-bound, as a
burst after an outage or an OPML import is), fall due at once. Each poller is a process of
its own (`python -m bench.burst CONFIG`, as `aggregator worker`s are) on one new SQLite
database: it warms up (classifier fit), says READY, and polls once when told to go, so that
start-up is not timed and all start together. The wall time runs from the first start to the
last finish; the figure is the time with 3 pollers ÷ with 1, median of the rounds. Pollers
that share the burst bring it towards 1/3.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import PYTHON, REPO_ROOT, FeedServerProcess, Row, config_dict, median, stop, write_config

FEEDS, ITEMS, LATENCY, CONCURRENCY, POLLERS = 60, 10, 0.3, 4, 3
TARGET = 0.5


def run(quick: bool = False) -> dict:
    rounds = 1 if quick else 3
    results = []
    with FeedServerProcess(FEEDS, ITEMS, LATENCY, time.time()) as server, tempfile.TemporaryDirectory() as tmp:
        for number in range(rounds):
            bursts = {}
            for pollers in (1, POLLERS):
                raw = config_dict(Path(tmp) / f"burst{number}-{pollers}.db", server.feed_list(), polling={"concurrency": CONCURRENCY})
                bursts[pollers] = _burst(write_config(Path(tmp) / f"burst{number}-{pollers}.toml", raw), pollers)
            results.append({"ratio": bursts[POLLERS]["seconds"] / bursts[1]["seconds"], "alone": bursts[1], "shared": bursts[POLLERS]})
    middle = sorted(results, key=lambda r: r["ratio"])[len(results) // 2]
    row = Row(
        f"burst: {FEEDS} due feeds, wall time with {POLLERS} pollers ÷ with 1",
        median(r["ratio"] for r in results),
        TARGET,
        at_least=False,
        raw={
            "rounds": rounds,
            "alone_s": middle["alone"]["seconds"],
            "shared_s": middle["shared"]["seconds"],
            "feeds_each": middle["shared"]["feeds_each"],
        },
        note=f"{LATENCY} s per answer, {CONCURRENCY} fetches at once per poller, each poller a process",
    )
    return {"rows": [row], "rounds": results}


def _burst(config: Path, pollers: int) -> dict:
    """Start `pollers` processes on `config`, let them all go at once, and time the burst."""
    children = [
        subprocess.Popen(
            [PYTHON, "-m", "bench.burst", str(config)], cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(pollers)
    ]
    try:
        for child in children:
            line = child.stdout.readline()
            if line.strip() != "READY":
                raise RuntimeError(f"a burst poller did not start: {line!r}")
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        done = [json.loads(child.stdout.readline()) for child in children]
    finally:
        for child in children:
            stop(child, 10)
    return {
        "seconds": max(d["finished"] for d in done) - min(d["started"] for d in done),
        "feeds_each": sorted(d["feeds"] for d in done),
    }


def main() -> int:
    """A child: one poller on CONFIG; READY once warmed up, one poll cycle on `go`, a JSON line."""
    from aggregator.service import Service
    from aggregator.settings import load_settings

    service = Service(load_settings(sys.argv[1], env={})).prepare().warm_up()
    print("READY", flush=True)
    sys.stdin.readline()
    started = time.time()
    feeds = len(service.poll().feeds)
    print(json.dumps({"started": started, "finished": time.time(), "feeds": feeds}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
