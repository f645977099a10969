"""Storage: the one facade through which everything reads and writes the database.

`Storage.feeds` manages feeds and their health; `Storage.items` reads what a feed's decision
needs and writes the decision (a `FeedIntent`) in one transaction; `Storage.reads` reads them back for
pages, feeds, the API, metrics and WebSub; `Storage.editorial` applies and records editors'
corrections; `Storage.retention` prunes old stories. Each opens its own sessions. `ping()` and
`on_commit()` serve readiness and the page cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from aggregator.settings import Settings
from aggregator.storage import migrate
from aggregator.storage.db import make_engine, make_sessions
from aggregator.storage.editorial import Editorial
from aggregator.storage.feeds import FeedStore, FeedView
from aggregator.storage.items import ItemStore
from aggregator.storage.queries import Reads
from aggregator.storage.retention import Retention


class Storage:
    def __init__(self, url: str, default_interval: timedelta = timedelta(minutes=15)) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = make_sessions(self.engine)
        self.feeds = FeedStore(self._sessions, default_interval)
        self.items = ItemStore(self._sessions)
        self.reads = Reads(self._sessions)
        self.editorial = Editorial(self._sessions)
        self.retention = Retention(self._sessions)

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        return cls(settings.database.url, timedelta(minutes=settings.polling.interval_minutes))

    def create_schema(self) -> None:
        """Bring the database to the current schema (Alembic migrations; a new one is made whole)."""
        migrate.upgrade(self.engine)

    # A session of one's own, for tests and one-off tools that inspect the database; the
    # service's code goes through the stores above, which open their own.

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    def ping(self) -> None:
        """Ask the database the simplest question; raises when it does not answer (readiness)."""
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` at every commit this process makes (the page cache's cue that the
        data changed; other processes' commits it learns of by asking `reads.data_version`)."""
        event.listen(self.engine, "commit", lambda _connection: callback())

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["FeedView", "Storage"]
