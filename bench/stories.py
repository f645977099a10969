"""Story grouping benchmark: pairwise precision/recall/F1 and the cost of placing an item.

`python -m bench.stories` replays labelled items through `StoryIndex` as a poll cycle does
(each item placed, then added with the story it was given) and compares the stories
with the labels, pair by pair. The labelled sets carry no dates, so each run draws
publication times within 30 hours (40 for the distractor singles, as the contract check
does) and an order: shuffled, chronological, feed by feed in time order, or `poll` (feeds in
a random order, each feed's items in the order its document lists them, and a feed's items
indexed only once the whole feed is placed, as `pipeline.decide` places a feed's items
against the window as it was before any of them); figures are averaged over several seeds
and reported per order too.

- `stories_dev`: ../shared/data/stories_dev.jsonl, alone and mixed with the 267 single items
  of ../shared/data/topics_dev.jsonl (each its own story); skipped when ../shared is absent.
- `labelled`: tests/data/stories_labelled.jsonl, the project's own examples.
- `cost`: milliseconds per `place` with 100k synthetic members spread over the window.

`python -m bench.stories fit` refits the weights of `StoryRules` by logistic regression on
decisions taken with the true stories known, and reports out-of-fold figures: fitted on
the project's own set plus one half of the dev events (and half of the singles), measured
on the other half, both ways. It prints the weights fitted on everything, for `StoryRules`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from aggregator.pipeline import logistic
from aggregator.pipeline.cluster import StoryCandidate, StoryIndex, StoryMember, StoryRules
from aggregator.pipeline.encoder import item_text, make_encoder

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
LABELLED = ROOT / "tests" / "data" / "stories_labelled.jsonl"
ORDERS = ("shuffled", "chronological", "by_feed", "poll")
SEEDS = (1, 2, 3, 4, 5)
START = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
_ENCODER = make_encoder(os.environ.get("BENCH_ENCODER", "e5"), threads=2)


@dataclass(frozen=True)
class LabelledItem:
    key: str
    story: str
    feed_id: int
    published: datetime
    title: str
    summary: str
    vector: np.ndarray | None = None


@dataclass(frozen=True)
class Pairwise:
    precision: float
    recall: float
    f1: float


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def dated(rows: list[dict], rnd: random.Random, hours: float, feeds: dict[str, int]) -> list[LabelledItem]:
    """Labelled items with publication times drawn within `hours` and outlets as feed ids."""
    out = []
    for row in rows:
        feed_id = feeds.setdefault(row["outlet"], len(feeds) + 1)
        when = START + timedelta(hours=rnd.uniform(0.5, hours))
        out.append(LabelledItem(row["id"], row["story"], feed_id, when, row["title"], row["summary"], meaning(row)))
    return out


def meaning(row: dict) -> np.ndarray | None:
    """The encoder's vector of a labelled item, as a poll computes it (None with `ENCODER` "none")."""
    vectors = _ENCODER.encode([item_text(row["title"], row["summary"])])
    return None if vectors is None else vectors[0]


def singles(rows: list[dict], rnd: random.Random, feeds: dict[str, int]) -> list[LabelledItem]:
    """Topic-set items as distractors: each its own story, spread over five other outlets."""
    marked = [dict(row, story="single-" + row["id"], outlet=rnd.choice("ABCDE")) for row in rows]
    return dated(marked, rnd, 40, feeds)


def ordered(items: list[LabelledItem], order: str, rnd: random.Random) -> list[LabelledItem]:
    if order == "chronological":
        return sorted(items, key=lambda it: (it.published, it.key))
    if order == "by_feed":
        return sorted(items, key=lambda it: (it.feed_id, it.published, it.key))
    if order == "poll":
        feeds = sorted({it.feed_id for it in items})
        rnd.shuffle(feeds)
        rank = {feed_id: n for n, feed_id in enumerate(feeds)}
        return sorted(items, key=lambda it: (rank[it.feed_id], it.key))
    shuffled = list(items)
    rnd.shuffle(shuffled)
    return shuffled


def replay(items: list[LabelledItem], rules: StoryRules | None = None, per_feed: bool = False) -> dict[str, int]:
    """Place every item in turn, as a poll cycle does; the story id each item got. With `per_feed`,
    a run of one feed's items is indexed only after the whole run is placed (one transaction)."""
    index = StoryIndex(rules=rules)
    given: dict[str, int] = {}
    pending: list[StoryMember] = []
    for number, it in enumerate(items, start=1):
        if pending and (not per_feed or pending[-1].feed_id != it.feed_id):
            for member in pending:
                index.add(member)
            pending.clear()
        story_id = index.place(StoryCandidate(it.feed_id, it.published, it.title, it.summary, it.vector))
        given[it.key] = story_id if story_id is not None else number
        pending.append(StoryMember(number, given[it.key], it.feed_id, it.published, it.title, it.summary, it.vector))
    return given


def pairwise(items: list[LabelledItem], given: dict[str, int], keys: set[str] | None = None) -> Pairwise:
    """Pairwise precision/recall/F1 over the items (or only those whose key is in `keys`)."""
    scored = [it for it in items if keys is None or it.key in keys]
    tp = fp = fn = 0
    for a, b in itertools.combinations(scored, 2):
        same_truth, same_given = a.story == b.story, given[a.key] == given[b.key]
        tp += same_truth and same_given
        fp += same_given and not same_truth
        fn += same_truth and not same_given
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return Pairwise(p, r, 2 * p * r / (p + r) if p + r else 0.0)


def averaged(results: list[Pairwise]) -> Pairwise:
    return Pairwise(*(statistics.fmean(getattr(r, f) for r in results) for f in ("precision", "recall", "f1")))


def measure(
    rows: list[dict],
    extra: list[dict] | None = None,
    rules: StoryRules | None = None,
    seeds: tuple[int, ...] = SEEDS,
    orders: tuple[str, ...] = ORDERS,
) -> dict[str, Pairwise]:
    """Average pairwise figures over seeds and orders: on all items, on the story rows only,
    and on the story rows for each order (`stories:<order>`)."""
    overall, stories_only = [], []
    per_order: dict[str, list[Pairwise]] = {order: [] for order in orders}
    for seed, order in itertools.product(seeds, orders):
        rnd = random.Random(seed)
        feeds: dict[str, int] = {}
        items = dated(rows, rnd, 30, feeds) + (singles(extra, rnd, feeds) if extra else [])
        given = replay(ordered(items, order, rnd), rules, per_feed=order == "poll")
        overall.append(pairwise(items, given))
        stories_only.append(pairwise(items, given, {row["id"] for row in rows}))
        per_order[order].append(stories_only[-1])
    return {
        "all": averaged(overall),
        "stories": averaged(stories_only),
        **{f"stories:{order}": averaged(results) for order, results in per_order.items()},
    }


def synthetic_rows(templates: list[dict], count: int, rnd: random.Random) -> list[dict]:
    """Plausible items: template sentences with their names and numbers swapped for new ones."""
    out = []
    for number in range(count):
        row = rnd.choice(templates)
        tag = f"Объект{number % 7919}" if rnd.random() < 0.5 else f"Район{number % 1543}"
        title, summary = f"{row['title']} {tag} {rnd.randint(1, 5000)}", f"{row['summary']} Улица{rnd.randint(1, 20000)}"
        out.append(
            {"title": title, "summary": summary, "vector": meaning(row)}
        )  # the template's vector: encoding 100k texts would take hours
    return out


def cost_per_item(templates: list[dict], members: int = 100_000, probes: int = 300) -> dict[str, float | int]:
    """Milliseconds per `place` with `members` synthetic items spread across a 48-hour window
    (with the encoder's vectors, unless BENCH_ENCODER=none)."""
    rnd = random.Random(0)
    index = StoryIndex(window=timedelta(hours=48), rules=StoryRules.reading(_ENCODER.name))
    step = timedelta(hours=47) / members
    started = time.perf_counter()
    for number, row in enumerate(synthetic_rows(templates, members, rnd)):
        index.add(StoryMember(number, number // 3, number % 40, START + step * number, row["title"], row["summary"], row["vector"]))
    loaded = time.perf_counter() - started
    now = START + timedelta(hours=47, minutes=30)
    probe_rows = [rnd.choice(templates) for _ in range(probes)]
    for row in probe_rows[:20]:  # warm the lemma cache, as a running service has it
        index.place(StoryCandidate(999, now, row["title"], row["summary"], meaning(row)))
    timings = []
    for row in probe_rows:
        t0 = time.perf_counter()
        index.place(StoryCandidate(999, now, row["title"], row["summary"], meaning(row)))
        timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    return {
        "members": len(index),
        "load_seconds": loaded,
        "ms_per_item": statistics.fmean(timings),
        "ms_p95": timings[int(0.95 * len(timings))],
    }


def run(rules: StoryRules | None = None, cost: bool = True) -> dict:
    """Every figure of the benchmark, as a dict (stories_dev entries only when ../shared exists)."""
    results: dict = {}
    own = read_jsonl(LABELLED)
    results["labelled"] = measure(own, rules=rules)["all"]
    templates = own
    if (SHARED_DATA / "stories_dev.jsonl").exists():
        dev = read_jsonl(SHARED_DATA / "stories_dev.jsonl")
        topics = read_jsonl(SHARED_DATA / "topics_dev.jsonl")
        results["stories_dev"] = measure(dev, rules=rules)["all"]
        mixed = measure(dev, topics, rules=rules)
        results["stories_dev_with_singles"] = mixed["all"]
        results["stories_dev_with_singles_story_pairs"] = mixed["stories"]
        results["stories_dev_with_singles_story_pairs_poll_order"] = mixed["stories:poll"]
        templates = own + dev + topics
    if cost:
        results["cost"] = cost_per_item(templates)
    return results


WORD_VECTOR_FEATURES = ("w_told", "w_tells", "w_untold")
FIT_SEEDS = (1, 2)
FIT_ORDERS = ("shuffled", "chronological")
FIT_C = 3.0  # inverse strength of the L2 penalty
FIT_SHIFT = 1.0  # added to the fitted bias: trades a little precision for recall (F1)


def decisions(rows: list[dict], extra: list[dict] | None = None) -> tuple[list[dict[str, float]], list[bool]]:
    """The evidence `place` weighs for every story it considers, with whether that story is the
    item's own: items replayed with their true stories, so every decision starts from a right state."""
    evidence, same = [], []
    for seed, order in itertools.product(FIT_SEEDS, FIT_ORDERS):
        rnd = random.Random(seed)
        feeds: dict[str, int] = {}
        items = ordered(dated(rows, rnd, 30, feeds) + (singles(extra, rnd, feeds) if extra else []), order, rnd)
        index, true_ids = StoryIndex(), {}
        for number, it in enumerate(items, start=1):
            for story_id, features in index.evidence(StoryCandidate(it.feed_id, it.published, it.title, it.summary, it.vector)).items():
                evidence.append(features)
                same.append(story_id == true_ids.get(it.story))
            story_id = true_ids.setdefault(it.story, len(true_ids) + 1)
            index.add(StoryMember(number, story_id, it.feed_id, it.published, it.title, it.summary, it.vector))
    return evidence, same


def fit_rules(evidence: list[dict[str, float]], same: list[bool]) -> StoryRules:
    """Logistic regression of `same` on the evidence (no intercept: `w_bias` is a feature);
    its coefficients are the weights. With the encoder, the word-vector features are left out
    (they add nothing beside it; see `StoryRules.reads_word_vectors`)."""
    dropped = WORD_VECTOR_FEATURES if _ENCODER.name != "none" else ()
    names = sorted(name for name in evidence[0] if name not in dropped)
    matrix = logistic.SparseRows.from_dicts([{i: features[name] for i, name in enumerate(names)} for features in evidence], len(names))
    # two classes: the difference of their weight vectors is the binary model at twice the C given
    coef, _ = logistic.fit(matrix, np.array(same, dtype=np.int64), np.ones(len(same)), 2, FIT_C / 2, intercept=False)
    weights = {name: round(float(w), 2) for name, w in zip(names, coef[:, 1] - coef[:, 0], strict=True)}
    weights["w_bias"] = round(weights["w_bias"] + FIT_SHIFT, 2)
    return dataclasses.replace(StoryRules(), **weights, **dict.fromkeys(dropped, 0.0))


def half(rows: list[dict], which: int, key: str = "story") -> list[dict]:
    """One of two fixed halves of the rows, split by event (or by item for singles)."""
    groups = sorted({row[key] for row in rows})
    random.Random(11).shuffle(groups)
    chosen = set(groups[which::2])
    return [row for row in rows if row[key] in chosen]


def fit() -> StoryRules:
    """Out-of-fold figures on the dev halves, then the weights fitted on every labelled item."""
    own = read_jsonl(LABELLED)
    own_evidence, own_same = decisions(own)
    dev = read_jsonl(SHARED_DATA / "stories_dev.jsonl")
    topics = read_jsonl(SHARED_DATA / "topics_dev.jsonl")
    for which in (0, 1):
        evidence, same = decisions(half(dev, which), half(topics, which, "id"))
        rules = fit_rules(own_evidence + evidence, own_same + same)
        held_out = measure(half(dev, 1 - which), rules=rules)["all"]
        mixed = measure(half(dev, 1 - which), half(topics, 1 - which, "id"), rules=rules)
        print(
            f"fitted on own + half {which}, measured on half {1 - which}: "
            + _figures(held_out)
            + " | with singles, story pairs: "
            + _figures(mixed["stories"])
            + " | all items: "
            + _figures(mixed["all"])
        )
    evidence, same = decisions(dev, topics)
    rules = fit_rules(own_evidence + evidence, own_same + same)
    print("fitted on everything:", {f.name: getattr(rules, f.name) for f in dataclasses.fields(rules) if f.name.startswith("w_")})
    return rules


def _figures(value: Pairwise) -> str:
    return f"precision={value.precision:.3f} recall={value.recall:.3f} f1={value.f1:.3f}"


def main() -> int:
    if sys.argv[1:] == ["fit"]:
        fit()
        return 0
    if not SHARED_DATA.is_dir():
        print(f"stories_dev: skipped ({SHARED_DATA} is absent)")
    results = run()
    for name, value in results.items():
        if isinstance(value, Pairwise):
            print(f"{name}: {_figures(value)}")
        else:
            print(f"{name}: " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
