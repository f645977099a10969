"""Story grouping: which earlier item, if any, reports the same event as a new one.

`StoryIndex` holds the items published within a time window (48 hours by default) and
answers one question per new item: the id of the story it joins, or None to start a new
story. It is incremental (a placed item is never moved), deterministic (the same items
added and placed in the same order give the same answers) and indexed: an inverted index
from distinctive terms (lemmas, names, numbers) to members finds the few stories worth
scoring, so the cost of `place` does not grow with an all-pairs scan.

What makes two reports "the same event": they share rare terms (a street, a village, a team,
«14 человек», «300 квадратных метров»), weighted by rarity (document frequency in the window,
smoothed with a built-in prior of common news words), their titles agree, they are close in
time, and they come from different outlets (an outlet seldom reports an event twice). What
keeps apart different events on one subject: their titles name different places (another
fire on another street) or their figures disagree (another match score, another distance).
Words and their paraphrases («пожар», «сгорел», «огонь») meet through shared stems, a
small lexicon of news concepts (`CONCEPTS`, from `aggregator/data/story_words.toml`) and Russian word
vectors (`embeddings`): how much of each title the other item tells in close words
(«Плата за отопление вырастет» / «Тепло подорожает»). Names and figures match only
themselves, so two fires on two streets stay apart however alike their words are.

The storage layer owns story ids, persistence and loading the window; this module decides.
"""

from __future__ import annotations

import heapq
import math
import re
import sys
import tomllib
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from aggregator.pipeline import embeddings
from aggregator.pipeline.lemmas import analyse, is_proper

__all__ = ["ItemProfile", "StoryCandidate", "StoryIndex", "StoryMember", "StoryRules", "profile"]


@dataclass(frozen=True)
class StoryMember:
    """An item already in a story: loaded from storage, or just placed."""

    item_id: int
    story_id: int
    feed_id: int
    published: datetime
    title: str
    summary: str


@dataclass(frozen=True)
class StoryCandidate:
    """A new item that `StoryIndex.place` is asked about."""

    feed_id: int
    published: datetime
    title: str
    summary: str


@dataclass(frozen=True)
class StoryRules:
    """The constants of the decision. A story is joined when the weighted evidence is positive.

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


# The features in the order `evidence` lists them and `place` sums their weighted values.
CHEAP_FEATURES = ("w_bias", "w_cover", "w_covered", "w_uncovered", "w_names", "w_numbers", "w_conflict", "w_disagree", "w_same_feed", "w_gap")
MEANING_FEATURES = ("w_centroid", "w_told", "w_tells", "w_untold")  # see StoryIndex._meaning_features
# Float sums of a dozen weighted features are off by far less than this: a story is given up
# only when its ceiling is below the score to beat by at least so much, so rounding never decides.
SLACK = 1e-9
TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[A-Za-zА-Яа-яЁё]+(?:-[A-Za-zА-Яа-яЁё]+)*|[.!?«»\"]")
SENTENCE_END = frozenset(".!?")
QUOTES = frozenset("«»\"")
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


def _closeness(a: Meaning, b: Meaning) -> np.ndarray:
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


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


@dataclass(frozen=True, slots=True)
class _Entry:
    """A member as the index keeps it: what the decision reads, not the text it was profiled from."""

    story_id: int
    feed_id: int
    published: datetime
    profile: ItemProfile


@dataclass(frozen=True, slots=True)
class _Reading:
    """A candidate as the window reads it: what `place` weighs every story against, worked out
    once rather than once per story."""

    candidate: StoryCandidate
    item: ItemProfile
    weights: dict[str, float]  # the item's terms weighted by rarity
    stories: dict[int, list[_Entry]]  # the stories worth scoring, best first, with their members near in time
    title: tuple[tuple[tuple[str, ...], float], ...]  # each title word's alternatives, with its rarity
    numbers: frozenset[str]
    best: dict[str, float]  # the most each feature can add to a story's score
    ceiling: float  # the most a story can score: every feature at its best
    headroom: float  # the most the meaning features can add


def _coverage(title: tuple[tuple[tuple[str, ...], float], ...], terms: dict[str, float] | Counter[str]) -> float:
    """The share of a title (each word's alternatives, with its rarity) that the other side
    mentions in some form."""
    total = covered = 0.0
    mentioned = terms.keys()
    for alternatives, weight in title:
        total += weight
        if not mentioned.isdisjoint(alternatives):
            covered += weight
    return covered / total if total else 0.0


class _Rarity(dict[str, float]):
    """The idf of each term for the window as it stands, worked out when first asked for.

    The owner empties it whenever a member comes or goes; until then, every item placed (a
    feed's new items are placed before any is added) reuses the same values.
    """

    def __init__(self, entries: dict[int, _Entry], postings: dict[str, list[int]], rules: StoryRules) -> None:
        super().__init__()
        self.entries, self.postings, self.rules = entries, postings, rules

    def __missing__(self, term: str) -> float:
        rules = self.rules
        prior = PRIOR_RATES.get(term, rules.unseen_rate) * rules.prior_docs
        df = len(self.postings.get(term, ()))
        value = self[term] = math.log((len(self.entries) + rules.prior_docs + 1) / (df + prior + 0.5))
        return value


class StoryIndex:
    """The stories of one time window, indexed by their items' terms."""

    def __init__(self, window: timedelta = timedelta(hours=48), rules: StoryRules | None = None) -> None:
        self.window = window
        self.rules = rules or StoryRules()
        self._entries: dict[int, _Entry] = {}
        # each term's members, by their story ids (one per member: the votes for stories are all
        # that is read of a posting); lists: most terms have one or two members, and a set costs 200 bytes
        self._postings: dict[str, list[int]] = defaultdict(list)
        self._story_members: dict[int, list[int]] = defaultdict(list)
        # a story's terms summed over its members; a story of one member shares that member's
        # terms (most stories have one, and a copy would be a third of the index's memory)
        self._story_terms: dict[int, dict[str, float]] = {}
        self._expiry: list[tuple[datetime, int]] = []
        self._latest: datetime | None = None
        self._rarity = _Rarity(self._entries, self._postings, self.rules)  # emptied whenever the members change

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, member: StoryMember) -> None:
        """Index a known item (loaded from storage, or just placed); a known id is replaced."""
        if member.item_id in self._entries:
            self._forget(member.item_id)
        self._advance(member.published)
        if self._latest is not None and member.published < self._latest - self.window:
            return
        entry = _Entry(member.story_id, member.feed_id, member.published, profile(member.title, member.summary, self.rules))
        self._rarity.clear()
        self._entries[member.item_id] = entry
        for term in entry.profile.terms:
            self._postings[term].append(member.story_id)
        self._story_members[member.story_id].append(member.item_id)
        terms = self._story_terms.get(member.story_id)
        if terms is None:
            self._story_terms[member.story_id] = entry.profile.terms
        else:
            if not isinstance(terms, Counter):
                terms = self._story_terms[member.story_id] = Counter(terms)
            terms.update(entry.profile.terms)
        heapq.heappush(self._expiry, (member.published, member.item_id))

    def place(self, candidate: StoryCandidate) -> int | None:
        """The story the candidate joins, or None when it starts a new one: the first story of
        the highest positive score, in the order of `_candidate_stories`."""
        reading = self._read(candidate)
        best_story, best_score = None, 0.0
        for story_id, near in reading.stories.items():
            score = self._score(reading, story_id, near, best_score)
            if score is not None and score > best_score:
                best_story, best_score = story_id, score
        return best_story

    def evidence(self, candidate: StoryCandidate) -> dict[int, dict[str, float]]:
        """The evidence for and against each story worth scoring, as `place` weighs it."""
        reading = self._read(candidate)
        evidence = {}
        for story_id, near in reading.stories.items():
            features = dict(self._cheap_features(reading, story_id, near)) | dict(self._meaning_features(reading, story_id, near))
            evidence[story_id] = {name: features[name] for name in CHEAP_FEATURES + MEANING_FEATURES}
        return evidence

    def _score(self, reading: _Reading, story_id: int, near: list[_Entry], to_beat: float) -> float | None:
        """The story's weighted evidence, summed as `evidence` lists it; None as soon as the
        story is sure not to score above `to_beat`.

        The features are worked out one at a time, and a ceiling counts each one not yet known
        at the best it could be for this candidate (`_Reading.best`): once the ceiling is not
        above `to_beat`, the rest are not worked out. The word-meaning features, which compare
        word vectors, come last, and only when the cheap score leaves them room to win.
        """
        cheap = self._work_out(self._cheap_features(reading, story_id, near), reading, reading.ceiling, to_beat)
        if cheap is None:
            return None
        score = sum(getattr(self.rules, name) * cheap[name] for name in CHEAP_FEATURES)
        if score + reading.headroom <= to_beat:
            return None
        meaning = self._work_out(self._meaning_features(reading, story_id, near), reading, score + reading.headroom, to_beat)
        if meaning is None:
            return None
        return score + sum(getattr(self.rules, name) * meaning[name] for name in MEANING_FEATURES)

    def _work_out(self, features: Iterator[tuple[str, float]], reading: _Reading, ceiling: float, to_beat: float) -> dict[str, float] | None:
        """The features' values, or None as soon as they show that the score cannot exceed
        `to_beat`: `ceiling` counts every feature not yet known at its best."""
        known = {}
        for name, value in features:
            known[name] = value
            ceiling -= reading.best[name] - getattr(self.rules, name) * value
            if ceiling + SLACK <= to_beat:
                return None
        return known

    def _read(self, candidate: StoryCandidate) -> _Reading:
        """The candidate as the window reads it: its profile, its rarity-weighted terms, and the
        stories worth scoring (best first), each with its members within the window of the
        candidate."""
        self._advance(candidate.published)
        rules, rarity = self.rules, self._rarity
        item = profile(candidate.title, candidate.summary, rules)
        weights = {term: weight * rarity[term] for term, weight in item.terms.items()}
        stories = {}
        for story_id in self._candidate_stories(weights):
            members = (self._entries[i] for i in self._story_members[story_id])
            near = [e for e in members if abs(e.published - candidate.published) <= self.window]
            if near:
                stories[story_id] = near
        best = {name: max(getattr(rules, name) * low, getattr(rules, name) * high) for name, (low, high) in self._ranges(item).items()}
        return _Reading(
            candidate=candidate, item=item, weights=weights, stories=stories,
            title=self._weighed(item.title_keys), numbers=frozenset(item.numbers),
            best=best, ceiling=sum(best.values()), headroom=sum(best[name] for name in MEANING_FEATURES),
        )

    def _ranges(self, item: ItemProfile) -> dict[str, tuple[float, float]]:
        """The lowest and highest value each feature can take for this candidate, whatever the story.

        A rarity (idf) is positive, as no term is in more items than the window holds and no
        prior rate reaches 1; so shares of titles lie in [0, 1], and the names, figures or
        places shared with a story weigh at most all of the candidate's own.
        """
        rules, rarity = self.rules, self._rarity
        shares = (1.0, rules.time_of_day_share, rules.outcome_share, rules.quantity_share)  # see _disagreement
        return dict.fromkeys(CHEAP_FEATURES + MEANING_FEATURES, (0.0, 1.0)) | {
            "w_bias": (1.0, 1.0),
            "w_names": (0.0, sum(rarity[n] for n, _ in item.names) / 10),
            "w_numbers": (0.0, sum(rarity[n] for n in item.numbers) / 10),
            "w_conflict": (0.0, max((rarity[n] for n, _ in item.title_names), default=0.0) / 10),
            "w_disagree": (sum(min(share, 0.0) for share in shares), sum(max(share, 0.0) for share in shares)),
        }

    def idf(self, term: str) -> float:
        """Rarity of a term in the window, smoothed towards the built-in prior."""
        return self._rarity[term]

    def _candidate_stories(self, weights: dict[str, float]) -> list[int]:
        """Stories sharing distinctive words, names or figures with the candidate, best first."""
        rules = self.rules
        votes: dict[int, float] = {}
        vote = votes.get  # a plain dict, read and written: a third cheaper than `Counter` or `defaultdict` in this loop
        for term, weight in weights.items():
            posting = self._postings.get(term)
            if term[0] in "~@" or not posting or len(posting) > rules.max_posting:
                continue
            for story_id in posting:
                votes[story_id] = vote(story_id, 0.0) + weight
        if not votes:
            return []
        # The best `max_stories_scored` by vote, ties by story id. The votes alone give the
        # lowest vote that makes the list; only the few stories with at least that are ranked.
        cutoff = heapq.nlargest(rules.max_stories_scored, votes.values())[-1]
        ranked = sorted([story_id for story_id, vote in votes.items() if vote >= cutoff], key=lambda story_id: (-votes[story_id], story_id))
        floor = votes[ranked[0]] * rules.vote_floor
        return [story_id for story_id in ranked[: rules.max_stories_scored] if votes[story_id] >= floor]

    # -- evidence ----------------------------------------------------------------------------

    def _cheap_features(self, reading: _Reading, story_id: int, near: list[_Entry]) -> Iterator[tuple[str, float]]:
        """The evidence from names, figures, title words and time, one feature at a time: the
        cheapest, and those that most often rule a story out, first (the order decides only
        how soon `_score` can give a story up). Parts that two features share are worked out
        once: how much of each member's title the item mentions, and which of the item's names
        each member mentions."""
        candidate, item = reading.candidate, reading.item
        profiles = [e.profile for e in near]
        yield "w_bias", 1.0
        yield "w_same_feed", float(any(e.feed_id == candidate.feed_id for e in near))
        yield "w_gap", min(abs(e.published - candidate.published) for e in near) / self.window
        yield "w_numbers", max(self._shared_numbers(reading.numbers, p) for p in profiles)
        yield "w_cover", _coverage(reading.title, self._story_terms[story_id])
        theirs_covered = [_coverage(self._weighed(p.title_keys), item.terms) for p in profiles]
        yield "w_covered", _mean(theirs_covered)
        yield "w_uncovered", _mean([1 - max(_coverage(reading.title, p.terms), theirs) for p, theirs in zip(profiles, theirs_covered)])
        yield "w_disagree", max(self._disagreement(item, p) for p in profiles)
        mentioned = [[name for name in item.names if p.mentions(*name)] for p in profiles]  # our names, by member
        yield "w_names", max(self._name_rarity(names) for names in mentioned)
        yield "w_conflict", self._conflict(item, profiles, mentioned)

    def _meaning_features(self, reading: _Reading, story_id: int, near: list[_Entry]) -> Iterator[tuple[str, float]]:
        """The evidence from what the words mean: overall term similarity, and how much of
        each title the other side tells in the same or close words. Each lies in [0, 1]."""
        item = reading.item
        profiles = [e.profile for e in near]
        yield "w_centroid", self._similarity(reading.weights, item, self._story_terms[story_id], *profiles)
        told = [self._told(item, p) for p in profiles]
        yield "w_told", max(ours for ours, _ in told)
        yield "w_tells", _mean([theirs for _, theirs in told])
        yield "w_untold", _mean([1 - max(pair) for pair in told])

    def _similarity(self, weights: dict[str, float], item: ItemProfile, other: dict[str, float] | Counter[str],
                    *others: ItemProfile) -> float:
        """Geometric mean of the cosine over every term and over what-happened terms only."""
        names = {n for n, _ in item.names}.union(*({n for n, _ in o.names} for o in others))
        names |= {"~" + n[: self.rules.stem_length] for n in names}
        whole = self._cosine(weights, other)
        if not whole:
            return 0.0
        content = {t: w for t, w in weights.items() if t not in names and t[0] != "#"}
        other_content = {t: w for t, w in other.items() if t not in names and t[0] != "#"}
        return math.sqrt(whole * self._cosine(content, other_content))

    def _told(self, a: ItemProfile, b: ItemProfile) -> tuple[float, float]:
        """How much of each item's title the other item tells, in the same or other words.

        Each title word is matched with the closest word of the other item's title and
        summary: the same lemma, or a word whose vector is close enough (a synonym or a
        paraphrase: «подорожает» and «вырастет»); names match only themselves. The share is
        weighted by rarity. Returns (a's title told by b, b's title told by a).
        """
        if not a.meaning.words or not b.meaning.words:
            return 0.0, 0.0
        close = _closeness(a.meaning, b.meaning)
        return self._share_told(a.meaning, close.max(axis=1)), self._share_told(b.meaning, close.max(axis=0))

    def _share_told(self, meaning: Meaning, best: np.ndarray) -> float:
        rules = self.rules
        credit = np.clip((best - rules.synonym_floor) / (rules.synonym_full - rules.synonym_floor), 0.0, 1.0)
        weights = np.array([self.idf(lemma) if in_title else 0.0 for lemma, _, _, in_title in meaning.words])
        total = weights.sum()
        return float(weights @ credit) / total if total else 0.0

    def _cosine(self, weights: dict[str, float], other: dict[str, float] | Counter[str]) -> float:
        dot = norm = 0.0
        for term, tf in other.items():
            w = tf * self.idf(term)
            norm += w * w
            if term in weights:
                dot += w * weights[term]
        own = math.sqrt(sum(w * w for w in weights.values()))
        return dot / (own * math.sqrt(norm)) if dot else 0.0

    def _weighed(self, keys: tuple[tuple[str, ...], ...]) -> tuple[tuple[tuple[str, ...], float], ...]:
        """Each title word's alternatives with the rarity of its first form, as `_coverage` reads them."""
        rarity = self._rarity
        return tuple((alternatives, rarity[alternatives[0]]) for alternatives in keys)

    def _name_rarity(self, names: list[tuple[str, str]]) -> float:
        """Rarity of the names both items mention (as `mentions` finds them), in tens of nats."""
        return sum(sorted(self._rarity[n] for n, _ in names)) / 10

    def _shared_numbers(self, ours: frozenset[str], b: ItemProfile) -> float:
        """Rarity of the figures both items give, in tens of nats."""
        return sum(sorted(self._rarity[n] for n in ours.intersection(b.numbers))) / 10

    def _conflict(self, item: ItemProfile, story: list[ItemProfile], mentioned: list[list[tuple[str, str]]]) -> float:
        """Places named in the titles on both sides that the other side never mentions
        (`mentioned`: the item's names that each member of the story mentions)."""
        rarity = self._rarity
        story_names = frozenset().union(*(p.title_names for p in story))
        mentioned_anywhere = set().union(*mentioned)
        ours = [rarity[n] for n, key in item.title_names if (n, key) not in mentioned_anywhere]
        theirs = [rarity[n] for n, key in story_names if not item.mentions(n, key)]
        return min(max(ours, default=0.0), max(theirs, default=0.0)) / 10

    def _disagreement(self, a: ItemProfile, b: ItemProfile) -> float:
        """Figures that cannot both be true of one event: another match score, another count."""
        penalty = 0.0
        if a.scores and b.scores and not set(a.scores).intersection(b.scores):
            penalty += 1.0
        if a.times_of_day and b.times_of_day and not set(a.times_of_day).intersection(b.times_of_day):
            penalty += self.rules.time_of_day_share
        if len(a.outcomes) == len(b.outcomes) == 1 and a.outcomes != b.outcomes:
            penalty += self.rules.outcome_share
        units_a, units_b = {u for u, _ in a.quantities}, {u for u, _ in b.quantities}
        values_a, values_b = {v for _, v in a.quantities}, {v for _, v in b.quantities}
        if units_a & units_b and not values_a & values_b:
            penalty += self.rules.quantity_share
        return penalty

    # -- the window --------------------------------------------------------------------------

    def _advance(self, published: datetime) -> None:
        """Move the window's end forward and forget the members that fell out of it."""
        if self._latest is None or published > self._latest:
            self._latest = published
        horizon = self._latest - self.window
        while self._expiry and self._expiry[0][0] < horizon:
            _, item_id = heapq.heappop(self._expiry)
            entry = self._entries.get(item_id)
            if entry is not None and entry.published < horizon:
                self._forget(item_id)

    def _forget(self, item_id: int) -> None:
        entry = self._entries.pop(item_id)
        self._rarity.clear()
        for term in entry.profile.terms:
            posting = self._postings[term]
            posting.remove(entry.story_id)  # near the front: members leave roughly in the order they came
            if not posting:
                del self._postings[term]
        story_id = entry.story_id
        self._story_members[story_id].remove(item_id)
        if not self._story_members[story_id]:
            del self._story_members[story_id]
            del self._story_terms[story_id]
        else:
            terms = self._story_terms[story_id]  # a Counter: the story had more than one member
            terms.subtract(entry.profile.terms)
            self._story_terms[story_id] = +terms

