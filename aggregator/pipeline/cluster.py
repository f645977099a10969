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
small lexicon of news concepts (`story_profile.CONCEPTS`, from
`aggregator/data/story_words.toml`) and Russian word vectors (`embeddings`): how much of each
title the other item tells in close words («Плата за отопление вырастет» / «Тепло
подорожает»). Names and figures match only themselves, so two fires on two streets stay apart
however alike their words are.

The storage layer owns story ids, persistence and loading the window; this module decides,
reading each item's text once (`story_profile`) and weighing each story's evidence
(`story_evidence`).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from aggregator.pipeline.story_evidence import (
    CHEAP_FEATURES,
    MEANING_FEATURES,
    Title,
    conflict,
    coverage,
    disagreement,
    mean,
    name_rarity,
    sense,
    shared_numbers,
    similarity,
    told,
    weighed,
)
from aggregator.pipeline.story_profile import PRIOR_RATES, ItemProfile, StoryRules, profile

__all__ = ["StoryCandidate", "StoryIndex", "StoryMember", "StoryRules"]  # StoryRules is defined with the profile it also shapes


@dataclass(frozen=True)
class StoryMember:
    """An item already in a story: loaded from storage, or just placed."""

    item_id: int
    story_id: int
    feed_id: int
    published: datetime
    title: str
    summary: str
    vector: np.ndarray | None = None  # the sentence encoder's unit vector of its text, when there is one


@dataclass(frozen=True)
class StoryCandidate:
    """A new item that `StoryIndex.place` is asked about."""

    feed_id: int
    published: datetime
    title: str
    summary: str
    vector: np.ndarray | None = None


# Float sums of a dozen weighted features are off by far less than this: a story is given up
# only when its ceiling is below the score to beat by at least so much, so rounding never decides.
SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class _Entry:
    """A member as the index keeps it: what the decision reads, not the text it was profiled from."""

    story_id: int
    feed_id: int
    published: datetime
    profile: ItemProfile
    vector: np.ndarray | None  # float16: 768 bytes a member, half of float32 (two days can hold 100k members)


@dataclass(frozen=True, slots=True)
class _Reading:
    """A candidate as the window reads it: what `place` weighs every story against, worked out
    once rather than once per story."""

    candidate: StoryCandidate
    item: ItemProfile
    weights: dict[str, float]  # the item's terms weighted by rarity
    stories: dict[int, list[_Entry]]  # the stories worth scoring, best first, with their members near in time
    title: Title  # each title word's alternatives, with its rarity
    numbers: frozenset[str]
    best: dict[str, float]  # the most each feature can add to a story's score
    ceiling: float  # the most a story can score: every feature at its best
    headroom: float  # the most the meaning features can add


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
        entry = _Entry(
            member.story_id,
            member.feed_id,
            member.published,
            profile(member.title, member.summary, self.rules),
            None if member.vector is None else member.vector.astype(np.float16),
        )
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

    def reword(self, item_id: int, title: str, summary: str, vector: np.ndarray | None) -> None:
        """A member's new wording (its publisher edited it), read from now on; it stays in its
        story. An item the window does not hold is left alone."""
        entry = self._entries.get(item_id)
        if entry is not None:
            self.add(StoryMember(item_id, entry.story_id, entry.feed_id, entry.published, title, summary, vector))

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
        found = {}
        for story_id, near in reading.stories.items():
            features = dict(self._cheap_features(reading, story_id, near)) | dict(self._meaning_features(reading, story_id, near))
            found[story_id] = {name: features[name] for name in CHEAP_FEATURES + MEANING_FEATURES}
        return found

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

    def _work_out(
        self, features: Iterator[tuple[str, float]], reading: _Reading, ceiling: float, to_beat: float
    ) -> dict[str, float] | None:
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
            candidate=candidate,
            item=item,
            weights=weights,
            stories=stories,
            title=weighed(item.title_keys, rarity),
            numbers=frozenset(item.numbers),
            best=best,
            ceiling=sum(best.values()),
            headroom=sum(best[name] for name in MEANING_FEATURES),
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
        candidate, item, rarity = reading.candidate, reading.item, self._rarity
        profiles = [e.profile for e in near]
        yield "w_bias", 1.0
        yield from sense(candidate.vector, [e.vector for e in near], self.rules)  # cheap, and rules most stories out
        yield "w_same_feed", float(any(e.feed_id == candidate.feed_id for e in near))
        yield "w_gap", min(abs(e.published - candidate.published) for e in near) / self.window
        yield "w_numbers", max(shared_numbers(reading.numbers, p, rarity) for p in profiles)
        yield "w_cover", coverage(reading.title, self._story_terms[story_id])
        theirs_covered = [coverage(weighed(p.title_keys, rarity), item.terms) for p in profiles]
        yield "w_covered", mean(theirs_covered)
        uncovered = [1 - max(coverage(reading.title, p.terms), theirs) for p, theirs in zip(profiles, theirs_covered, strict=True)]
        yield "w_uncovered", mean(uncovered)
        yield "w_disagree", max(disagreement(item, p, self.rules) for p in profiles)
        mentioned = [[name for name in item.names if p.mentions(*name)] for p in profiles]  # our names, by member
        yield "w_names", max(name_rarity(names, rarity) for names in mentioned)
        yield "w_conflict", conflict(item, profiles, mentioned, rarity)

    def _meaning_features(self, reading: _Reading, story_id: int, near: list[_Entry]) -> Iterator[tuple[str, float]]:
        """The evidence from what the words mean: overall term similarity, and how much of
        each title the other side tells in the same or close words. Each lies in [0, 1]."""
        item = reading.item
        profiles = [e.profile for e in near]
        yield "w_centroid", similarity(reading.weights, item, self._story_terms[story_id], profiles, self._rarity, self.rules)
        if not self.rules.reads_word_vectors:  # the sentence encoder tells what they would
            yield from (("w_told", 0.0), ("w_tells", 0.0), ("w_untold", 0.0))
            return
        both_ways = [told(item, p, self._rarity, self.rules) for p in profiles]
        yield "w_told", max(ours for ours, _ in both_ways)
        yield "w_tells", mean([theirs for _, theirs in both_ways])
        yield "w_untold", mean([1 - max(pair) for pair in both_ways])

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
