"""Top stories («Главное», /feeds/top.atom and /feeds/top.json): what several outlets are
reporting now, the most widely reported first, then the most recent; an editor's pinned
stories lead. Thresholds come from `[digest] top_hours`, `top_min_outlets` and `top_max`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import feedparser
import pytest

from aggregator import create_app, editing
from aggregator.errors import ConfigError
from aggregator.settings import settings_from_dict
from aggregator.storage.views import ItemView, StoryView
from aggregator.top_stories import TopRules, top_stories
from conftest import NOW, config_dict
from sample_site import polled_sample_service, serve_sample_feeds

OUTLETS = ("Первый", "Второй", "Третий", "Четвёртый", "Пятый")


def story(story_id: int, outlets: int, hours_ago: float, pinned: bool = False, repeats: int = 0) -> StoryView:
    """A story told by the first `outlets` outlets (and `repeats` more reports by the first
    one), its latest report `hours_ago` before NOW."""
    latest = NOW - timedelta(hours=hours_ago)
    names = [*OUTLETS[:outlets], *[OUTLETS[0]] * repeats]
    items = tuple(
        ItemView(
            story_id * 10 + n,
            n,
            name,
            f"Сообщение {n}",
            f"https://{n}.example/{story_id}",
            "",
            "",
            None,
            latest,
            latest,
            None,
            (),
            story_id,
            (),
        )
        for n, name in enumerate(names)
    )
    return StoryView(story_id, f"Сюжет {story_id}", None, latest, latest, items, NOW + timedelta(hours=1) if pinned else None)


FIXTURE = [
    story(1, 1, 1),  # one outlet: never a top story
    story(2, 2, 5),
    story(3, 3, 2),
    story(4, 4, 20),
    story(5, 5, 23),
    story(6, 2, 1),
    story(7, 5, 30),  # five outlets, but its last report is older than the window
    story(8, 1, 3, repeats=4),  # five reports, all from one outlet
]


def ids(stories) -> list[int]:
    return [s.id for s in stories]


def test_most_outlets_first_then_most_recent_and_at_least_two_outlets():
    assert ids(top_stories(FIXTURE, [], NOW, TopRules())) == [5, 4, 3, 6, 2]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (TopRules(min_outlets=3), [5, 4, 3]),
        (TopRules(min_outlets=5), [5]),
        (TopRules(min_outlets=1), [5, 4, 3, 6, 2, 1, 8]),
        (TopRules(hours=6), [3, 6, 2]),
        (TopRules(hours=48), [5, 7, 4, 3, 6, 2]),
        (TopRules(limit=2), [5, 4]),
    ],
    ids=["min-3", "min-5", "min-1", "6-hours", "48-hours", "limit-2"],
)
def test_the_thresholds_choose_which_stories_and_how_many(rules, expected):
    assert ids(top_stories(FIXTURE, [], NOW, rules)) == expected


def test_pinned_stories_lead_even_with_one_outlet_and_are_not_repeated():
    pinned = [story(1, 1, 1, pinned=True), story(3, 3, 2, pinned=True)]
    assert ids(top_stories(FIXTURE, pinned, NOW, TopRules())) == [1, 3, 5, 4, 6, 2]
    assert ids(top_stories(FIXTURE, pinned, NOW, TopRules(limit=3))) == [1, 3, 5]


def test_a_pin_that_ran_out_counts_for_nothing():
    expired = story(1, 1, 1, pinned=True)  # pinned until an hour after NOW
    later = NOW + timedelta(hours=2)
    assert ids(top_stories(FIXTURE, [expired], later, TopRules())) == ids(top_stories(FIXTURE, [], later, TopRules())) == [4, 3, 6, 2]


@pytest.mark.parametrize(
    ("digest", "named"),
    [
        ({"top_hours": 0}, "[digest] top_hours"),
        ({"top_hours": "day"}, "[digest] top_hours"),
        ({"top_min_outlets": 0}, "[digest] top_min_outlets"),
        ({"top_max": 0}, "[digest] top_max"),
        ({"top_max": 100000}, "[digest] top_max"),
    ],
)
def test_a_bad_top_setting_stops_with_a_message_naming_the_key(digest, named):
    with pytest.raises(ConfigError) as error:
        settings_from_dict({"digest": digest}, source="config.toml")
    assert named in str(error.value)


def test_the_top_settings_default_to_a_day_two_outlets_and_twenty_stories():
    digest = settings_from_dict({}).digest
    assert (digest.top_hours, digest.top_min_outlets, digest.top_max) == (24, 2, 20)


# --- Through the feeds, on the bundled sample feeds -----------------------------------------------


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory, classifier):
    with polled_sample_service(tmp_path_factory.mktemp("top"), classifier, [NOW]) as service:
        yield service


def outlets_of(item: dict) -> int:
    return len({report["outlet"] for report in item["_aggregator"]["reports"]})


def test_the_top_feed_holds_the_days_stories_of_several_outlets_best_first(sample_site):
    client = create_app(service=sample_site).test_client()
    items = json.loads(client.get("/feeds/top.json").data)["items"]
    since = NOW - timedelta(hours=24)
    expected = [
        s for s in sample_site.storage.reads.stories_page(500).rows if len(s.outlets) >= 2 and s.updated >= since
    ]  # every candidate, read another way
    assert 2 <= len(items) == min(20, len(expected))
    assert all(outlets_of(item) >= 2 for item in items)
    assert all(datetime.fromisoformat(item["date_modified"].replace("Z", "+00:00")) >= since for item in items)
    order = [(-outlets_of(item), -datetime.fromisoformat(item["date_modified"].replace("Z", "+00:00")).timestamp()) for item in items]
    assert order == sorted(order)
    atom = feedparser.parse(client.get("/feeds/top.atom").data)
    assert [entry.id for entry in atom.entries] == [item["id"] for item in items]
    assert atom.feed.title == "Новости Томской области: главное"


def test_the_top_feed_follows_the_configured_thresholds(tmp_path, feed_server, make_service):
    config = config_dict(tmp_path, serve_sample_feeds(feed_server, NOW), digest={"top_min_outlets": 3, "top_max": 3})
    service = make_service(settings_from_dict(config))
    service.poll(include_all=True)
    client = create_app(service=service).test_client()
    items = json.loads(client.get("/feeds/top.json").data)["items"]
    assert 1 <= len(items) <= 3 and all(outlets_of(item) >= 3 for item in items)


def test_an_editors_pin_puts_a_story_at_the_head_of_the_top_feed(tmp_path, feed_server, make_service):
    service = make_service(settings_from_dict(config_dict(tmp_path, serve_sample_feeds(feed_server, NOW))))
    service.poll(include_all=True)
    client = create_app(service=service).test_client()
    lonely = next(s for s in service.storage.reads.stories_page(500).rows if len(s.outlets) == 1)
    before = [item["id"] for item in json.loads(client.get("/feeds/top.json").data)["items"]]
    assert f"http://news.test/stories/{lonely.id}" not in before
    editing.apply(service, "editor", "pin_story", story_id=lonely.id)
    after = [item["id"] for item in json.loads(client.get("/feeds/top.json").data)["items"]]
    assert after[0] == f"http://news.test/stories/{lonely.id}" and after[1:] == before[: len(after) - 1]


def test_rules_measure_the_window_from_now():
    assert TopRules(hours=6).since(datetime(2026, 11, 25, 10, tzinfo=UTC)) == datetime(2026, 11, 25, 4, tzinfo=UTC)
