"""Steady poll: a cycle over 500 unchanged feeds behind a 50 ms server, each feed on its own
loopback address (as outlets are separate sites, so per-host politeness does not serialise them).

After the fleet's cold cycle (`bench.fleet`) every feed has an ETag, so the server answers
304 to each request. A fresh process runs three `poll(include_all=True)` cycles; the figure
is the median cycle's wall time ÷ the ideal, latency × feeds ÷ `[polling] concurrency`
(what a poller that costs nothing but the waits would take), and its CPU time per feed
(the whole process, every thread, from `time.process_time`).
"""

from __future__ import annotations

from bench.common import Row, median, run_child
from bench.fleet import get_fleet

CYCLES = 3
TARGET_RATIO = 1.2
TARGET_CPU_MS = 2.0


def run(quick: bool = False) -> dict:
    fleet = get_fleet(quick)
    from aggregator.settings import load_settings

    concurrency = load_settings(fleet.config, env={}).polling.concurrency
    before = fleet.server.stats()
    child = run_child("bench.cycle", str(fleet.config), "--cycles", str(CYCLES))
    after = fleet.server.stats()
    fleet.steady = child
    cycles = child["cycles"]
    for cycle in cycles:
        if cycle["errors"] or cycle["not_modified"] != fleet.feeds:
            raise RuntimeError(f"poll: expected {fleet.feeds} unchanged feeds, got {cycle}")
    ideal = fleet.latency * fleet.feeds / concurrency
    wall = median(c["seconds"] for c in cycles)
    cpu_ms = 1000 * median(c["cpu_seconds"] for c in cycles) / fleet.feeds
    answers = {code: after[code] - before[code] for code in after}
    cold = fleet.cold["cycles"][0]
    common = {"feeds": fleet.feeds, "items_stored": cold["new"], "concurrency": concurrency, "latency_s": fleet.latency}
    rows = [
        Row(
            "poll: steady cycle wall ÷ ideal",
            wall / ideal,
            TARGET_RATIO,
            at_least=False,
            raw={**common, "wall_s": wall, "ideal_s": ideal, "cycles": [round(c["seconds"], 3) for c in cycles], "server_answers": answers},
        ),
        Row(
            "poll: CPU per unchanged feed",
            cpu_ms,
            TARGET_CPU_MS,
            at_least=False,
            unit="ms",
            raw={"cpu_s_per_cycle": [round(c["cpu_seconds"], 3) for c in cycles], "feeds": fleet.feeds},
        ),
    ]
    return {"rows": rows, "steady": child}
