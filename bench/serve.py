"""Serving: requests/s under gunicorn ÷ a hello-world Flask app under the same settings.

A database is filled by the real pipeline (generated feeds on 127.0.0.1, one cold cycle in a
child process). Then `gunicorn -w 2 'aggregator:create_app()'` (AGGREGATOR_CONFIG and
AGGREGATOR_DATABASE_URL pointing at it) and `gunicorn -w 2 bench.hello:app` both run, and
`wrk` loads each path in turn on loopback, each run between two runs of the hello app, and a
path's ratio in a round is taken against the mean of the hello runs either side of it (load
from other tenants of a shared machine drifts within seconds). The paths: a topic's Atom
feed, the same feed with its ETag in If-None-Match (the 304 path), the digest page `/` and
`/api/items`. The figure is the median ratio over the rounds. Pages, feeds and API reads
come from the app's page cache once rendered; `digest_render` (information, no target) gives
every request a query parameter of its own through a wrk Lua script, so each one renders the
page, as the first request after new data does.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import PYTHON, REPO_ROOT, ChildProcess, FeedServerProcess, Row, config_dict, median, run_child, write_config

ITEMS_PER_FEED = 100
WRK_CONNECTIONS = 4
TOPIC = "city"
TARGETS = {"atom": 0.7, "atom_304": 0.9, "digest": 0.5, "api_items": None, "digest_render": None}
UNIQUE_PATHS = """counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/?r=" .. counter)
end
"""
LABELS = {
    "atom": f"serve: /feeds/{TOPIC}.atom rps ÷ hello-world rps",
    "atom_304": f"serve: /feeds/{TOPIC}.atom 304 rps ÷ hello-world rps",
    "digest": "serve: digest page / rps ÷ hello-world rps",
    "api_items": "serve: /api/items rps ÷ hello-world rps",
    "digest_render": "serve: digest page / rendered each time rps ÷ hello-world rps",
}


def run(quick: bool = False) -> dict:
    ensure_wrk()
    feeds, seconds, rounds = (10, 2, 1) if quick else (40, 3, 3)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        config = populate(folder, feeds)
        script = folder / "unique.lua"
        script.write_text(UNIQUE_PATHS, encoding="utf-8")
        env = {"AGGREGATOR_CONFIG": str(config), "AGGREGATOR_DATABASE_URL": f"sqlite:///{folder / 'serve.db'}"}
        with Gunicorn("aggregator:create_app()", env, "/healthz") as app, Gunicorn("bench.hello:app", {}, "/") as hello:
            paths = probe(app.base)
            plan = [
                ("atom", app.base + paths["atom"], ()),
                ("atom_304", app.base + paths["atom"], ("-H", f"If-None-Match: {paths['etag']}")),
                ("digest", app.base + "/", ()),
                ("api_items", app.base + "/api/items", ()),
                ("digest_render", app.base + "/", ("-s", str(script))),
            ]
            measured = [_round(plan, hello.base + "/", seconds) for _ in range(rounds)]
    rows = []
    for name, target in TARGETS.items():
        ratios = [m[name] / m[f"{name}_hello"] for m in measured]
        raw = {
            "rps": round(median(m[name] for m in measured), 1),
            "hello_rps": round(median(m[f"{name}_hello"] for m in measured), 1),
            "rounds": rounds,
            "wrk": f"-t1 -c{WRK_CONNECTIONS} -d{seconds}s",
            "gunicorn": "-w 2 (sync)",
        }
        if name.startswith("digest"):
            raw["stories_today"] = paths["digest_stories"]
        if name.startswith("atom"):
            raw["body_bytes"] = paths["atom_bytes"]
        rows.append(Row(LABELS[name], median(ratios), target, raw=raw))
    rows[0].raw["items_stored"] = paths["items"]
    return {"rows": rows, "rounds": measured}


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `apt-get install -y wrk` (make bench does it)")


def populate(folder: Path, feeds: int) -> Path:
    """A database filled by the pipeline from `feeds` generated feeds; returns its config."""
    with FeedServerProcess(feeds, ITEMS_PER_FEED, latency=0.0, now=time.time()) as server:
        config = write_config(folder / "config.toml", config_dict(folder / "serve.db", server.feed_list()))
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


def _round(plan: list[tuple[str, str, tuple[str, ...]]], hello: str, seconds: int) -> dict[str, float]:
    """Each path's requests/s, and as `<path>_hello` the mean of the hello runs either side of it."""
    rates, before = {}, wrk(hello, seconds)
    for name, url, extra in plan:
        rates[name] = wrk(url, seconds, extra)
        after = wrk(hello, seconds)
        rates[f"{name}_hello"], before = (before + after) / 2, after
    return rates


def wrk(url: str, seconds: int, extra: tuple[str, ...] = ()) -> float:
    """Requests/s that wrk measured; errors and non-2xx/3xx answers make it fail."""
    args = ["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", *extra, url]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    if "Non-2xx or 3xx" in out:
        raise RuntimeError(f"serve: {url} answered errors under load:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"serve: cannot read wrk's output:\n{out}")
    return float(match.group(1))


class Gunicorn(ChildProcess):
    """`gunicorn -w 2 APP` on a free loopback port, started and waited for."""

    grace = 20

    def __init__(self, app: str, env: dict[str, str], ready_path: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        binary = str(Path(PYTHON).parent / "gunicorn")
        self.process = subprocess.Popen(
            [binary, "-w", "2", "-b", f"127.0.0.1:{self.port}", "--log-level", "warning", app],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait(ready_path)

    def _wait(self, path: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.process.stderr.read().decode(errors='replace')[-2000:]}")
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
