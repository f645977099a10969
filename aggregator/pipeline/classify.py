"""Classify items into topics: an item's text and its source's hints in, topic scores out.

Four kinds of evidence add up to one log-score per topic, and a softmax turns those into
confidences:

- the statistical model: TF-IDF over lemma unigrams and bigrams (headline lemmas once more,
  marked) and, when the encoder reads meaning (`[stories] encoder = "e5"`), the item's sentence
  vector beside them, with a multinomial logistic regression, fitted at start-up on the
  examples the project ships (`aggregator/data/labelled_topics.jsonl`, their vectors kept in
  `labelled_topics.e5.npz`), the editors' corrections, and each configured keyword as a tiny
  example of its topic; fitted once for those inputs and kept on disk (`topic_cache`), so
  later starts read it. An item without a vector (encoder "none", or stored before the
  encoder read it) is scored by a words-only model fitted beside it;
- rules from `config.toml`: keywords in any word form (lemmatised at load; a multi-word keyword
  matches consecutive words; `"слово^2"` doubles a keyword's weight), counted separately in
  the headline and in the summary, and `negative` phrases that rule their topic out;
- the item's own feed categories, mapped by `[topics.<slug>] categories` (the slug and the
  title count too, case-insensitively);
- the per-feed topic hint, `[[feeds]] topic`.

A topic with no examples (a curator just added it to the config) takes part through its
keywords and hints. `classify` and `explain` are pure and thread-safe once the classifier is
built. The item's text is read once (`topic_text`); the rules are `topic_rules`, the model
`topic_model`; this module weighs their evidence. Storing decisions, reading corrections and
re-classifying are left to storage and the CLI.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from aggregator.entities import TopicDecision, TopicScore
from aggregator.pipeline import topic_cache, topic_vectors
from aggregator.pipeline.encoder import make_encoder
from aggregator.pipeline.topic_model import (
    CORRECTION_WEIGHT,
    LabelledText,
    LinearModel,
    TopicModels,
    example_rows,
    fit_model,
    keyword_rows,
    load_examples,
)
from aggregator.pipeline.topic_rules import Rule, RuleIndex, compile_rules
from aggregator.pipeline.topic_text import ItemText, item_text

if TYPE_CHECKING:
    from pathlib import Path

    from aggregator.pipeline.encoder import Encoder
    from aggregator.settings import Settings

__all__ = ["LabelledText", "TopicClassifier", "TopicInput"]  # LabelledText: the examples' type, defined with the model

log = logging.getLogger(__name__)

# How far each kind of evidence moves a topic's log-score. Chosen by 5-fold cross-validation
# on the shipped examples (`python -m bench.topics` prints it beside the dev-set figures).
SUMMARY_KEYWORDS = 1.0  # × log(1 + weight of the topic's keywords found in the summary)
TITLE_KEYWORDS = 1.5  # × log(1 + weight of the topic's keywords found in the headline)
CATEGORY_HINT = 3.0  # the item's own <category> names this topic
FEED_HINT = 2.0  # the feed as a whole leans to this topic (a prior, weaker than its own category)
UNSEEN_TOPIC_MARGIN = 1.0  # a topic without examples starts this far below the model's favourite
SECONDARY_FLOOR = 0.12  # below this confidence a topic is never listed as secondary
FEATURES = "lemma-ngrams-1"  # the model's features (`topic_text`); a kept model fitted on others is not used


@dataclass(frozen=True)
class TopicInput:
    """What the classifier reads about an item."""

    title: str
    summary: str
    categories: tuple[str, ...] = ()  # the feed's own <category> values
    feed_topic: str | None = None  # per-feed topic hint from config
    vector: np.ndarray | None = field(default=None, compare=False)  # the encoder's unit vector of the title and lead


@dataclass(frozen=True)
class Evidence:
    """Everything known about one item before the scores are combined."""

    text: ItemText
    hits: Mapping[str, tuple[tuple[Rule, bool], ...]]  # topic -> (keyword rule, in headline)
    vetoes: Mapping[str, tuple[str, ...]]  # topic -> negative phrases found
    categories: Mapping[str, tuple[str, ...]]  # topic -> the item's categories naming it
    feed_topic: str | None
    reader: LinearModel | None  # the model that read the item: with its vector when it has one
    weights: dict[int, float]  # the model's features of the item
    meaning: Mapping[str, float]  # what the item's vector added to each topic's logit ({} when not read)
    model: Mapping[str, float]  # log-probabilities of the topics the model knows


class TopicClassifier:
    """Rules, hints and a fitted model for the configured topics; immutable once built."""

    def __init__(
        self,
        topics: Mapping[str, str],
        rules: Iterable[Rule],
        categories: Mapping[str, Iterable[str]],
        models: TopicModels,
        min_confidence: float = 0.2,
        secondary_ratio: float = 0.5,
    ) -> None:
        self.topics = dict(topics)  # slug -> title, in config order
        self._config_order = {slug: i for i, slug in enumerate(self.topics)}  # breaks ties between equal scores
        self.rules = RuleIndex(rules)
        self.category_topics = {name.casefold(): tuple(slugs) for name, slugs in categories.items()}
        self.models = models
        self.min_confidence = min_confidence
        self.secondary_ratio = secondary_ratio

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        corrections: Iterable[LabelledText] = (),
        *,
        shipped: Iterable[LabelledText] | None = None,
        features: str = FEATURES,
        model_folder: Path | None = None,
        encoder: Encoder | None = None,
    ) -> TopicClassifier:
        """Compile the config's rules; the model fitted on the shipped examples (or `shipped`) plus
        corrections, or the same model kept from an earlier start (`topic_cache`, in `model_folder`,
        by default beside the database). `features` names the version of the model's features;
        `encoder` reads the examples' meaning (by default the one `[stories] encoder` names)."""
        rules: list[Rule] = []
        categories: dict[str, list[str]] = {}
        for slug, topic in settings.topics.items():
            rules += compile_rules(slug, topic.keywords, topic.negative)
            for name in dict.fromkeys([slug, topic.title, *topic.categories]):
                categories.setdefault(name.casefold(), []).append(slug)
        shipped = None if shipped is None else list(shipped)
        corrections = list(corrections)
        if encoder is None:
            encoder = make_encoder(settings.stories.encoder, settings.stories.encoder_threads)
        meaning = topic_vectors.identity(encoder)
        key = topic_cache.model_key(settings.topics, topic_cache.examples_bytes(shipped), corrections, features, meaning)
        folder = topic_cache.model_folder(settings) if model_folder is None else model_folder
        model = topic_cache.kept_model(folder, key, lambda: fit_topics(settings, corrections, shipped, encoder))
        return cls(
            {slug: topic.title for slug, topic in settings.topics.items()},
            rules,
            categories,
            model,
            settings.classifier.min_confidence,
            settings.classifier.secondary_ratio,
        )

    def classify(self, item: TopicInput) -> TopicDecision:
        """The primary topic (None below `min_confidence`) and every topic that applies."""
        evidence = self._gather(item)
        return self._decide(self._scores(evidence), evidence)

    def explain(self, item: TopicInput) -> dict[str, Any]:
        """Why the item got its topics: per topic the keywords, hints, model terms and score."""
        evidence = self._gather(item)
        scores = self._scores(evidence)
        decision = self._decide(scores, evidence)
        return {
            "primary": decision.primary,
            "confidence": round(decision.confidence, 4),
            "topics": [{"slug": s.slug, "score": round(s.score, 4)} for s in decision.topics],
            "reasons": list(decision.reasons),
            "min_confidence": self.min_confidence,
            "per_topic": {slug: self._explain_topic(evidence, slug, scores.get(slug, 0.0)) for slug in self.topics},
        }

    def _explain_topic(self, evidence: Evidence, slug: str, score: float) -> dict[str, Any]:
        hits = evidence.hits.get(slug, ())
        return {
            "score": round(score, 4),
            "keywords": [rule.written for rule, _ in hits],
            "keywords_in_title": [rule.written for rule, in_title in hits if in_title],
            "negative": list(evidence.vetoes.get(slug, ())),
            "categories": list(evidence.categories.get(slug, ())),
            "feed_hint": evidence.feed_topic == slug,
            "model": round(math.exp(evidence.model[slug]), 4) if slug in evidence.model else None,
            "meaning": round(evidence.meaning[slug], 4) if slug in evidence.meaning else None,
            "terms": self._terms(evidence, slug),
        }

    def _gather(self, item: TopicInput) -> Evidence:
        text = item_text(item.title, item.summary)
        in_title = self.rules.matches(text.title)
        found = [(rule, True) for rule in in_title] + [(r, False) for r in self.rules.matches(text.summary) - in_title]
        hits: dict[str, list[tuple[Rule, bool]]] = {}
        vetoes: dict[str, list[str]] = {}
        for rule, title_hit in sorted(found, key=lambda hit: (hit[0].topic, hit[0].written)):
            if rule.negative:
                vetoes.setdefault(rule.topic, []).append(rule.written)
            else:
                hits.setdefault(rule.topic, []).append((rule, title_hit))
        reader = self.models.for_item(item.vector if _says_enough(text) else None)
        weights = reader.weights(text.features) if reader else {}
        meaning = reader.meaning(item.vector) if reader else None
        model = reader.log_probabilities(weights, meaning) if reader else {}
        return Evidence(
            text,
            {slug: tuple(h) for slug, h in hits.items()},
            {slug: tuple(v) for slug, v in vetoes.items()},
            self._categories(item.categories),
            item.feed_topic if item.feed_topic in self.topics else None,
            reader,
            weights,
            {} if reader is None or meaning is None else dict(zip(reader.topics, meaning.tolist(), strict=True)),
            {slug: value for slug, value in model.items() if slug in self.topics},
        )

    def _categories(self, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {}
        for name in names:
            for slug in self.category_topics.get(name.strip().casefold(), ()):
                found.setdefault(slug, []).append(name)
        return {slug: tuple(named) for slug, named in found.items()}

    def _scores(self, evidence: Evidence) -> dict[str, float]:
        """Softmax over the topics of model log-probability plus keyword and hint evidence."""
        best_known = max(evidence.model.values(), default=-math.log(max(len(self.topics), 1)))
        signals = self._signals(evidence)
        logits = {}
        for slug in self.topics:
            if slug in evidence.vetoes:
                continue
            signal = signals.get(slug, 0.0)
            if slug in evidence.model:
                logits[slug] = evidence.model[slug] + signal
            elif signal > 0 or not evidence.model:  # known by its rules alone: only when they speak
                logits[slug] = best_known - (UNSEEN_TOPIC_MARGIN if evidence.model else 0.0) + signal
        if not logits:
            return {}
        top = max(logits.values())
        exps = {slug: math.exp(value - top) for slug, value in logits.items()}
        total = sum(exps.values())
        return {slug: value / total for slug, value in exps.items()}

    def _signals(self, evidence: Evidence) -> dict[str, float]:
        """The keyword and hint evidence of the topics that have any; the rest have none (0.0)."""
        speaking = {*evidence.hits, *evidence.categories, *([evidence.feed_topic] if evidence.feed_topic else [])}
        return {slug: self._signal(evidence, slug) for slug in speaking}

    def _signal(self, evidence: Evidence, slug: str) -> float:
        hits = evidence.hits.get(slug, ())
        title = sum(rule.weight for rule, in_title in hits if in_title)
        summary = sum(rule.weight for rule, in_title in hits if not in_title)
        return (
            TITLE_KEYWORDS * math.log1p(title)
            + SUMMARY_KEYWORDS * math.log1p(summary)
            + CATEGORY_HINT * (slug in evidence.categories)
            + FEED_HINT * (evidence.feed_topic == slug)
        )

    def _decide(self, scores: dict[str, float], evidence: Evidence) -> TopicDecision:
        ranked = sorted(scores.items(), key=lambda pair: (-pair[1], self._config_order[pair[0]]))
        if not ranked:
            return TopicDecision(None, (), ("no evidence for any topic",))
        top = ranked[0][1]
        primary = ranked[0][0] if top >= self.min_confidence else None
        floor = max(self.secondary_ratio * top, SECONDARY_FLOOR)
        chosen = [ranked[0], *((slug, score) for slug, score in ranked[1:] if score >= floor)]
        topics = tuple(TopicScore(slug, round(score, 6)) for slug, score in chosen)
        return TopicDecision(primary, topics, self._reasons(evidence, [slug for slug, _ in chosen], primary))

    def _reasons(self, evidence: Evidence, slugs: list[str], primary: str | None) -> tuple[str, ...]:
        reasons = [] if primary else [f"confidence below {self.min_confidence}: no primary topic"]
        for slug in slugs:
            if keywords := [rule.written for rule, _ in evidence.hits.get(slug, ())]:
                reasons.append(f"{slug}: keywords " + ", ".join(f"«{k}»" for k in keywords))
            if names := evidence.categories.get(slug):
                reasons.append(f"{slug}: feed category " + ", ".join(f"«{n}»" for n in names))
            if evidence.feed_topic == slug:
                reasons.append(f"{slug}: the feed's topic hint")
            if terms := self._terms(evidence, slug, 3):
                reasons.append(f"{slug}: model terms " + ", ".join(f"«{term}»" for term, _ in terms))
        for slug, phrases in evidence.vetoes.items():
            reasons += [f"{slug}: ruled out by «{phrase}»" for phrase in phrases]
        return tuple(reasons)

    def _terms(self, evidence: Evidence, slug: str, limit: int = 5) -> list[list[Any]]:
        if evidence.reader is None or slug not in evidence.reader.topics:
            return []
        return evidence.reader.strongest_terms(evidence.weights, slug, limit)


MEANING_MIN_WORDS = 3  # fewer distinct content words and the vector is not read: it says little but the prior


def _says_enough(text: ItemText) -> bool:
    """Whether the item has enough words for its vector to be read. A vector of two generic
    words («Фото без подписи», «Читайте также») mostly carries what news in general is about,
    and the meaning model gave such headlines a topic at 0.4–0.7 where words alone give none."""
    return len({f for f in text.features if " " not in f and not f.startswith("t:")}) >= MEANING_MIN_WORDS


def fit_topics(
    settings: Settings, corrections: Iterable[LabelledText], shipped: Iterable[LabelledText] | None, encoder: Encoder
) -> TopicModels:
    """Fit the models on the shipped examples (or `shipped`), the corrections and the keywords of
    the topics they teach: words only, and, when `encoder` reads meaning, words and vectors."""
    shipped, corrections = load_examples() if shipped is None else list(shipped), list(corrections)
    shipped_vectors, correction_vectors = (
        topic_vectors.example_vectors(shipped, encoder),
        topic_vectors.example_vectors(corrections, encoder),
    )
    rows = [
        *example_rows(shipped, settings.topics, vectors=shipped_vectors),
        *example_rows(corrections, settings.topics, CORRECTION_WEIGHT, correction_vectors),
    ]
    learned = {row.topic for row in rows}
    rows += keyword_rows({slug: t.keywords for slug, t in settings.topics.items() if slug in learned})
    words = fit_model(rows)
    meaning = fit_model(rows, meaning=True) if shipped_vectors is not None else None
    log.info("topic model fitted on %d rows for %d topics%s", len(rows), len(learned), " (words, and words with meaning)" * bool(meaning))
    return TopicModels(words, meaning)
