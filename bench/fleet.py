"""The 500-feed fleet shared by the poll and memory benchmarks.

500 generated feeds behind `bench.feedserver` with 50 ms of latency per response (304 to a
request carrying the feed's ETag), a configuration pointing at them, and a database filled by
one cold cycle in a child process (`bench.cycle`), whose peak RSS the memory benchmark
reports. Built once per `python -m bench` run and reused; `close()` stops the server and
removes the files.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import FeedServerProcess, config_dict, run_child, write_config

FEEDS = 500
LATENCY = 0.05


@dataclass
class Fleet:
    feeds: int
    items: int
    latency: float
    server: FeedServerProcess
    folder: Path
    config: Path
    cold: dict = field(default_factory=dict)
    steady: dict | None = None

    def close(self) -> None:
        self.server.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_fleets: dict[bool, Fleet] = {}


def items_per_feed(quick: bool) -> int:
    return 10 if quick else 40


def get_fleet(quick: bool = False) -> Fleet:
    """The fleet for this run: started, and its database filled by one cold cycle."""
    if quick in _fleets:
        return _fleets[quick]
    items = items_per_feed(quick)
    folder = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    server = FeedServerProcess(FEEDS, items, LATENCY, now=time.time())
    try:
        config = write_config(folder / "config.toml", config_dict(folder / "fleet.db", server.feed_list()))
        fleet = Fleet(FEEDS, items, LATENCY, server, folder, config)
        fleet.cold = run_child("bench.cycle", str(config), "--cycles", "1", timeout=4 * 3600)
    except BaseException:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _fleets[quick] = fleet
    return fleet


def close_all() -> None:
    while _fleets:
        _fleets.popitem()[1].close()
