"""The running service: settings, storage, classifier and clock, built once and shared.

The web app keeps one under `app.extensions["aggregator"]`; the CLI builds one per command.
Building it validates nothing new (settings are already valid) but prepares the database:
the schema exists and the stored feed list matches `config.toml`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from threading import Lock
from typing import TYPE_CHECKING

from aggregator import websub
from aggregator.cycle import StoryPlacer, poll_cycle
from aggregator.entities import CycleOutcome, FeedForUpdate, FeedOutcome, TopicDecision
from aggregator.pipeline import embeddings
from aggregator.pipeline.classify import LabelledText, TopicClassifier, TopicInput
from aggregator.settings import Settings
from aggregator.storage import Storage
from aggregator.storage.retention import Pruned

if TYPE_CHECKING:
    import numpy as np
    from apscheduler.schedulers.base import BaseScheduler


def utc_now() -> datetime:
    return datetime.now(UTC)


class Service:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
        classifier: TopicClassifier | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.storage = Storage.from_settings(settings)
        self._poll_lock = Lock()
        self.stories = StoryPlacer.from_settings(settings)
        self.scheduler: BaseScheduler | None = None  # set by `scheduler.start` when this process polls on a schedule
        self.cycle_running_since: datetime | None = None  # readiness watches these two (service clock)
        self.last_cycle_at: datetime | None = None
        if classifier is not None:
            self.classifier = classifier

    def prepare(self) -> Service:
        self.storage.create_schema()
        self.storage.feeds.sync_config(self.settings.feeds, self.clock())
        return self

    def warm_up(self) -> Service:
        """The one-time work of a polling process: fit the classifier, load the word vectors
        of story grouping. `aggregator worker` does it before its first claim; the scheduler
        inside `serve` leaves it to the first cycle, so the web answers at once."""
        self.classifier  # noqa: B018 - fitted once, then cached
        if self.stories.index.rules.reads_word_vectors:
            embeddings.available()
        self.stories.encoder.warm_up()
        return self

    @cached_property
    def classifier(self) -> TopicClassifier:
        return self.fit_classifier()

    def fit_classifier(self) -> TopicClassifier:
        """Fit on the shipped examples plus every editor's standing topic correction."""
        corrections = [LabelledText(c.title, c.summary, c.topic) for c in self.storage.editorial.corrections()]
        return TopicClassifier.from_settings(self.settings, corrections, encoder=self.stories.encoder)

    def reclassify(self, on_batch: Callable[[int], None] | None = None) -> int:
        """Refit, then recompute the topics of every stored item an editor has not set."""
        self.classifier = self.fit_classifier()
        return self.storage.items.reclassify(self.classify_stored, self.clock(), on_batch=on_batch)

    def classify_stored(
        self, title: str, summary: str, categories: Sequence[str], feed_topic: str | None, vector: np.ndarray | None = None
    ) -> TopicDecision:
        return self.classifier.classify(TopicInput(title, summary, tuple(categories), feed_topic, vector))

    @property
    def topic_titles(self) -> dict[str, str]:
        return {slug: topic.title for slug, topic in self.settings.topics.items()}

    def prune(self) -> Pruned:
        """Delete stories older than `[retention] keep_days`, in batches."""
        cutoff = self.clock() - timedelta(days=self.settings.retention.keep_days)
        return self.storage.retention.prune(cutoff, self.settings.retention.batch)

    def poll(
        self,
        include_all: bool = False,
        feeds: Sequence[FeedForUpdate] | None = None,
        on_feed: Callable[[FeedOutcome], None] | None = None,
    ) -> CycleOutcome:
        """One poll cycle, then the WebSub hub told what changed; cycles in this process never overlap."""
        with self._poll_lock:
            now = self.cycle_running_since = self.clock()
            try:
                outcome = poll_cycle(
                    self.storage,
                    self.settings,
                    self.classifier,
                    now,
                    feeds=feeds,
                    on_feed=on_feed,
                    stories=self.stories,
                    include_all=include_all,
                )
                self.last_cycle_at = self.clock()
            finally:
                self.cycle_running_since = None
        websub.announce(self.storage, self.settings, outcome)
        return outcome
