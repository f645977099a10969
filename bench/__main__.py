"""`python -m bench [--quick] [MEASURE ...]`: run the benchmarks, print one table, write results.json.

Speed measures (each a ratio measured side by side in this run, with its target):
ingest, peer (against lemon24/reader, installed into a throwaway virtualenv), poll, burst,
serve, scale, memory. Quality measures by their own modules, when present:
topics, stories (their figures go to results.json and their own report; a failure or a
missing ../shared is reported as skipped, never stops the run). With no MEASURE, all run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Row, print_row, print_table

SPEED = ("ingest", "peer", "poll", "burst", "serve", "scale", "memory")
QUALITY = ("topics", "stories")
RESULTS = Path(__file__).resolve().parent / "results.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("measures", nargs="*", metavar="MEASURE", help=f"any of {', '.join(SPEED + QUALITY)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a quick look, not the figures of record")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"where the JSON goes (default {RESULTS})")
    args = parser.parse_args(argv)
    unknown = [m for m in args.measures if m not in SPEED + QUALITY]
    if unknown:
        parser.error(f"unknown measure {', '.join(unknown)}: choose from {', '.join(SPEED + QUALITY)}")
    wanted = args.measures or [*SPEED, *QUALITY]
    started = time.perf_counter()
    rows: list[Row] = []
    results: dict[str, Any] = {}
    try:
        for name in wanted:
            print(f"== {name}", flush=True)
            if name in SPEED:
                results[name] = _speed(name, args.quick, rows)
            else:
                results[name] = _quality(name, rows)
    finally:
        from bench.fleet import close_all

        close_all()
    print()
    print_table(rows)
    _write(args.output, args.quick, wanted, rows, results, time.perf_counter() - started)
    print(f"\nwritten to {args.output}")
    return 0


def _speed(name: str, quick: bool, rows: list[Row]) -> dict:
    module = importlib.import_module(f"bench.{name}")
    try:
        result = module.run(quick=quick)
    except Exception as exc:  # noqa: BLE001 - one measure's failure is reported, the others still run
        traceback.print_exc()
        row = Row(f"{name}: failed", None, note=f"{type(exc).__name__}: {exc}"[:300])
        rows.append(row)
        print_row(row)
        return {"error": row.note}
    for row in result["rows"]:
        print_row(row)
    rows.extend(result["rows"])
    return {k: v for k, v in result.items() if k != "rows"} | {"rows": [r.as_dict() for r in result["rows"]]}


def _quality(name: str, rows: list[Row]) -> dict:
    """Another engineer's benchmark module: its run() figures, or why it was skipped."""
    try:
        module = importlib.import_module(f"bench.{name}")
        figures = module.run()
    except Exception as exc:  # noqa: BLE001 - their module may be absent, broken or missing data
        reason = f"{type(exc).__name__}: {exc}"[:300]
        rows.append(Row(f"{name}: skipped", None, note=reason))
        print(f"  {name}: skipped ({reason})")
        return {"skipped": reason}
    if isinstance(figures, dict) and "skipped" in figures:
        rows.append(Row(f"{name}: skipped", None, note=str(figures["skipped"])))
    report = getattr(module, "report", None)
    if callable(report):
        with contextlib.suppress(Exception):  # printing is a courtesy: the figures are returned all the same
            report(figures)
    else:
        print(f"  {json.dumps(_plain(figures), ensure_ascii=False)[:2000]}")
    return _plain(figures)


def _plain(value: Any) -> Any:
    """JSON-ready: dataclasses and other objects become dicts or strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _write(path: Path, quick: bool, wanted: list[str], rows: list[Row], results: dict, seconds: float) -> None:
    document = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "measures": wanted,
        "seconds": round(seconds, 1),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "table": [r.as_dict() for r in rows],
        "results": _plain(results),
    }
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
