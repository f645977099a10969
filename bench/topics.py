"""Topic classification benchmark: quality on the labelled dev set, and throughput.

`python -m bench.topics` prints, for `../shared/data/topics_dev.jsonl`:

- macro-F1, accuracy, per-topic F1 and the confusion matrix of the classifier fitted on the
  shipped examples only (the dev set is never seen), as `aggregator serve` would run it;
- a 5-fold out-of-fold figure: each dev fold classified by a classifier that was also given the
  other four folds, the way editorial corrections reach it;
- 5-fold cross-validation on the shipped examples alone (what the blend weights are chosen on);
- `classify` throughput in items/s on one core, with an empty and with a warm lemma cache.

`run()` returns the same figures as a JSON-able dict for an aggregating `make bench`; it
returns `{"skipped": ...}` when `../shared` is absent.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from aggregator.entities import TopicDecision
from aggregator.pipeline.classify import LabelledText, TopicClassifier, TopicInput
from aggregator.pipeline.lemmas import analyse
from aggregator.pipeline.topic_model import load_examples
from aggregator.settings import REPO_ROOT, Settings, load_settings

DEV_SET = REPO_ROOT.parent / "shared" / "data" / "topics_dev.jsonl"
FOLDS = 5
WARM_SECONDS = 2.0


def folds(examples: Sequence[LabelledText], k: int = FOLDS) -> list[list[int]]:
    """Deterministic stratified folds: each topic's items dealt round-robin."""
    order = sorted(range(len(examples)), key=lambda i: (examples[i].topic, i))
    return [order[start::k] for start in range(k)]


def scores(truth: Sequence[str], predicted: Sequence[str | None]) -> dict[str, Any]:
    """Macro-F1 (an item without a primary topic counts as a miss), accuracy, F1 per topic."""
    per_topic = {}
    for topic in sorted(set(truth)):
        tp = sum(t == topic and p == topic for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != topic and p == topic for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == topic and p != topic for t, p in zip(truth, predicted, strict=True))
        per_topic[topic] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)
    return {"macro_f1": sum(per_topic.values()) / len(per_topic), "accuracy": accuracy, "per_topic_f1": per_topic}


def secondary_scores(examples: Sequence[LabelledText], decisions: Sequence[TopicDecision]) -> dict[str, Any]:
    """How well the secondary topics match the dev set's `also`."""
    tp = fp = fn = 0
    for example, decision in zip(examples, decisions, strict=True):
        got = set(decision.slugs[1:]) if decision.primary else set()
        want = set(example.also)
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "predicted": tp + fp,
        "expected": tp + fn,
    }


def confusion(truth: Sequence[str], predicted: Sequence[str | None]) -> dict[str, dict[str, int]]:
    """{true topic: {predicted topic or "-": count}}."""
    table: dict[str, dict[str, int]] = {topic: {} for topic in sorted(set(truth))}
    for t, p in zip(truth, predicted, strict=True):
        table[t][p or "-"] = table[t].get(p or "-", 0) + 1
    return table


def classify_all(classifier: TopicClassifier, examples: Sequence[LabelledText]) -> list[TopicDecision]:
    return [classifier.classify(TopicInput(e.title, e.summary)) for e in examples]


def shipped_only(settings: Settings, dev: Sequence[LabelledText]) -> dict[str, Any]:
    started = time.perf_counter()
    classifier = TopicClassifier.from_settings(settings)
    fit_seconds = time.perf_counter() - started
    decisions = classify_all(classifier, dev)
    truth, predicted = [e.topic for e in dev], [d.primary for d in decisions]
    return {
        **scores(truth, predicted),
        "secondary": secondary_scores(dev, decisions),
        "no_primary": sum(d.primary is None for d in decisions),
        "fit_seconds": fit_seconds,
        "confusion": confusion(truth, predicted),
    }


def out_of_fold(settings: Settings, dev: Sequence[LabelledText], k: int = FOLDS) -> dict[str, Any]:
    """Each dev fold classified by a classifier given the other folds as corrections."""
    predicted: list[str | None] = [None] * len(dev)
    for held_out in folds(dev, k):
        rest = [e for i, e in enumerate(dev) if i not in set(held_out)]
        classifier = TopicClassifier.from_settings(settings, rest)
        for i, decision in zip(held_out, classify_all(classifier, [dev[i] for i in held_out]), strict=True):
            predicted[i] = decision.primary
    return scores([e.topic for e in dev], predicted)


def shipped_cross_validation(settings: Settings, k: int = FOLDS) -> dict[str, Any]:
    """k-fold on the shipped examples alone: the figure the blend weights are chosen on."""
    shipped = load_examples()
    predicted: list[str | None] = [None] * len(shipped)
    for held_out in folds(shipped, k):
        rest = [e for i, e in enumerate(shipped) if i not in set(held_out)]
        classifier = TopicClassifier.from_settings(settings, shipped=rest)
        for i, decision in zip(held_out, classify_all(classifier, [shipped[i] for i in held_out]), strict=True):
            predicted[i] = decision.primary
    return scores([e.topic for e in shipped], predicted)


def throughput(classifier: TopicClassifier, items: Sequence[TopicInput]) -> dict[str, float]:
    """Items/s on one core: one pass with an empty lemma cache, then warm passes."""
    analyse.cache_clear()
    cold = _rate(classifier.classify, items)
    warm = _rate(classifier.classify, items, seconds=WARM_SECONDS)
    return {"cold_items_per_s": cold, "warm_items_per_s": warm}


def _rate(classify: Callable[[TopicInput], object], items: Sequence[TopicInput], seconds: float = 0.0) -> float:
    """Items/s over whole passes: one pass, or as many as fit in `seconds`."""
    done, started = 0, time.perf_counter()
    while True:
        for item in items:
            classify(item)
        done += len(items)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def run(dev_path: Path = DEV_SET) -> dict[str, Any]:
    """Every figure of this benchmark, or {"skipped": why} when the dev set is absent."""
    if not dev_path.exists():
        return {"skipped": f"{dev_path} not found (../shared is absent)"}
    settings = load_settings(REPO_ROOT / "config.toml", env={})
    dev = load_examples(dev_path)
    result: dict[str, Any] = {"items": len(dev), "shipped_only": shipped_only(settings, dev)}
    result["out_of_fold"] = out_of_fold(settings, dev)
    result["shipped_cv"] = shipped_cross_validation(settings)
    classifier = TopicClassifier.from_settings(settings)
    result["throughput"] = throughput(classifier, [TopicInput(e.title, e.summary) for e in dev])
    return result


def report(result: dict[str, Any], out: TextIO = sys.stdout) -> None:
    if "skipped" in result:
        print(f"topics: skipped: {result['skipped']}", file=out)
        return
    main = result["shipped_only"]
    print(
        f"topics dev set: {result['items']} items; classifier fitted on the shipped examples only (fit {main['fit_seconds']:.2f} s)",
        file=out,
    )
    _print_scores("shipped-only", main, out)
    secondary = main["secondary"]
    print(
        f"  secondary topics vs 'also': precision {secondary['precision']:.3f}, recall {secondary['recall']:.3f} "
        f"({secondary['predicted']} listed, {secondary['expected']} expected); "
        f"items without a primary: {main['no_primary']}",
        file=out,
    )
    _print_confusion(main["confusion"], out)
    _print_scores(f"{FOLDS}-fold out-of-fold (shipped + the other dev folds as corrections)", result["out_of_fold"], out)
    _print_scores(f"{FOLDS}-fold cross-validation on the shipped examples", result["shipped_cv"], out)
    speed = result["throughput"]
    print(
        f"throughput (one core): {speed['cold_items_per_s']:,.0f} items/s with an empty lemma cache, "
        f"{speed['warm_items_per_s']:,.0f} items/s warm",
        file=out,
    )


def _print_scores(name: str, figures: dict[str, Any], out: TextIO) -> None:
    per_topic = ", ".join(f"{topic}={f1:.3f}" for topic, f1 in figures["per_topic_f1"].items())
    print(f"{name}: macro-F1 {figures['macro_f1']:.3f}, accuracy {figures['accuracy']:.3f}", file=out)
    print(f"  per-topic F1: {per_topic}", file=out)


def _print_confusion(table: dict[str, dict[str, int]], out: TextIO) -> None:
    columns = list(table) + (["-"] if any("-" in row for row in table.values()) else [])
    print("  confusion (rows: true topic, columns: predicted; '-' = no primary topic):", file=out)
    print("  " + " " * 10 + "".join(f"{column[:5]:>6}" for column in columns), file=out)
    for topic, row in table.items():
        print(f"  {topic:<10}" + "".join(f"{row.get(column, 0):>6}" for column in columns), file=out)


def main() -> int:
    report(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
