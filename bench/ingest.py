"""Cold ingest: the whole pipeline's items/s ÷ `feedparser.parse` alone, on the same documents.

Local feeds of 100 generated Russian items each (`bench.corpus`) are served on 127.0.0.1 by
`bench.feedserver`; a fresh process (`bench.cycle`) builds the service on an empty SQLite
database, does the start-up work (classifier fit, word vectors: reported apart, not timed),
then runs one `poll(include_all=True)`: fetch over loopback, parse, normalise, classify, group into
stories, store. The same process times `feedparser.parse` with its default settings on the
same documents just before and just after, and the ratio is taken against their mean. It
also times our parse and normalise stages alone on the documents: their ratio is the ceiling
the whole pipeline could reach, since it parses with feedparser too.
Each round uses a new process and a new database; the figure is the median round.

Both rows are information: the whole pipeline will never be cheaper than feedparser alone
while it reads meaning, so the speed target is set against a peer doing the same job
(`bench.peer`, lemon24/reader), not against the parser.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import SEED, FeedServerProcess, Row, config_dict, median, run_child, write_config

ITEMS_PER_FEED = 100


def run(quick: bool = False, feeds: int | None = None, rounds: int | None = None) -> dict:
    feeds = feeds or (5 if quick else 20)
    rounds = rounds or (1 if quick else 3)
    now = time.time()
    results = []
    with FeedServerProcess(feeds, ITEMS_PER_FEED, latency=0.0, now=now) as server, tempfile.TemporaryDirectory() as tmp:
        for number in range(rounds):
            config = write_config(Path(tmp) / f"config{number}.toml", config_dict(Path(tmp) / f"ingest{number}.db", server.feed_list()))
            child = run_child("bench.cycle", str(config), "--baseline", str(feeds), str(ITEMS_PER_FEED), str(SEED), str(now))
            results.append(_round(child, feeds))
    best = sorted(results, key=lambda r: r["ratio"])[len(results) // 2]
    row = Row(
        "ingest: pipeline items/s ÷ feedparser.parse items/s",
        median(r["ratio"] for r in results),
        None,
        raw={
            "feeds": feeds,
            "items": feeds * ITEMS_PER_FEED,
            "rounds": rounds,
            "pipeline_items_per_s": best["pipeline_items_per_s"],
            "feedparser_items_per_s": best["feedparser_items_per_s"],
            "pipeline_ms_per_item": 1000 / best["pipeline_items_per_s"],
            "feedparser_ms_per_item": 1000 / best["feedparser_items_per_s"],
            "pipeline_cpu_ms_per_item": best["pipeline_cpu_ms_per_item"],
            "stored": best["stored"],
            "start_up_s": best["start_up_seconds"],
        },
        note="start-up (classifier fit or kept model, word vectors) excluded from the timing, reported as start_up_s;"
        " information only: the speed target is `peer`'s",
    )
    ceiling = Row(
        "ingest ceiling: parse + normalise alone ÷ feedparser.parse",
        median(r["ceiling"] for r in results),
        None,
        raw={"first_stages_ms_per_item": median(r["first_stages_ms_per_item"] for r in results)},
        note="the best ingest ratio possible if classifying, story placement and storage cost nothing",
    )
    held = sorted(ms for r in results for ms in r["lock_ms"])
    lock = Row(
        "ingest: story lock held per feed, p50",
        percentile(held, 0.5),
        None,
        unit=" ms",
        raw={"p50_ms": percentile(held, 0.5), "p95_ms": percentile(held, 0.95), "max_ms": held[-1] if held else 0.0, "feeds": len(held)},
        note=f"p95 {percentile(held, 0.95):.1f} ms; from taking the lock to the commit, {ITEMS_PER_FEED} new items a feed",
    )
    return {"rows": [row, ceiling, lock], "rounds": results}


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted `values` (0 when there are none)."""
    return values[min(len(values) - 1, int(share * len(values)))] if values else 0.0


def _round(child: dict, feeds: int) -> dict:
    cycle = child["cycles"][0]
    if cycle["errors"]:
        raise RuntimeError(f"ingest: {cycle['errors']} feeds failed: {cycle['first_error']}")
    items = feeds * ITEMS_PER_FEED
    pipeline = items / cycle["seconds"]
    baseline = (child["baseline_before"]["items_per_s"] + child["baseline_after"]["items_per_s"]) / 2
    return {
        "ratio": pipeline / baseline,
        "pipeline_items_per_s": pipeline,
        "feedparser_items_per_s": baseline,
        "pipeline_seconds": cycle["seconds"],
        "pipeline_cpu_ms_per_item": 1000 * cycle["cpu_seconds"] / items,
        "stored": cycle["new"],
        "start_up_seconds": child["start_up_seconds"],
        "document_bytes": child["document_bytes"],
        "ceiling": child["first_stages"]["items_per_s"] / baseline,
        "first_stages_ms_per_item": 1000 / child["first_stages"]["items_per_s"],
        "lock_ms": cycle["lock_ms"],
    }
