"""Topic classification benchmark: quality on the labelled dev set, and throughput.

`python -m bench.topics` prints, for `../shared/data/topics_dev.jsonl`, side by side for the
classifier reading words only (`[stories] encoder = "none"`) and words with the sentence
encoder's vector of each item (`"e5"`):

- macro-F1, accuracy, per-topic F1 and the confusion matrix of the classifier fitted on the
  shipped examples only (the dev set is never seen), as `aggregator serve` would run it;
- a 5-fold out-of-fold figure: each dev fold classified by a classifier that was also given the
  other four folds, the way editorial corrections reach it;
- 5-fold cross-validation on the shipped examples alone (what the blend weights are chosen on);
- `classify` throughput in items/s on one core, with an empty and with a warm lemma cache (the
  encoder's own cost, ms of CPU per item, apart).

The shipped examples' vectors are kept in `aggregator/data/labelled_topics.e5.npz`;
`python -m aggregator.pipeline.topic_vectors` writes them again.

`run()` returns the same figures as a JSON-able dict for an aggregating `make bench`; it
returns `{"skipped": ...}` when `../shared` is absent.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from aggregator.entities import TopicDecision
from aggregator.pipeline.classify import LabelledText, TopicClassifier, TopicInput
from aggregator.pipeline.encoder import E5Encoder, Encoder, NoEncoder
from aggregator.pipeline.lemmas import analyse
from aggregator.pipeline.topic_model import load_examples
from aggregator.pipeline.topic_vectors import example_vectors
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


def inputs(examples: Sequence[LabelledText], encoder: Encoder) -> list[TopicInput]:
    """What the classifier is given about each example, with its vector when the encoder reads one."""
    vectors = example_vectors(examples, encoder)
    return [TopicInput(e.title, e.summary, vector=None if vectors is None else vectors[i]) for i, e in enumerate(examples)]


def classify_all(classifier: TopicClassifier, examples: Sequence[LabelledText], encoder: Encoder) -> list[TopicDecision]:
    return [classifier.classify(item) for item in inputs(examples, encoder)]


def shipped_only(settings: Settings, dev: Sequence[LabelledText], encoder: Encoder) -> dict[str, Any]:
    started = time.process_time()
    classifier = TopicClassifier.from_settings(settings, encoder=encoder, model_folder=_no_kept_model())
    fit_seconds = time.process_time() - started
    decisions = classify_all(classifier, dev, encoder)
    truth, predicted = [e.topic for e in dev], [d.primary for d in decisions]
    return {
        **scores(truth, predicted),
        "secondary": secondary_scores(dev, decisions),
        "no_primary": sum(d.primary is None for d in decisions),
        "fit_seconds": fit_seconds,
        "confusion": confusion(truth, predicted),
    }


def out_of_fold(settings: Settings, dev: Sequence[LabelledText], encoder: Encoder, k: int = FOLDS) -> dict[str, Any]:
    """Each dev fold classified by a classifier given the other folds as corrections."""
    predicted: list[str | None] = [None] * len(dev)
    for held_out in folds(dev, k):
        rest = [e for i, e in enumerate(dev) if i not in set(held_out)]
        classifier = TopicClassifier.from_settings(settings, rest, encoder=encoder, model_folder=_no_kept_model())
        for i, decision in zip(held_out, classify_all(classifier, [dev[i] for i in held_out], encoder), strict=True):
            predicted[i] = decision.primary
    return scores([e.topic for e in dev], predicted)


def shipped_cross_validation(settings: Settings, encoder: Encoder, k: int = FOLDS) -> dict[str, Any]:
    """k-fold on the shipped examples alone: the figure the blend weights are chosen on."""
    shipped = load_examples()
    predicted: list[str | None] = [None] * len(shipped)
    for held_out in folds(shipped, k):
        rest = [e for i, e in enumerate(shipped) if i not in set(held_out)]
        classifier = TopicClassifier.from_settings(settings, shipped=rest, encoder=encoder, model_folder=_no_kept_model())
        for i, decision in zip(held_out, classify_all(classifier, [shipped[i] for i in held_out], encoder), strict=True):
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


def encoding_cost(dev: Sequence[LabelledText], encoder: Encoder) -> float:
    """The encoder's ms of CPU per dev item (title and lead), its memo empty at first."""
    started = time.process_time()
    example_vectors(dev, encoder)
    return 1000 * (time.process_time() - started) / len(dev)


_scratch: list[tempfile.TemporaryDirectory[str]] = []


def _no_kept_model() -> Path:
    """A folder of its own for each fit, so every figure is a fit and the service's kept model is left alone."""
    if not _scratch:
        _scratch.append(tempfile.TemporaryDirectory(prefix="bench-topics-"))
    return Path(tempfile.mkdtemp(dir=_scratch[0].name))


def run(dev_path: Path = DEV_SET) -> dict[str, Any]:
    """Every figure of this benchmark, or {"skipped": why} when the dev set is absent."""
    if not dev_path.exists():
        return {"skipped": f"{dev_path} not found (../shared is absent)"}
    settings = load_settings(REPO_ROOT / "config.toml", env={})
    dev = load_examples(dev_path)
    result: dict[str, Any] = {"items": len(dev)}
    encoder = E5Encoder(settings.stories.encoder_threads)
    result["encoder_ms_per_item"] = encoding_cost(dev, encoder)
    for name, reader in (("words", NoEncoder()), ("meaning", encoder)):
        figures: dict[str, Any] = {"shipped_only": shipped_only(settings, dev, reader)}
        figures["out_of_fold"] = out_of_fold(settings, dev, reader)
        figures["shipped_cv"] = shipped_cross_validation(settings, reader)
        classifier = TopicClassifier.from_settings(settings, encoder=reader, model_folder=_no_kept_model())
        figures["throughput"] = throughput(classifier, inputs(dev, reader))
        result[name] = figures
    return result


READERS = {"words": "words only", "meaning": "words + e5 vector"}


def report(result: dict[str, Any], out: TextIO = sys.stdout) -> None:
    if "skipped" in result:
        print(f"topics: skipped: {result['skipped']}", file=out)
        return
    print(f"topics dev set: {result['items']} items; columns: {', '.join(READERS.values())}", file=out)
    fits = ", ".join(f"{READERS[name]} {result[name]['shipped_only']['fit_seconds']:.2f} s" for name in READERS)
    print(f"fit on the shipped examples (CPU, both models when the vector is read): {fits}", file=out)
    print(f"encoder: {result['encoder_ms_per_item']:.0f} ms CPU per item (title + lead), not counted below", file=out)
    for key, name in (
        ("shipped_only", "fitted on the shipped examples only"),
        ("out_of_fold", f"{FOLDS}-fold out-of-fold (shipped + the other dev folds as corrections)"),
        ("shipped_cv", f"{FOLDS}-fold cross-validation on the shipped examples"),
    ):
        _print_scores(name, [result[reader][key] for reader in READERS], out)
    for reader, title in READERS.items():
        main = result[reader]["shipped_only"]
        secondary = main["secondary"]
        print(
            f"{title}, shipped only: secondary topics vs 'also': precision {secondary['precision']:.3f}, "
            f"recall {secondary['recall']:.3f} ({secondary['predicted']} listed, {secondary['expected']} expected); "
            f"items without a primary: {main['no_primary']}",
            file=out,
        )
        _print_confusion(main["confusion"], out)
        speed = result[reader]["throughput"]
        print(
            f"  throughput (one core): {speed['cold_items_per_s']:,.0f} items/s with an empty lemma cache, "
            f"{speed['warm_items_per_s']:,.0f} items/s warm",
            file=out,
        )


def _print_scores(name: str, figures: Sequence[dict[str, Any]], out: TextIO) -> None:
    both = " / ".join(f"{f['macro_f1']:.3f}" for f in figures)
    accuracy = " / ".join(f"{f['accuracy']:.3f}" for f in figures)
    print(f"{name}: macro-F1 {both}, accuracy {accuracy}", file=out)
    per_topic = ", ".join(
        topic + "=" + " / ".join(f"{f['per_topic_f1'][topic]:.3f}" for f in figures) for topic in figures[0]["per_topic_f1"]
    )
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
