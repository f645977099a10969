"""Schema migrations with Alembic: `upgrade` brings any database to the current schema.

The migration scripts live in `aggregator/migrations/versions` (shipped in the wheel). Every
start upgrades; `aggregator db upgrade` and `db downgrade REV` move a database on purpose, and a
schema change is a new revision: `aggregator db revision -m "what changed"` (in a checkout)
writes `NNNN_what_changed.py` from the difference between the models and a database at head, to
be reviewed by hand.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
MIGRATION_LOCK = 0x4D696772  # any constant shared by every process of the service


def _config(connection: Connection | None = None, version_path: Path | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if version_path is not None:  # a new revision written elsewhere, its predecessors still read here
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", os.pathsep.join([str(MIGRATIONS / "versions"), str(version_path)]))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Migrate to `revision` and return the revision reached; processes starting together take
    turns (a lock per database)."""
    with _migrating(engine) as connection:
        command.upgrade(_config(connection), revision)
    return current(engine)


def downgrade(engine: Engine, revision: str) -> str | None:
    """Undo migrations down to `revision` ("base": an empty schema) and return the one reached."""
    with _migrating(engine) as connection:
        command.downgrade(_config(connection), revision)
    return current(engine)


def revision(engine: Engine, message: str, version_path: Path | None = None) -> Path:
    """Write the next revision from the models' difference with the database (which must be at
    head) and return its file: numbered after the head, named after `message`."""
    previous = head()
    number = f"{int(previous) + 1:04d}" if previous and previous.isdigit() else None
    with engine.begin() as connection:
        script = command.revision(
            _config(connection, version_path),
            message=message,
            autogenerate=True,
            rev_id=number,
            version_path=str(version_path) if version_path else None,
        )
    return Path(script.path)  # type: ignore[union-attr]  # one script: no branches are merged here


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """One transaction that holds the database's migration lock."""
    with _sqlite_file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        yield connection


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """SQLite runs DDL outside transactions, so concurrent first starts are kept apart by a
    lock file beside the database."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
