"""The running service: settings, storage, classifier and clock, built once and shared.

The web app keeps one under `app.extensions["aggregator"]`; the CLI builds one per command.
Building it validates nothing new (settings are already valid) but prepares the database:
the schema exists and the stored feed list matches `config.toml`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cached_property
from threading import Lock

from aggregator.entities import CycleOutcome, FeedForUpdate, FeedOutcome
from aggregator.pipeline.classify import TopicClassifier
from aggregator.pipeline.poll import poll_cycle
from aggregator.settings import Settings
from aggregator.storage import Storage


def utc_now() -> datetime:
    return datetime.now(UTC)


class Service:
    def __init__(
        self, settings: Settings, clock: Callable[[], datetime] = utc_now, classifier: TopicClassifier | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.storage = Storage.from_settings(settings)
        self._poll_lock = Lock()
        if classifier is not None:
            self.classifier = classifier

    def prepare(self) -> Service:
        self.storage.create_schema()
        self.storage.feeds.sync_config(self.settings.feeds, self.clock())
        return self

    @cached_property
    def classifier(self) -> TopicClassifier:
        return TopicClassifier.from_settings(self.settings)

    @property
    def topic_titles(self) -> dict[str, str]:
        return {slug: topic.title for slug, topic in self.settings.topics.items()}

    def poll(
        self, include_all: bool = False, feeds: Sequence[FeedForUpdate] | None = None,
        on_feed: Callable[[FeedOutcome], None] | None = None,
    ) -> CycleOutcome:
        """One poll cycle; cycles in this process never overlap."""
        with self._poll_lock:
            now = self.clock()
            if feeds is None:
                feeds = self.storage.feeds.due(now, include_all=include_all)
            return poll_cycle(self.storage, self.settings, self.classifier, now, feeds=feeds, on_feed=on_feed)
