"""The statistical topic model: TF-IDF over an item's features and a multinomial logistic
regression (`logistic`), fitted on labelled examples.

The examples are those the project ships (`aggregator/data/labelled_topics.jsonl`, read by
`load_examples`), the editors' corrections, and each configured keyword as a tiny headline-only
example of its topic (`example_rows`, `keyword_rows`). `fit_model` reduces the fit to arrays
(`LinearModel`) for fast per-item scoring. Combining its log-probabilities with the rules and
hints is the classifier's business (`classify`).

When the rows carry the sentence encoder's vector of their text (`topic_vectors`), the model
reads it too: its 384 numbers, less the examples' mean and scaled by `MEANING_WEIGHT`, sit
beside the TF-IDF columns. A row without one (a keyword) counts as the examples' average
meaning; the classifier scores an item without a vector with a words-only model.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aggregator.pipeline import logistic
from aggregator.pipeline.topic_rules import WEIGHT_SUFFIX
from aggregator.pipeline.topic_text import ItemText, item_text

SHIPPED_EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "labelled_topics.jsonl"

# How the model is fitted.
MODEL_C = 10.0  # inverse regularisation strength of the logistic regression
CORRECTION_WEIGHT = 2.0  # an editor's correction counts as this many shipped examples
ALSO_WEIGHT = 0.3  # an example's secondary topic, as a weak example of that topic
KEYWORD_EXAMPLE_WEIGHT = 0.3  # a configured keyword, as a tiny example of its topic
# The encoder's (centred) vector against the unit TF-IDF row. Chosen by 5-fold cross-validation on
# the shipped examples, mean of four fold assignments (macro-F1 at 3 / 5 / 8 / 12 / 16: .934 / .940 /
# .942 / .942 / .941; words only .917): flat from 8 up, and the smaller weight leans on the vector less.
MEANING_WEIGHT = 8.0


@dataclass(frozen=True)
class LabelledText:
    """A training example: a shipped one, or an editor's correction."""

    title: str
    summary: str
    topic: str
    also: tuple[str, ...] = ()


def load_examples(path: Path = SHIPPED_EXAMPLES) -> list[LabelledText]:
    """Labelled examples from a JSON-lines file with `title`, `summary`, `topic`, `also`."""
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [LabelledText(r["title"], r["summary"], r["topic"], tuple(r.get("also", ()))) for r in rows]


@dataclass(frozen=True)
class LinearModel:
    """A fitted TF-IDF + logistic regression, reduced to arrays for fast per-item scoring."""

    topics: tuple[str, ...]
    vocabulary: Mapping[str, int]
    names: tuple[str, ...]  # feature by index
    idf: tuple[float, ...]  # by feature index; plain floats, as an item's features are looked up one by one
    coef: np.ndarray  # (features, topics)
    intercept: np.ndarray
    meaning_centre: np.ndarray | None = None  # (dimensions,): the examples' mean vector; None: words only
    meaning_coef: np.ndarray | None = None  # (dimensions, topics), MEANING_WEIGHT folded in

    @property
    def reads_meaning(self) -> bool:
        return self.meaning_coef is not None

    def weights(self, features: tuple[str, ...]) -> dict[int, float]:
        return tfidf(features, self.vocabulary, self.idf)

    def meaning(self, vector: np.ndarray | None) -> np.ndarray | None:
        """What the item's vector adds to each topic's logit (None: the model or the item has none)."""
        if vector is None or self.meaning_coef is None or self.meaning_centre is None:
            return None
        return (vector - self.meaning_centre) @ self.meaning_coef

    def log_probabilities(self, weights: dict[int, float], meaning: np.ndarray | None = None) -> dict[str, float]:
        logits = self.intercept.copy()
        if weights:
            logits += np.fromiter(weights.values(), float) @ self.coef[list(weights)]
        if meaning is not None:
            logits += meaning
        logits -= logits.max()
        logits -= math.log(np.exp(logits).sum())
        return dict(zip(self.topics, logits.tolist(), strict=True))

    def strongest_terms(self, weights: dict[int, float], topic: str, limit: int = 5) -> list[list[Any]]:
        """The item's features that pushed hardest towards `topic`, with their pushes."""
        column = self.topics.index(topic)
        pushes = sorted(((v * self.coef[i, column], self.names[i]) for i, v in weights.items()), reverse=True)
        return [[name, round(float(push), 3)] for push, name in pushes[:limit] if push > 0]


@dataclass(frozen=True)
class TopicModels:
    """What the classifier reads: a words-only model, and one that also reads the item's vector."""

    words: LinearModel | None
    meaning: LinearModel | None = None  # None when the encoder reads no meaning

    def for_item(self, vector: np.ndarray | None) -> LinearModel | None:
        """The model that reads the most of an item: with its vector when it has one."""
        return self.meaning if vector is not None and self.meaning is not None else self.words


def tfidf(features: tuple[str, ...], vocabulary: Mapping[str, int], idf: tuple[float, ...]) -> dict[int, float]:
    """Sublinear tf × idf, L2-normalised, by feature index; unknown features are left out."""
    counts = Counter(map(vocabulary.get, features))  # by first occurrence: the order the weights are summed in
    counts.pop(None, None)  # features the model has never seen
    values = {i: (1.0 + math.log(n)) * idf[i] for i, n in counts.items()}
    norm = math.sqrt(sum(v * v for v in values.values())) or 1.0
    return {i: v / norm for i, v in values.items()}


@dataclass(frozen=True)
class TrainingRow:
    text: ItemText
    topic: str
    weight: float  # sample weight
    vector: np.ndarray | None = None  # the encoder's unit vector of the text


def fit_model(rows: Iterable[TrainingRow], meaning: bool = False) -> LinearModel | None:
    """Fit TF-IDF (+ the rows' vectors, with `meaning`) + logistic regression; None when fewer
    than two topics have examples.

    TF-IDF as the usual definition: smoothed idf ln((1 + n) / (1 + df)) + 1, sublinear tf,
    rows L2-normalised; every feature of the examples is kept."""
    rows = list(rows)
    topics = tuple(sorted({row.topic for row in rows}))
    if len(topics) < 2:
        return None
    names = tuple(sorted({feature for row in rows for feature in row.text.features}))
    vocabulary = {name: i for i, name in enumerate(names)}
    frequency = np.zeros(len(names))
    for row in rows:
        frequency[[vocabulary[f] for f in set(row.text.features)]] += 1
    idf = tuple((np.log((1 + len(rows)) / (1 + frequency)) + 1).tolist())
    matrix = logistic.SparseRows.from_dicts([tfidf(row.text.features, vocabulary, idf) for row in rows], len(names))
    centre, dense = _centred_vectors(rows) if meaning else (None, None)
    labels = np.array([topics.index(row.topic) for row in rows])
    weights = np.array([row.weight for row in rows], float)
    if centre is None or dense is None:
        coef, intercept = logistic.fit(matrix, labels, weights, len(topics), MODEL_C)
        return LinearModel(topics, vocabulary, names, idf, coef, intercept)
    coef, intercept = logistic.fit(logistic.SparseBesideDense(matrix, MEANING_WEIGHT * dense), labels, weights, len(topics), MODEL_C)
    words, meanings = coef[: len(names)], coef[len(names) :] * MEANING_WEIGHT
    return LinearModel(topics, vocabulary, names, idf, words, intercept, centre, meanings)


def _centred_vectors(rows: list[TrainingRow]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The rows' mean vector, and each row's vector less it (zeros for a row without one)."""
    known = [row.vector for row in rows if row.vector is not None]
    if not known:
        return None, None
    centre = np.mean(known, axis=0)
    return centre, np.array([np.zeros_like(centre) if row.vector is None else row.vector - centre for row in rows])


def example_rows(
    examples: Iterable[LabelledText], topics: Iterable[str], weight: float = 1.0, vectors: Iterable[np.ndarray] | None = None
) -> Iterator[TrainingRow]:
    """An example's primary topic, and a weak row per secondary topic; unknown topics skipped.
    `vectors`: the encoder's vector of each example, in order."""
    known = set(topics)
    examples = list(examples)
    for example, vector in zip(examples, [None] * len(examples) if vectors is None else vectors, strict=True):
        text = item_text(example.title, example.summary)
        if example.topic in known:
            yield TrainingRow(text, example.topic, weight, vector)
        for other in sorted(set(example.also) & known - {example.topic}):
            yield TrainingRow(text, other, weight * ALSO_WEIGHT, vector)


def keyword_rows(keywords: Mapping[str, Iterable[str]]) -> Iterator[TrainingRow]:
    """Each keyword of a topic the model knows from examples, as a tiny headline-only example."""
    for slug, topic_keywords in keywords.items():
        for keyword in topic_keywords:
            yield TrainingRow(item_text(WEIGHT_SUFFIX.sub("", keyword).strip(), ""), slug, KEYWORD_EXAMPLE_WEIGHT)
