"""Story grouping as a reader meets it: one event from several outlets is one story, other
events on the same subject stay apart, and old items drop out of the window.

The items come from tests/data/stories_labelled.jsonl (original regional-news text: events
told by two to four outlets, and near-miss items on similar subjects).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.pipeline import embeddings
from aggregator.pipeline.cluster import StoryCandidate, StoryIndex, StoryMember

LABELLED = Path(__file__).parent / "data" / "stories_labelled.jsonl"
T0 = datetime(2025, 5, 12, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def items() -> dict[str, dict]:
    with LABELLED.open(encoding="utf-8") as fh:
        return {row["id"]: row for row in map(json.loads, filter(str.strip, fh))}


class Desk:
    """Places items one by one, as the storage layer does, and remembers their stories."""

    def __init__(self, window: timedelta = timedelta(hours=48)) -> None:
        self.index = StoryIndex(window)
        self.stories: dict[str, int] = {}
        self.feeds: dict[str, int] = {}

    def report(self, row: dict, at: datetime) -> int:
        feed_id = self.feeds.setdefault(row["outlet"], len(self.feeds) + 1)
        joined = self.index.place(StoryCandidate(feed_id, at, row["title"], row["summary"]))
        item_id = len(self.stories) + 1
        story_id = joined if joined is not None else 1000 + item_id
        self.index.add(StoryMember(item_id, story_id, feed_id, at, row["title"], row["summary"]))
        self.stories[row["id"]] = story_id
        return story_id

    def replay(self, rows: list[dict], step: timedelta = timedelta(minutes=20)) -> dict[str, int]:
        for n, row in enumerate(rows):
            self.report(row, T0 + n * step)
        return self.stories


def test_same_fire_from_three_outlets_is_one_story(items):
    desk = Desk()
    stories = {desk.report(items[key], T0 + timedelta(hours=h)) for key, h in (("s01a", 0), ("s01b", 2), ("s01c", 5))}
    assert len(stories) == 1


def test_fires_in_different_places_stay_apart(items):
    desk = Desk()
    warehouse = desk.report(items["s01a"], T0)
    shed = desk.report(items["d01"], T0 + timedelta(hours=1))
    assert warehouse != shed


def test_road_works_on_the_burning_street_are_another_story(items):
    desk = Desk()
    fire = {desk.report(items[key], T0 + timedelta(hours=h)) for key, h in (("s01a", 0), ("s01b", 1))}
    assert desk.report(items["d17"], T0 + timedelta(hours=2)) not in fire


@pytest.mark.parametrize("event,near_miss", [("s06a", "d06"), ("s07a", "d07"), ("s10a", "d10"), ("s16a", "d16")])
def test_similar_subject_is_not_the_same_event(items, event, near_miss):
    desk = Desk()
    assert desk.report(items[event], T0) != desk.report(items[near_miss], T0 + timedelta(hours=3))


def test_a_paraphrased_report_joins_the_story(items):
    """«Стоимость проезда вырастет» and «Поездка подорожает»: one fare rise in other words."""
    desk = Desk()
    assert desk.report(items["s17a"], T0) == desk.report(items["s17b"], T0 + timedelta(hours=2))


def test_another_fare_rise_stays_apart(items):
    desk = Desk()
    fare = {desk.report(items[key], T0 + timedelta(hours=h)) for key, h in (("s17a", 0), ("s17b", 1))}
    assert desk.report(items["d20"], T0 + timedelta(hours=2)) not in fare


def _close(a: tuple[str, str], b: tuple[str, str]) -> float:
    first, second = embeddings.vector(*a), embeddings.vector(*b)
    assert first is not None and second is not None
    return float(first @ second)


def test_word_vectors_put_paraphrases_closer_than_other_subjects():
    rise, other = _close(("подорожает", "подорожать"), ("вырастет", "вырасти")), _close(("подорожает", "подорожать"), ("сгорел", "сгореть"))
    assert rise > other + 0.2


def test_an_unknown_compound_is_read_by_its_known_ending():
    assert embeddings.vector("лжеврачи", "лжеврач") is not None
    assert _close(("лжеврачи", "лжеврач"), ("врачи", "врач")) > 0.99


def test_a_report_outside_the_window_starts_a_new_story(items):
    desk = Desk(window=timedelta(hours=48))
    first = desk.report(items["s01a"], T0)
    assert desk.report(items["s01b"], T0 + timedelta(hours=50)) != first


def test_the_window_forgets_old_items(items):
    desk = Desk(window=timedelta(hours=48))
    desk.report(items["s01a"], T0)
    desk.report(items["s02a"], T0 + timedelta(hours=1))
    assert len(desk.index) == 2
    desk.report(items["s03a"], T0 + timedelta(hours=48, minutes=30))
    assert len(desk.index) == 2  # s01a fell out; s02a and s03a remain


def test_an_item_older_than_the_window_is_not_indexed(items):
    desk = Desk(window=timedelta(hours=48))
    desk.report(items["s01a"], T0 + timedelta(hours=60))
    desk.index.add(StoryMember(99, 99, 1, T0, items["s02a"]["title"], items["s02a"]["summary"]))
    assert len(desk.index) == 1


def test_a_story_that_loses_its_first_report_is_weighed_on_the_reports_it_keeps(items):
    """A story of one report shares that report's words; once a second joins, the story's sum
    is its own. Whatever it went through, it must weigh a newcomer as if it had only ever held
    what is left of it."""
    lived = Desk(window=timedelta(hours=48))
    lived.index.add(StoryMember(1, 7, 1, T0, items["s01a"]["title"], items["s01a"]["summary"]))
    lived.index.add(StoryMember(2, 7, 2, T0 + timedelta(hours=47), items["s01b"]["title"], items["s01b"]["summary"]))
    fresh = Desk(window=timedelta(hours=48))
    fresh.index.add(StoryMember(2, 7, 2, T0 + timedelta(hours=47), items["s01b"]["title"], items["s01b"]["summary"]))

    later = StoryCandidate(3, T0 + timedelta(hours=49), items["s01c"]["title"], items["s01c"]["summary"])
    assert lived.index.evidence(later) == fresh.index.evidence(later)  # s01a has left the window
    assert len(lived.index) == 1


def test_grouping_is_deterministic(items):
    rows = list(items.values())
    assert Desk().replay(rows) == Desk().replay(rows)


def test_labelled_events_are_grouped_without_mixing_events(items):
    rows = sorted(items.values(), key=lambda row: row["id"][::-1])  # outlets interleaved
    given = Desk().replay(rows, step=timedelta(minutes=30))
    same_given = {(a, b) for a, b in itertools.combinations(given, 2) if given[a] == given[b]}
    same_truth = {(a, b) for a, b in itertools.combinations(given, 2) if items[a]["story"] == items[b]["story"]}
    precision = len(same_given & same_truth) / len(same_given)
    recall = len(same_given & same_truth) / len(same_truth)
    assert precision >= 0.9
    assert recall >= 0.4


def test_place_joins_the_story_its_evidence_scores_highest(items):
    """`place` stops weighing a story as soon as it cannot win: that must never change which
    story wins (the first of the highest positive score), here or with a shorter window."""
    for window in (timedelta(hours=48), timedelta(hours=3)):
        desk = Desk(window)
        rules = desk.index.rules
        for n, row in enumerate(sorted(items.values(), key=lambda row: row["id"][::-1])):
            at = T0 + n * timedelta(minutes=10)
            candidate = StoryCandidate(desk.feeds.setdefault(row["outlet"], len(desk.feeds) + 1), at, row["title"], row["summary"])
            scores = {
                story: sum(getattr(rules, name) * value for name, value in features.items())
                for story, features in desk.index.evidence(candidate).items()
            }
            best = max(scores, key=scores.__getitem__, default=None)
            assert desk.index.place(candidate) == (best if best is not None and scores[best] > 0 else None)
            desk.report(row, at)


def test_a_report_its_publisher_rewords_is_compared_by_its_new_words():
    index = StoryIndex()
    index.add(StoryMember(1, 7, 1, T0, "Срочная новость", "Подробности позже."))
    fire = StoryCandidate(
        2, T0 + timedelta(hours=1), "На улице Гоголя сгорел деревянный дом", "Пожар на Гоголя тушили три часа, 14 жильцов эвакуировали."
    )
    assert index.place(fire) is None, "nothing in the first wording tells of a fire"

    index.reword(1, "На Гоголя горит деревянный дом", "Пожар в доме на улице Гоголя, жильцов эвакуируют.", None)
    assert index.place(fire) == 7
    assert len(index) == 1, "the member is replaced, not added twice"
    index.reword(99, "Другое", "Не в окне.", None)
    assert len(index) == 1
