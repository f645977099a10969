"""What an item's text says, for story grouping: `profile` reads a title and summary once.

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

import re
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
from aggregator.pipeline.lemmas import analyse, is_proper


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


@dataclass(frozen=True, slots=True)
class Meaning:
    """The content words of an item for comparing meanings: one (lemma, form as written, name
    key or "" when not a name, whether in the title) per distinct lemma."""

    words: tuple[tuple[str, str, str, bool], ...]

    def vectors(self) -> np.ndarray:
        """One unit row per word (zeros for a word the vectors do not know)."""
        rows = [embeddings.vector(form, lemma) for lemma, form, _, _ in self.words]
        zero = np.zeros(embeddings.DIMENSIONS, dtype=np.float32)
        return np.stack([zero if row is None else row for row in rows]) if rows else np.zeros((0, embeddings.DIMENSIONS), np.float32)


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


TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[A-Za-zА-Яа-яЁё]+(?:-[A-Za-zА-Яа-яЁё]+)*|[.!?«»\"]")
SENTENCE_END = frozenset(".!?")
QUOTES = frozenset('«»"')
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


@dataclass(frozen=True)
class _Word:
    surface: str
    term: str
    name: bool = False
    number: bool = False
    function: bool = False


def _words(text: str) -> list[_Word]:
    """The words of a text with what the decision needs to know about each."""
    out: list[_Word] = []
    sentence_start, quoted = True, False
    for token in TOKEN.findall(text):
        if token in QUOTES:
            quoted = not quoted if token == '"' else token == "«"
        elif token in SENTENCE_END:
            sentence_start = True
        else:
            out.append(_word(token, sentence_start, quoted))
            sentence_start = False
    return out


@lru_cache(maxsize=50_000)  # news repeat their words: one analysis (and one object) per word and position
def _word(token: str, sentence_start: bool, quoted: bool) -> _Word:
    if token[0].isdigit():
        return _Word(sys.intern(token), sys.intern("#" + token.replace(",", ".")), number=True)
    surface = sys.intern(token.lower().replace("ё", "е"))  # interned: two days of items repeat their words
    lemma, function_word = analyse(surface)
    capital = token[0].isupper() and (not sentence_start or is_proper(surface))
    name = quoted or capital or (len(token) > 1 and token.isupper())
    return _Word(surface, lemma, name=name, function=function_word or len(lemma) < 2 or lemma in STOP)


def _key(surface: str) -> str:
    """The part of a name that case endings leave alone: «Томи», «Томь» -> «том»."""
    return sys.intern(surface[: max(3, min(5, len(surface) - 1))])


def _quantities(words: list[_Word]) -> set[tuple[str, str]]:
    """(unit, value) pairs such as («человек», «#14»): a number and the word after it."""
    out = set()
    for i, word in enumerate(words):
        if not word.number or ":" in word.term:
            continue
        value, j = word.term, i + 1
        if j < len(words) and words[j].term in SCALE:
            value, j = value + words[j].term, j + 1
        if j < len(words) and not words[j].function and not words[j].number:
            out.add((words[j].term, value))
    return out


def _weighted_terms(words: list[_Word], weight: float, rules: StoryRules) -> dict[str, float]:
    terms: dict[str, float] = {}
    for word in words:
        if word.function:
            continue
        boost = weight * (rules.name_boost if word.name else 1.0)
        extra = [(word.term, _float(boost))]
        if not word.number and len(word.term) > rules.stem_length:
            extra.append((sys.intern("~" + word.term[: rules.stem_length]), _float(boost * rules.stem_weight)))
        if word.term in CONCEPTS:
            extra.append((CONCEPTS[word.term], _float(weight * rules.concept_weight)))
        for term, value in extra:
            terms[term] = max(terms.get(term, 0.0), value)
    return terms


def _alternatives(word: _Word, rules: StoryRules) -> tuple[str, ...]:
    """The terms under which another item may mention the same word."""
    out = [word.term]
    if not word.number and len(word.term) > rules.stem_length:
        out.append(sys.intern("~" + word.term[: rules.stem_length]))
    if word.term in CONCEPTS:
        out.append(CONCEPTS[word.term])
    return _shared(_TUPLES, tuple(out))


@lru_cache(maxsize=1024)  # an item is profiled when placed and again when indexed, a feed later at most
def profile(title: str, summary: str, rules: StoryRules = StoryRules()) -> ItemProfile:
    """Weighted terms of one item (title terms count more; names are boosted) and its facts."""
    title_words, summary_words = _words(title), _words(summary)
    terms = _weighted_terms(summary_words, 1.0, rules)
    for term, weight in _weighted_terms(title_words, rules.title_weight, rules).items():
        terms[term] = max(terms.get(term, 0.0), weight)
    every = title_words + summary_words
    return ItemProfile(
        terms=terms,
        title_keys=tuple(_alternatives(w, rules) for w in title_words if not w.function),
        names=_distinct((w.term, _key(w.surface)) for w in every if w.name and not w.function),
        title_names=_distinct((w.term, _key(w.surface)) for w in title_words if w.name and not w.function),
        surfaces=tuple(sorted({w.surface for w in every})),
        lemmas=tuple(sorted({w.term for w in every})),
        numbers=_distinct(w.term for w in every if w.number),
        scores=_distinct(w.term for w in every if w.number and ":" in w.term),
        quantities=_distinct(_quantities(title_words) | _quantities(summary_words)),
        times_of_day=_distinct(TIMES_OF_DAY[w.surface] for w in every if w.surface in TIMES_OF_DAY),
        outcomes=_distinct(OUTCOMES[w.term] for w in every if w.term in OUTCOMES),
        meaning=_meaning(title_words, summary_words),
    )


def _meaning(title_words: list[_Word], summary_words: list[_Word]) -> Meaning:
    seen: dict[str, tuple[str, str, str, bool]] = {}
    for in_title, words in ((True, title_words), (False, summary_words)):
        for w in words:
            if not (w.function or w.number) and w.term not in seen:
                seen[w.term] = _shared(_TUPLES, (w.term, w.surface, _key(w.surface) if w.name else "", in_title))
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
