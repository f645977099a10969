"""Child process of the ingest, poll and memory benchmarks: poll cycles in a fresh interpreter.

`python -m bench.cycle CONFIG --cycles K` builds the service from CONFIG, warms it up
(classifier fit, word vectors; timed apart), runs K `poll(include_all=True)` cycles and prints one JSON line:
per cycle wall and CPU seconds, new / not-modified / failed feeds, and peak RSS so far.
`--baseline FEEDS ITEMS SEED NOW` also times `feedparser.parse` (default settings) on the
same corpus documents before and after the first cycle, side by side, and our own first two
stages (parse and normalise) alone on them: the pipeline can be no faster than those.
`--profile FILE` writes a pyinstrument text profile of the cycles (pyinstrument must be installed).
A fresh process per run keeps caches (lemmas, SQLite pages) as cold as a service start.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import UTC, datetime

import feedparser

from aggregator.entities import Fetched
from aggregator.pipeline.normalise import normalise_feed
from aggregator.pipeline.parse import parse_feed
from aggregator.service import Service
from aggregator.settings import load_settings


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def feedparser_rate(documents: list[bytes]) -> dict[str, float]:
    """items/s of `feedparser.parse` with its default settings, one document after another."""
    started, cpu = time.perf_counter(), time.process_time()
    entries = sum(len(feedparser.parse(doc).entries) for doc in documents)
    wall = time.perf_counter() - started
    return {"items": entries, "seconds": wall, "cpu_seconds": time.process_time() - cpu, "items_per_s": entries / wall}


def first_stages_rate(documents: list[bytes], now: datetime) -> dict[str, float]:
    """items/s of our parse and normalise stages alone, one document after another."""
    started = time.perf_counter()
    items = sum(len(normalise_feed(parse_feed(Fetched("http://127.0.0.1/feed.xml", 200, doc)), now)) for doc in documents)
    wall = time.perf_counter() - started
    return {"items": items, "seconds": wall, "items_per_s": items / wall}


def one_cycle(service: Service) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    outcome = service.poll(include_all=True)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    feeds = outcome.feeds
    errors = [f for f in feeds if f.error]
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "feeds": len(feeds),
        "new": sum(f.new for f in feeds),
        "updated": sum(f.updated for f in feeds),
        "not_modified": sum(1 for f in feeds if f.not_modified),
        "errors": len(errors),
        "first_error": errors[0].error if errors else None,
        "peak_rss_mb": peak_rss_mb(),
        "lock_ms": sorted(1000 * f.locked_seconds for f in feeds if f.locked_seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config")
    parser.add_argument("--cycles", type=int, default=1)
    parser.add_argument("--baseline", nargs=4, metavar=("FEEDS", "ITEMS", "SEED", "NOW"))
    parser.add_argument("--profile")
    args = parser.parse_args(argv)
    result: dict = {"rss_at_start_mb": peak_rss_mb()}
    service = Service(load_settings(args.config, env={})).prepare()
    started = time.perf_counter()
    service.warm_up()  # the classifier fit and the word vectors: once per process, timed apart from the cycles
    result["start_up_seconds"] = time.perf_counter() - started
    result["rss_after_fit_mb"] = peak_rss_mb()
    documents = []
    if args.baseline:
        from bench.corpus import feed_document

        feeds, items, seed, now = int(args.baseline[0]), int(args.baseline[1]), int(args.baseline[2]), float(args.baseline[3])
        moment = datetime.fromtimestamp(now, UTC)
        documents = [feed_document(n, items, seed, moment) for n in range(feeds)]
        result["baseline_before"] = feedparser_rate(documents)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    result["cycles"] = [one_cycle(service) for _ in range(args.cycles)]
    if profiler is not None:
        profiler.stop()
        with open(args.profile, "w", encoding="utf-8") as out:
            out.write(profiler.output_text(unicode=True, color=False, show_all=False))
    if documents:
        result["baseline_after"] = feedparser_rate(documents)
        result["first_stages"] = first_stages_rate(documents, moment)
        result["document_bytes"] = sum(len(d) for d in documents)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
