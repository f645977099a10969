"""The package as a user installs it: the wheel built from this checkout, installed into a
virtualenv of its own, run from a folder outside the checkout.

The wheel is built without build isolation and installed without dependencies, so nothing is
downloaded: the new virtualenv reads the dependencies from the one running the tests (a .pth
line naming its site-packages; the editable install's own .pth there is not processed, so the
checkout stays out of reach). Nothing here touches the test database: not run on the
PostgreSQL pass.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheel

CHECKOUT = Path(__file__).resolve().parent.parent
BUILD_INPUTS = ("pyproject.toml", "README.md", "config.toml", "templates", "static", "aggregator")


@dataclass(frozen=True)
class Installed:
    venv: Path
    site_packages: Path

    def command(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "aggregator"), *args], cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=120
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(root)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_packages,) = venv.glob("lib/python*/site-packages")
    reuse = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site_packages / "test-run-dependencies.pth").write_text("\n".join(sorted(reuse)) + "\n", encoding="utf-8")
    _run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-deps", "--no-index", str(wheel)]
    )
    return Installed(venv, site_packages)


def _build_wheel(root: Path) -> Path:
    """From a copy of what the build reads, so a concurrent build in the checkout cannot collide."""
    source = root / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (CHECKOUT / name).is_dir():
            shutil.copytree(CHECKOUT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(CHECKOUT / name, source / name)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(root / "dist"),
            str(source),
        ]
    )
    (wheel,) = (root / "dist").glob("aggregator-*.whl")
    return wheel


def test_the_installed_copy_is_imported_not_the_checkout(installed, tmp_path):
    probe = subprocess.run(
        [
            str(installed.venv / "bin" / "python"),
            "-c",
            "import aggregator, aggregator.storage.migrate as m; print(aggregator.__file__); print(m.MIGRATIONS)",
        ],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    package, migrations = map(Path, probe.stdout.split())
    assert package.is_relative_to(installed.site_packages) and migrations.is_relative_to(installed.site_packages)
    assert (package.parent / "templates" / "error.html").is_file() and not (package.parent / "templates").is_symlink()


def test_db_upgrade_from_the_wheel_migrates_and_names_the_revision(installed, tmp_path):
    config = _write_config(tmp_path, port=8000)
    result = installed.command("--config", str(config), "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    database = re.escape(f"sqlite:///{tmp_path.resolve() / 'data' / 'news.db'}")
    assert re.fullmatch(rf"Database at revision \d{{4}} \(the newest\): {database}\n", result.stdout)


def test_the_installed_command_serves_the_digest_its_stylesheet_and_the_feeds(installed, tmp_path):
    port = _free_port()
    config = _write_config(tmp_path, port)
    with _serving(installed, config, port) as base:
        status, headers, page = _get(base + "/")
        assert status == 200 and "Проверка пакета" in page
        (stylesheet,) = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
        status, headers, css = _get(base + stylesheet)
        assert status == 200 and headers["Content-Type"].startswith("text/css") and "{" in css
        status, headers, atom = _get(base + "/feeds/all.atom")
        assert status == 200 and headers["Content-Type"].startswith("application/atom+xml") and "<feed" in atom
    assert (tmp_path / "data" / "news.db").is_file()  # beside the config, not in site-packages


def test_without_a_config_a_command_says_in_one_line_how_to_give_one(installed, tmp_path):
    result = installed.command("poll", cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert "--config PATH" in line and "AGGREGATOR_CONFIG" in line
    example = Path(line.rsplit(" ", 1)[-1])
    assert example.is_relative_to(installed.site_packages) and "[[feeds]]" in example.read_text(encoding="utf-8")


def test_the_shipped_example_never_puts_a_database_in_site_packages(installed, tmp_path):
    example = installed.site_packages / "aggregator" / "config.toml"
    result = installed.command("--config", str(example), "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 1 and "copy the file to a folder of your own" in result.stderr
    assert not (example.parent / "instance").exists()


def _write_config(folder: Path, port: int) -> Path:
    config = folder / "my.toml"
    config.write_text(
        f'[service]\ntitle = "Проверка пакета"\nbase_url = "http://127.0.0.1:{port}"\ntimezone = "Asia/Tomsk"\n\n'
        '[database]\nurl = "sqlite:///data/news.db"\n',
        encoding="utf-8",
    )
    return config


@contextmanager
def _serving(installed: Installed, config: Path, port: int) -> Iterator[str]:
    log = config.parent / "serve.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [str(installed.venv / "bin" / "aggregator"), "--config", str(config), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=config.parent,
            env=_clean_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base + "/healthz", server, log)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"aggregator serve exited with {server.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if _get(url)[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    pytest.fail(f"aggregator serve did not answer within {timeout} s:\n{log.read_text(errors='replace')}")


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read().decode("utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _clean_env() -> dict[str, str]:
    """Nothing from the test run decides what is imported or which configuration is read."""
    return {
        key: value for key, value in os.environ.items() if not key.startswith(("AGGREGATOR_", "PYTHON")) and key not in ("VIRTUAL_ENV",)
    }


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
