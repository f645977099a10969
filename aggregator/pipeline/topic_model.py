"""The statistical topic model: TF-IDF over an item's features and a multinomial logistic
regression (`logistic`), fitted on labelled examples.

The examples are those the project ships (`aggregator/data/labelled_topics.jsonl`, read by
`load_examples`), the editors' corrections, and each configured keyword as a tiny headline-only
example of its topic (`example_rows`, `keyword_rows`). `fit_model` reduces the fit to arrays
(`LinearModel`) for fast per-item scoring. Combining its log-probabilities with the rules and
hints is the classifier's business (`classify`).
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

    def weights(self, features: tuple[str, ...]) -> dict[int, float]:
        return tfidf(features, self.vocabulary, self.idf)

    def log_probabilities(self, weights: dict[int, float]) -> dict[str, float]:
        logits = self.intercept.copy()
        if weights:
            logits += np.fromiter(weights.values(), float) @ self.coef[list(weights)]
        logits -= logits.max()
        logits -= math.log(np.exp(logits).sum())
        return dict(zip(self.topics, logits.tolist(), strict=True))

    def strongest_terms(self, weights: dict[int, float], topic: str, limit: int = 5) -> list[list[Any]]:
        """The item's features that pushed hardest towards `topic`, with their pushes."""
        column = self.topics.index(topic)
        pushes = sorted(((v * self.coef[i, column], self.names[i]) for i, v in weights.items()), reverse=True)
        return [[name, round(float(push), 3)] for push, name in pushes[:limit] if push > 0]


def tfidf(features: tuple[str, ...], vocabulary: Mapping[str, int], idf: tuple[float, ...]) -> dict[int, float]:
    """Sublinear tf × idf, L2-normalised, by feature index; unknown features are left out."""
    counts = Counter(map(vocabulary.get, features))  # by first occurrence: the order the weights are summed in
    counts.pop(None, None)  # features the model has never seen
    values = {i: (1.0 + math.log(n)) * idf[i] for i, n in counts.items()}
    norm = math.sqrt(sum(v * v for v in values.values())) or 1.0
    return {i: v / norm for i, v in values.items()}


TrainingRow = tuple[ItemText, str, float]  # text, topic, sample weight


def fit_model(rows: Iterable[TrainingRow]) -> LinearModel | None:
    """Fit TF-IDF + logistic regression; None when fewer than two topics have examples.

    TF-IDF as the usual definition: smoothed idf ln((1 + n) / (1 + df)) + 1, sublinear tf,
    rows L2-normalised; every feature of the examples is kept."""
    rows = list(rows)
    topics = tuple(sorted({topic for _, topic, _ in rows}))
    if len(topics) < 2:
        return None
    names = tuple(sorted({feature for text, _, _ in rows for feature in text.features}))
    vocabulary = {name: i for i, name in enumerate(names)}
    frequency = np.zeros(len(names))
    for text, _, _ in rows:
        frequency[[vocabulary[f] for f in set(text.features)]] += 1
    idf = tuple((np.log((1 + len(rows)) / (1 + frequency)) + 1).tolist())
    matrix = logistic.SparseRows.from_dicts([tfidf(text.features, vocabulary, idf) for text, _, _ in rows], len(names))
    labels = np.array([topics.index(topic) for _, topic, _ in rows])
    coef, intercept = logistic.fit(matrix, labels, np.array([weight for _, _, weight in rows], float), len(topics), MODEL_C)
    return LinearModel(topics, vocabulary, names, idf, coef, intercept)


def example_rows(examples: Iterable[LabelledText], topics: Iterable[str], weight: float = 1.0) -> Iterator[TrainingRow]:
    """An example's primary topic, and a weak row per secondary topic; unknown topics skipped."""
    known = set(topics)
    for example in examples:
        text = item_text(example.title, example.summary)
        if example.topic in known:
            yield text, example.topic, weight
        for other in sorted(set(example.also) & known - {example.topic}):
            yield text, other, weight * ALSO_WEIGHT


def keyword_rows(keywords: Mapping[str, Iterable[str]]) -> Iterator[TrainingRow]:
    """Each keyword of a topic the model knows from examples, as a tiny headline-only example."""
    for slug, topic_keywords in keywords.items():
        for keyword in topic_keywords:
            yield item_text(WEIGHT_SUFFIX.sub("", keyword).strip(), ""), slug, KEYWORD_EXAMPLE_WEIGHT
