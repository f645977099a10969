"""What an item's text says, for story grouping: `profile` reads a title and summary.

It reads the tokens of the item's one analysis (`analysis.passage`: words with their lemmas,
numbers, names) and chooses among them: which words count (no function or stop words), which
terms and facts they give.

An item's profile holds its terms weighted for matching (lemmas; stems and news concepts as
weaker alternatives; title words and names count more), its names with the part that case
endings leave alone («Томи», «Томь» -> «том»), its figures, quantities («14 человек»), match
scores, times of day and outcomes, and its content words for comparing meanings with Russian
word vectors (`embeddings`; `closeness`). The word lists (stop words, concepts, prior rates of
common news words...) come from `aggregator/data/story_words.toml`. `StoryRules` holds the
constants of both the profile and the decision. Profiles are pure and cached; what they are
compared for, and the window of stories, are `story_evidence`'s and `cluster`'s.
"""

from __future__ import annotations

import sys
import tomllib
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from aggregator.pipeline import embeddings
from aggregator.pipeline.analysis import Token, passage


@dataclass(frozen=True)
class StoryRules:
    """The constants of story grouping: of an item's profile (`title_weight`, `name_boost`,
    `stem_weight`, `concept_weight`, `stem_length`) and of the decision. A story is joined
    when the weighted evidence is positive.

    The `w_` weights are fitted by `python -m bench.stories fit` (logistic regression on the
    labelled sets, bias shifted by +1 towards recall); the rest are set by hand.
    """

    w_bias: float = -1.97
    w_centroid: float = 0.53
    w_cover: float = 2.9
    w_covered: float = 3.14
    w_uncovered: float = -3.13
    w_names: float = 1.31
    w_numbers: float = 2.35
    w_conflict: float = -4.58
    w_disagree: float = -1.73
    w_told: float = 0.59
    w_tells: float = 0.35
    w_untold: float = -2.11
    w_same_feed: float = -2.52
    w_gap: float = -2.33
    w_sense: float = 0.0
    w_sense_story: float = 0.0
    sense_floor: float = 0.8
    quantity_share: float = 0.5
    time_of_day_share: float = 0.5
    outcome_share: float = 0.5
    title_weight: float = 2.0
    synonym_floor: float = 0.3
    synonym_full: float = 0.6
    name_boost: float = 1.3
    stem_weight: float = 0.5
    concept_weight: float = 0.5
    stem_length: int = 5
    prior_docs: float = 200.0
    unseen_rate: float = 0.002
    max_posting: int = 300
    max_stories_scored: int = 8
    vote_floor: float = 0.25

    @property
    def reads_word_vectors(self) -> bool:
        """Whether the decision compares words by their vectors (`told`): not once the sentence
        encoder reads meaning (fitted with it, those features added nothing out of fold)."""
        return bool(self.w_told or self.w_tells or self.w_untold)

    @classmethod
    def reading(cls, encoder: str) -> StoryRules:
        """The rules for items read by `encoder` ("none": words only; see `pipeline/encoder`)."""
        return cls() if encoder == "none" else cls(**WITH_SENSE)


# The `w_` weights fitted with the sentence encoder's vectors as two more features (`w_sense`,
# `w_sense_story`) and without the word-vector features (`w_told`, `w_tells`, `w_untold`: out of
# fold, F1 0.830/0.843 without them against 0.836/0.842 with them, at half the cost of `place`):
# `python -m bench.stories fit`.
WITH_SENSE = {
    "w_bias": -5.86,
    "w_centroid": -2.17,
    "w_cover": 2.01,
    "w_covered": 2.15,
    "w_uncovered": -2.84,
    "w_names": 0.77,
    "w_numbers": 1.25,
    "w_conflict": -3.89,
    "w_disagree": -1.91,
    "w_told": 0.0,
    "w_tells": 0.0,
    "w_untold": 0.0,
    "w_same_feed": -2.38,
    "w_gap": -2.7,
    "w_sense": 7.15,
    "w_sense_story": 3.86,
}


@dataclass(frozen=True, eq=False, slots=True)
class Meaning:
    """The content words of an item for comparing meanings: one (lemma, form as written, name
    key or "" when not a name, whether in the title) per distinct lemma.

    Hashed and compared by identity: `closeness` asks the caches of vectors and rows four times
    per comparison, and by value each asking hashed and compared every word (3.6 µs for a text
    of 50 words, against 0.07 µs)."""

    words: tuple[tuple[str, str, str, bool], ...]

    def vectors(self) -> np.ndarray:
        """One unit row per word (zeros for a word the vectors do not know)."""
        rows = np.zeros((len(self.words), embeddings.DIMENSIONS), np.float32)
        for i, (lemma, form, _, _) in enumerate(self.words):
            row = embeddings.vector(form, lemma)
            if row is not None:
                rows[i] = row
        return rows


@dataclass(frozen=True, eq=False, slots=True)
class ItemProfile:
    """What the decision needs of one item's text."""

    terms: dict[str, float]
    title_keys: tuple[tuple[str, ...], ...]
    # The sets are sorted tuples of distinct values: a tuple costs a quarter of a frozenset,
    # and two days of items hold a hundred thousand of them.
    names: tuple[tuple[str, str], ...]
    title_names: tuple[tuple[str, str], ...]
    surfaces: tuple[str, ...]  # sorted, for `mentions`
    lemmas: tuple[str, ...]  # sorted, for `mentions`
    numbers: tuple[str, ...]
    scores: tuple[str, ...]
    quantities: tuple[tuple[str, str], ...]
    times_of_day: tuple[str, ...]
    outcomes: tuple[str, ...]
    meaning: Meaning

    def mentions(self, name: str, key: str) -> bool:
        """Whether the item mentions a name, in any form: its lemma is one of ours, or one of
        our words starts with its key (3 to 5 letters, see `_key`), or is the key itself."""
        return _has(self.lemmas, name) or _has(self.lemmas, key) or _starts(self.surfaces, name) or _starts(self.surfaces, key)


def _has(words: tuple[str, ...], word: str) -> bool:
    at = bisect_left(words, word)
    return at < len(words) and words[at] == word


def _starts(words: tuple[str, ...], start: str) -> bool:
    """Whether one of the sorted `words` starts with `start` (of at most 5 letters; for under
    3, a word equal to it), as the first 3, 4 or 5 letters of a word would."""
    if len(start) > 5:
        return False
    if len(start) < 3:
        return _has(words, start)
    at = bisect_left(words, start)
    return at < len(words) and words[at].startswith(start)


WORDS = tomllib.loads((Path(__file__).resolve().parent.parent / "data" / "story_words.toml").read_text(encoding="utf-8"))
STOP = frozenset(WORDS["stop"].split())
CONCEPTS = {lemma: "@" + concept for concept, lemmas in WORDS["concepts"].items() for lemma in lemmas.split()}
PRIOR_RATES = {lemma: float(rate) for rate, lemmas in WORDS["prior_rates"].items() for lemma in lemmas.split()}
TIMES_OF_DAY = {form: part for part, forms in WORDS["times_of_day"].items() for form in forms.split()}
OUTCOMES = {lemma: outcome for outcome, lemmas in WORDS["outcomes"].items() for lemma in lemmas.split()}
SCALE = frozenset(WORDS["numbers"]["scale"].split())

_FLOATS: dict[float, float] = {}
_TUPLES: dict[tuple, tuple] = {}
SHARED_LIMIT = 100_000  # a table of shared values is emptied when it grows past this: sharing is an economy, not a meaning


def _shared(table: dict, value: Any) -> Any:
    """One object for equal values (interned, as words are), so that two days of items do not hold a copy each."""
    if len(table) > SHARED_LIMIT:
        table.clear()
    return table.setdefault(value, value)


def _distinct(values: Iterable[Any]) -> tuple:
    """The distinct values, sorted; a pair (name and key, unit and value) is shared."""
    return tuple(_shared(_TUPLES, v) if isinstance(v, tuple) else v for v in sorted(set(values)))


def _float(value: float) -> float:
    return _shared(_FLOATS, value)


def _counts(token: Token) -> bool:
    """Whether a token is a word that carries the item's subject: not a function word, a
    one-letter word or a stop word (a number always counts)."""
    return not (token.function or len(token.lemma) < 2 or token.lemma in STOP)


def _key(surface: str) -> str:
    """The part of a name that case endings leave alone: «Томи», «Томь» -> «том»."""
    return sys.intern(surface[: max(3, min(5, len(surface) - 1))])


def _quantities(tokens: tuple[Token, ...]) -> set[tuple[str, str]]:
    """(unit, value) pairs such as («человек», «#14»): a number and the word after it."""
    out = set()
    for i, token in enumerate(tokens):
        if not token.number or ":" in token.lemma:
            continue
        value, j = token.lemma, i + 1
        if j < len(tokens) and tokens[j].lemma in SCALE:
            value, j = value + tokens[j].lemma, j + 1
        if j < len(tokens) and not tokens[j].number and _counts(tokens[j]):
            out.add((tokens[j].lemma, value))
    return out


def _weighted_terms(words: list[Token], weight: float, rules: StoryRules) -> dict[str, float]:
    """The terms of the words that count, each at its highest weight."""
    terms: dict[str, float] = {}
    for word in words:
        boost = weight * (rules.name_boost if word.name else 1.0)
        extra = [(word.lemma, _float(boost))]
        if not word.number and len(word.lemma) > rules.stem_length:
            extra.append((sys.intern("~" + word.lemma[: rules.stem_length]), _float(boost * rules.stem_weight)))
        if word.lemma in CONCEPTS:
            extra.append((CONCEPTS[word.lemma], _float(weight * rules.concept_weight)))
        for term, value in extra:
            terms[term] = max(terms.get(term, 0.0), value)
    return terms


def _alternatives(word: Token, rules: StoryRules) -> tuple[str, ...]:
    """The terms under which another item may mention the same word."""
    out = [word.lemma]
    if not word.number and len(word.lemma) > rules.stem_length:
        out.append(sys.intern("~" + word.lemma[: rules.stem_length]))
    if word.lemma in CONCEPTS:
        out.append(CONCEPTS[word.lemma])
    return _shared(_TUPLES, tuple(out))


@lru_cache(maxsize=1024)  # an item is profiled when placed and again when indexed, a feed later at most
def profile(title: str, summary: str, rules: StoryRules = StoryRules()) -> ItemProfile:
    """Weighted terms of one item (title terms count more; names are boosted) and its facts,
    read from the tokens of its one analysis (`analysis.passage`)."""
    title_tokens, summary_tokens = passage(title).tokens, passage(summary).tokens
    every = title_tokens + summary_tokens
    title_words, summary_words = [t for t in title_tokens if _counts(t)], [t for t in summary_tokens if _counts(t)]
    terms = _weighted_terms(summary_words, 1.0, rules)
    for term, weight in _weighted_terms(title_words, rules.title_weight, rules).items():
        terms[term] = max(terms.get(term, 0.0), weight)
    return ItemProfile(
        terms=terms,
        title_keys=tuple(_alternatives(w, rules) for w in title_words),
        names=_distinct((w.lemma, _key(w.form)) for w in title_words + summary_words if w.name),
        title_names=_distinct((w.lemma, _key(w.form)) for w in title_words if w.name),
        surfaces=tuple(sorted({t.form for t in every})),
        lemmas=tuple(sorted({t.lemma for t in every})),
        numbers=_distinct(t.lemma for t in every if t.number),
        scores=_distinct(t.lemma for t in every if t.number and ":" in t.lemma),
        quantities=_distinct(_quantities(title_tokens) | _quantities(summary_tokens)),
        times_of_day=_distinct(TIMES_OF_DAY[t.form] for t in every if t.form in TIMES_OF_DAY),
        outcomes=_distinct(OUTCOMES[t.lemma] for t in every if t.lemma in OUTCOMES),
        meaning=_meaning(title_words, summary_words),
    )


def _meaning(title_words: list[Token], summary_words: list[Token]) -> Meaning:
    seen: dict[str, tuple[str, str, str, bool]] = {}
    for in_title, words in ((True, title_words), (False, summary_words)):
        for w in words:
            if not w.number and w.lemma not in seen:
                seen[w.lemma] = _shared(_TUPLES, (w.lemma, w.form, _key(w.form) if w.name else "", in_title))
    return Meaning(tuple(seen.values()))


@lru_cache(maxsize=128)  # about 25 KB each (300 floats a word): kept for the items compared most, not the window
def _vectors(meaning: Meaning) -> np.ndarray:
    return meaning.vectors()


@lru_cache(maxsize=256)
def _lookup(meaning: Meaning) -> tuple[np.ndarray, dict[str, int]]:
    """Rows that are names, and each word's row by lemma (and by name key, marked «^»)."""
    names = np.array([bool(key) for _, _, key, _ in meaning.words])
    rows = {lemma: i for i, (lemma, _, _, _) in enumerate(meaning.words)}
    rows.update({"^" + key: i for i, (_, _, key, _) in enumerate(meaning.words) if key})
    return names, rows


def closeness(a: Meaning, b: Meaning) -> np.ndarray:
    """Word-by-word closeness of two items: cosine of vectors, 1 for one lemma, names only themselves."""
    close = _vectors(a) @ _vectors(b).T
    (names_a, rows_a), (names_b, rows_b) = _lookup(a), _lookup(b)
    close[names_a, :] = 0.0
    close[:, names_b] = 0.0
    for term, i in rows_a.items():
        j = rows_b.get(term)
        if j is not None:
            close[i, j] = 1.0
    return close
