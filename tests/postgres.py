"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, a server on a
free port of 127.0.0.1, removed at the end. Used when AGGREGATOR_TEST_POSTGRES_URL does not
name a server already running. Each test gets a schema of its own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def server_binaries() -> Path | None:
    for folder in BIN_DIRS:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _as_postgres_user() -> list[str]:
    """initdb refuses to run as root: run the server as the `postgres` user Debian creates."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Yield a superuser URL of a fresh cluster; stop and delete it afterwards."""
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL server binaries not found (Debian package postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="aggregator-pg-"))
    data, port, sudo = folder / "data", _free_port(), _as_postgres_user()
    if sudo:
        shutil.chown(folder, "postgres")

    def run(*args: str) -> None:
        subprocess.run([*sudo, *args], check=True, capture_output=True, text=True)

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*sudo, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def fresh_schema_url(server_url: str, schema: str | None = None) -> str:
    """A URL whose connections work in a schema of their own (created when missing)."""
    schema = schema or "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    separator = "&" if "?" in server_url else "?"
    return f"{server_url}{separator}options=-csearch_path%3D{schema}"
