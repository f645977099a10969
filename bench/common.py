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
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
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
