"""`python -m demo [--host H] [--port P]`: the aggregator running on the bundled sample feeds.

Serves the sample feeds (and their pictures) on a free 127.0.0.1 port, writes `instance/demo-config.toml` (the
repository's `config.toml` with `[[feeds]]` pointing at them, private addresses allowed and a
demo SQLite database), then runs `aggregator poll --all` and `aggregator serve` with that config.
Feeds are rendered relative to the moment the demo started, so they stay the same while it runs.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from demo.render import FEEDS_DIR
from demo.server import serve_feeds

ROOT = Path(__file__).resolve().parent.parent


def demo_config(base_config: Path, feeds_url: str, host: str, port: int, db_path: Path) -> dict[str, Any]:
    """The repository configuration pointed at the local sample feeds."""
    config = tomllib.loads(base_config.read_text(encoding="utf-8"))
    expected = json.loads((FEEDS_DIR / "expected.json").read_text(encoding="utf-8"))
    config["feeds"] = [{"url": f"{feeds_url}/{f['file']}", "name": f["outlet"]} for f in expected["feeds"]]
    config.setdefault("polling", {})["allow_private_addresses"] = True
    config.setdefault("database", {})["url"] = f"sqlite:///{db_path}"
    config.setdefault("service", {})["base_url"] = f"http://{host}:{port}"
    return config


def config_toml(config: dict[str, Any]) -> str:
    """TOML text of a configuration, with the feeds written as `[[feeds]]` tables."""
    rest = {key: value for key, value in config.items() if key != "feeds"}
    blocks = ["\n[[feeds]]\n" + tomli_w.dumps(feed) for feed in config.get("feeds", [])]
    return tomli_w.dumps(rest) + "".join(blocks)


def aggregator_command() -> list[str]:
    """The `aggregator` script next to this Python, or `python -m aggregator` without one."""
    bindir = Path(sys.executable).parent
    for name in ("aggregator", "aggregator.exe"):
        if (bindir / name).exists():
            return [str(bindir / name)]
    return [sys.executable, "-m", "aggregator"]


def stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Give a child `grace` seconds to exit by itself, then terminate it, then kill it."""
    for action, timeout in ((None, grace), (proc.terminate, 5.0), (proc.kill, None)):
        if action is not None:
            action()
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def run(cmd: list[str]) -> int:
    """Run a command to completion; when interrupted, stop it before passing the interruption on."""
    proc = subprocess.Popen(cmd)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        stop(proc, grace=10)  # Ctrl-C on the terminal reached the child as well
        raise
    except BaseException:
        stop(proc, grace=0)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description="Run the aggregator on the bundled sample feeds.")
    parser.add_argument("--host", default="127.0.0.1", help="address for the aggregator web service")
    parser.add_argument("--port", type=int, default=8000, help="port for the aggregator web service")
    parser.add_argument("--keep-db", action="store_true", help="keep instance/demo.db from a previous run")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    instance = ROOT / "instance"
    instance.mkdir(exist_ok=True)
    db_path = instance / "demo.db"
    if not args.keep_db:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)

    started = datetime.now(UTC)
    server, feeds_url = serve_feeds(lambda: started, local_images=True)
    try:
        config_path = instance / "demo-config.toml"
        config = demo_config(ROOT / "config.toml", feeds_url, args.host, args.port, db_path)
        config_path.write_text(config_toml(config), encoding="utf-8")
        print(f"Sample feeds: {feeds_url}/  config: {config_path}", flush=True)

        base = [*aggregator_command(), "--config", str(config_path)]
        code = run([*base, "poll", "--all"])
        if code != 0:
            print(f"demo: `aggregator poll --all` failed with exit code {code}", file=sys.stderr)
            return code
        print(f"Aggregator: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
        return run([*base, "serve", "--host", args.host, "--port", str(args.port)])
    except KeyboardInterrupt:
        print("\ndemo: stopped", file=sys.stderr)
        return 130
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
