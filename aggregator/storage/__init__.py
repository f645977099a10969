"""Storage: the one facade through which everything reads and writes the database.

`Storage.feeds` manages feeds and their health; `storage.items` (module) writes items and
stories inside a transaction from `Storage.transaction()`; `storage.queries` (module) reads
them back for pages, feeds and the API through `Storage.read()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy.orm import Session

from aggregator.settings import Settings
from aggregator.storage import migrate
from aggregator.storage.db import make_engine, make_sessions
from aggregator.storage.feeds import FeedStore, FeedView


class Storage:
    def __init__(self, url: str, default_interval: timedelta = timedelta(minutes=15)) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = make_sessions(self.engine)
        self.feeds = FeedStore(self._sessions, default_interval)

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        return cls(settings.database.url, timedelta(minutes=settings.polling.interval_minutes))

    def create_schema(self) -> None:
        """Bring the database to the current schema (Alembic migrations; a new one is made whole)."""
        migrate.upgrade(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["FeedView", "Storage"]
