"""The evidence for and against one story: a new item's profile against its members'.

Each feature compares what two items' texts say (`story_profile`): how much of each title the
other side mentions, the names and figures they share, places named on one side only,
figures that cannot both be true, and how close their words are in meaning. Terms are weighed
by their rarity in the window (`rarity`: a term's idf, worked out by the index) and by
`StoryRules`. Which stories are scored, in what order, and summing the weighted features are
`cluster.StoryIndex`'s business.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping

import numpy as np

from aggregator.pipeline.story_profile import ItemProfile, Meaning, StoryRules, closeness

# The features in the order `StoryIndex.evidence` lists them and `place` sums their weighted values.
CHEAP_FEATURES = (
    "w_bias",
    "w_cover",
    "w_covered",
    "w_uncovered",
    "w_names",
    "w_numbers",
    "w_conflict",
    "w_disagree",
    "w_same_feed",
    "w_gap",
    "w_sense",
    "w_sense_story",
)
MEANING_FEATURES = ("w_centroid", "w_told", "w_tells", "w_untold")  # see StoryIndex._meaning_features

Title = tuple[tuple[tuple[str, ...], float], ...]  # each title word's alternatives, with its rarity
Terms = dict[str, float] | Counter[str]


def coverage(title: Title, terms: Terms) -> float:
    """The share of a title (each word's alternatives, with its rarity) that the other side
    mentions in some form."""
    total = covered = 0.0
    mentioned = terms.keys()
    for alternatives, weight in title:
        total += weight
        if not mentioned.isdisjoint(alternatives):
            covered += weight
    return covered / total if total else 0.0


def weighed(keys: tuple[tuple[str, ...], ...], rarity: Mapping[str, float]) -> Title:
    """Each title word's alternatives with the rarity of its first form, as `coverage` reads them."""
    return tuple((alternatives, rarity[alternatives[0]]) for alternatives in keys)


def similarity(
    weights: dict[str, float], item: ItemProfile, other: Terms, others: list[ItemProfile], rarity: Mapping[str, float], rules: StoryRules
) -> float:
    """Geometric mean of the cosine over every term and over what-happened terms only."""
    names = {n for n, _ in item.names}.union(*({n for n, _ in o.names} for o in others))
    names |= {"~" + n[: rules.stem_length] for n in names}
    whole = cosine(weights, other, rarity)
    if not whole:
        return 0.0
    content = {t: w for t, w in weights.items() if t not in names and t[0] != "#"}
    other_content = {t: w for t, w in other.items() if t not in names and t[0] != "#"}
    return math.sqrt(whole * cosine(content, other_content, rarity))


def cosine(weights: dict[str, float], other: Terms, rarity: Mapping[str, float]) -> float:
    dot = norm = 0.0
    for term, tf in other.items():
        w = tf * rarity[term]
        norm += w * w
        if term in weights:
            dot += w * weights[term]
    own = math.sqrt(sum(w * w for w in weights.values()))
    return dot / (own * math.sqrt(norm)) if dot else 0.0


def told(a: ItemProfile, b: ItemProfile, rarity: Mapping[str, float], rules: StoryRules) -> tuple[float, float]:
    """How much of each item's title the other item tells, in the same or other words.

    Each title word is matched with the closest word of the other item's title and
    summary: the same lemma, or a word whose vector is close enough (a synonym or a
    paraphrase: «подорожает» and «вырастет»); names match only themselves. The share is
    weighted by rarity. Returns (a's title told by b, b's title told by a).
    """
    if not a.meaning.words or not b.meaning.words:
        return 0.0, 0.0
    close = closeness(a.meaning, b.meaning)
    return _share_told(a.meaning, close.max(axis=1), rarity, rules), _share_told(b.meaning, close.max(axis=0), rarity, rules)


def _share_told(meaning: Meaning, best: np.ndarray, rarity: Mapping[str, float], rules: StoryRules) -> float:
    credit = np.clip((best - rules.synonym_floor) / (rules.synonym_full - rules.synonym_floor), 0.0, 1.0)
    weights = np.array([rarity[lemma] if in_title else 0.0 for lemma, _, _, in_title in meaning.words])
    total = weights.sum()
    return float(weights @ credit) / total if total else 0.0


def name_rarity(names: list[tuple[str, str]], rarity: Mapping[str, float]) -> float:
    """Rarity of the names both items mention (as `mentions` finds them), in tens of nats."""
    return sum(sorted(rarity[n] for n, _ in names)) / 10


def shared_numbers(ours: frozenset[str], b: ItemProfile, rarity: Mapping[str, float]) -> float:
    """Rarity of the figures both items give, in tens of nats."""
    return sum(sorted(rarity[n] for n in ours.intersection(b.numbers))) / 10


def conflict(item: ItemProfile, story: list[ItemProfile], mentioned: list[list[tuple[str, str]]], rarity: Mapping[str, float]) -> float:
    """Places named in the titles on both sides that the other side never mentions
    (`mentioned`: the item's names that each member of the story mentions)."""
    story_names = frozenset().union(*(p.title_names for p in story))
    mentioned_anywhere = set().union(*mentioned)
    ours = [rarity[n] for n, key in item.title_names if (n, key) not in mentioned_anywhere]
    theirs = [rarity[n] for n, key in story_names if not item.mentions(n, key)]
    return min(max(ours, default=0.0), max(theirs, default=0.0)) / 10


def disagreement(a: ItemProfile, b: ItemProfile, rules: StoryRules) -> float:
    """Figures that cannot both be true of one event: another match score, another count."""
    penalty = 0.0
    if a.scores and b.scores and not set(a.scores).intersection(b.scores):
        penalty += 1.0
    if a.times_of_day and b.times_of_day and not set(a.times_of_day).intersection(b.times_of_day):
        penalty += rules.time_of_day_share
    if len(a.outcomes) == len(b.outcomes) == 1 and a.outcomes != b.outcomes:
        penalty += rules.outcome_share
    units_a, units_b = {u for u, _ in a.quantities}, {u for u, _ in b.quantities}
    values_a, values_b = {v for _, v in a.quantities}, {v for _, v in b.quantities}
    if units_a & units_b and not values_a & values_b:
        penalty += rules.quantity_share
    return penalty


def sense(vector: np.ndarray | None, members: list[np.ndarray | None], rules: StoryRules) -> Iterator[tuple[str, float]]:
    """How close the sentence encoder puts the item to its nearest member, and to the story's
    centroid (the mean of its members' vectors), mapped from cosines above `sense_floor` to
    [0, 1]; 0 where either side has no vector."""
    known = [m for m in members if m is not None]
    if vector is None or not known:
        yield "w_sense", 0.0
        yield "w_sense_story", 0.0
        return
    stacked = np.stack(known).astype(np.float32)
    floor = rules.sense_floor
    cosines = stacked @ vector
    yield "w_sense", _above(float(cosines.max()), floor)
    yield "w_sense_story", _above(float(cosines.min()), floor)


def _above(cosine: float, floor: float) -> float:
    return min(max((cosine - floor) / (1.0 - floor), 0.0), 1.0)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)
