"""The decider: what one feed's fetch leads to, worked out with no database and no clock.

Each test hands `decide` a retrieved result and a snapshot of what is stored, and reads the
intent it returns: the items to add with their topics and stories, the items to update,
and the feed's health and next check.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.entities import FeedData, FeedForUpdate, FeedNote, Fetched, ItemData, StoredForUpdate, StoredItemRef, StoredText
from aggregator.errors import FetchError, InternalError, ParseError
from aggregator.pipeline.cluster import StoryIndex, StoryMember
from aggregator.pipeline.decide import Judges, decide, replace_stories
from aggregator.pipeline.retrieve import Retrieved
from aggregator.pipeline.sponsored import SponsoredRules

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
FEED = FeedForUpdate(id=3, url="https://vestnik.example/rss", name="Вестник", status="ok", interval=timedelta(minutes=15))
FIRE = ("На улице Гоголя сгорел деревянный дом", "Пожар на улице Гоголя тушили три часа, жильцов эвакуировали.")


def item(guid: str, title: str, summary: str, hours_ago: float = 1, **fields: object) -> ItemData:
    return ItemData(
        guid=guid,
        url=f"https://vestnik.example/{guid}",
        title=title,
        summary=summary,
        content_html=f"<p>{summary}</p>",
        published=NOW - timedelta(hours=hours_ago),
        content_hash=f"hash-{guid}-{title}",
        **fields,
    )


def read(*items: ItemData, feed: FeedForUpdate = FEED, notes: tuple[FeedNote, ...] = (), **fetched: object) -> Retrieved:
    answer = Fetched(feed.url, 200, b"<rss/>", etag='"v2"', **fetched)
    data = FeedData(feed.url, "Томский вестник", "https://vestnik.example/", entries=())
    return Retrieved(feed, answer, "body-hash", data, items, notes)


def not_modified(feed: FeedForUpdate = FEED) -> Retrieved:
    return Retrieved(feed, Fetched(feed.url, 304, None))


@pytest.fixture
def judges(classifier) -> Judges:
    stories = StoryIndex(timedelta(hours=48))
    stories.add(StoryMember(item_id=40, story_id=7, feed_id=9, published=NOW - timedelta(hours=2), title=FIRE[0], summary=FIRE[1]))
    return Judges(classifier, SponsoredRules.build(["на правах рекламы"], ["реклама"], []), stories, timedelta(hours=24), stories_seen=40)


def test_new_items_come_with_their_topics_search_text_and_story(judges):
    fire = item("a", "Дом на Гоголя сгорел ночью", "На улице Гоголя сгорел деревянный дом, жильцов эвакуировали.")
    match = item("b", "Томь выиграла у Енисея", "Футболисты «Томи» выиграли домашний матч со счётом 2:0.")
    intent = decide(read(fire, match), StoredForUpdate(), NOW, judges)
    by_guid = {new.item.guid: new for new in intent.new}
    assert by_guid["a"].story_id == 7, "the same fire told by another outlet joins its story"
    assert by_guid["b"].story_id is None, "another event starts a story of its own"
    assert by_guid["a"].decision.primary == "incidents" and by_guid["b"].decision.primary == "sport"
    assert "сгореть" in by_guid["a"].search_lemmas.split()
    assert (intent.outcome.new, intent.outcome.updated, intent.outcome.error) == (2, 0, None)
    assert intent.stories_seen == 40 and intent.stories_since == NOW - timedelta(hours=48)


def test_advertising_is_kept_out_of_stories(judges):
    advert = item("ad", "Скидки на шубы", "На правах рекламы. Распродажа шуб до конца недели.")
    (new,) = decide(read(advert), StoredForUpdate(), NOW, judges).new
    assert new.sponsored and new.story_id is None


def test_stored_items_are_updated_when_changed_and_left_alone_when_not(judges):
    same = item("a", *FIRE)
    changed = item("b", "Пожар на Гоголя потушен", "Огонь потушили, пострадавших нет.")
    stored = StoredForUpdate(
        by_guid={
            "a": StoredItemRef(11, FEED.id, "a", same.url, same.content_hash),
            "b": StoredItemRef(12, FEED.id, "b", changed.url, "an older hash"),
        },
        changed={12: StoredText("Пожар на Гоголя", "Горит дом.", "Полный текст статьи о пожаре на улице Гоголя.")},
    )
    intent = decide(read(same, changed), stored, NOW, judges)
    assert intent.new == ()
    (update,) = intent.updated
    assert update.item_id == 12 and update.item.title == "Пожар на Гоголя потушен"
    assert update.item.full_text == "Полный текст статьи о пожаре на улице Гоголя.", "the article text it had is kept"
    assert "статья" in update.search_lemmas.split(), "search still finds it by its article text"
    assert intent.outcome.unchanged == 1


def test_a_document_read_makes_the_feed_healthy_with_what_was_odd_about_it(judges):
    failing = FeedForUpdate(id=3, url=FEED.url, name=FEED.name, status="timeout", last_error="timed out", consecutive_errors=4)
    update = decide(
        read(feed=failing, notes=(FeedNote("malformed_xml", "the XML is not well-formed"),)), StoredForUpdate(), NOW, judges
    ).feed
    assert (update.status, update.last_error, update.consecutive_errors) == ("malformed_xml", "the XML is not well-formed", 0)
    assert update.validators == ('"v2"', None, "body-hash") and update.title == "Томский вестник"
    assert NOW + timedelta(minutes=15) <= update.next_check <= NOW + timedelta(minutes=17), "its usual interval (with jitter)"


@pytest.mark.parametrize(
    ("status", "errors", "expected"),
    [
        ("malformed_xml", 0, "malformed_xml"),  # what was found when the document was last read stands
        ("timeout", 3, "ok"),  # but a failing feed that answers again has recovered
        ("new", 0, "ok"),
        ("internal_error", 0, "ok"),
    ],
)
def test_a_304_keeps_the_health_found_when_the_document_was_last_read(judges, status, errors, expected):
    feed = FeedForUpdate(id=3, url=FEED.url, name=FEED.name, status=status, last_error="…", consecutive_errors=errors)
    intent = decide(not_modified(feed), StoredForUpdate(), NOW, judges)
    assert intent.feed.status == expected and intent.feed.consecutive_errors == 0
    assert intent.outcome.not_modified and intent.feed.validators is None and intent.new == ()


def test_a_publishers_failure_counts_against_the_feed_and_backs_it_off(judges):
    feed = FeedForUpdate(id=3, url=FEED.url, name=FEED.name, consecutive_errors=2, interval=timedelta(minutes=15))
    intent = decide(Retrieved(feed, error=FetchError("HTTP 503", kind="http_503")), StoredForUpdate(), NOW, judges)
    update = intent.feed
    assert (update.status, update.last_error, update.consecutive_errors, update.succeeded) == ("http_503", "HTTP 503", 3, False)
    assert update.next_check >= NOW + timedelta(minutes=15) * 8, "three errors in a row: eight times the interval"
    assert intent.outcome.error == "HTTP 503" and intent.outcome.status == "http_503"


def test_retry_after_is_honoured(judges):
    error = FetchError("HTTP 429", kind="http_429", retry_after=timedelta(hours=3))
    update = decide(Retrieved(FEED, error=error), StoredForUpdate(), NOW, judges).feed
    assert update.next_check >= NOW + timedelta(hours=3)


def test_gone_stops_polling_the_feed(judges):
    update = decide(Retrieved(FEED, error=FetchError("HTTP 410 Gone", kind="gone")), StoredForUpdate(), NOW, judges).feed
    assert update.status == "gone" and not update.enabled and update.next_check is None


def test_a_bug_of_ours_is_not_held_against_the_feed(judges):
    feed = FeedForUpdate(id=3, url=FEED.url, name=FEED.name, consecutive_errors=1, interval=timedelta(minutes=15))
    update = decide(Retrieved(feed, error=InternalError("KeyError: 'x'")), StoredForUpdate(), NOW, judges).feed
    assert update.status == "internal_error" and update.consecutive_errors == 1, "its own error count is untouched"
    assert update.next_check <= NOW + timedelta(minutes=17), "tried again at its usual interval, not backed off"


def test_a_document_that_is_not_a_feed_is_the_publishers_failure(judges):
    update = decide(Retrieved(FEED, error=ParseError("not a feed: HTML")), StoredForUpdate(), NOW, judges).feed
    assert update.status == "not_a_feed" and update.consecutive_errors == 1


def test_a_feed_moved_onto_another_feeds_address_is_an_error(judges):
    got = read(item("a", *FIRE), permanent_url="https://gorod.example/rss")
    intent = decide(got, StoredForUpdate(moved_url_holder="Город-Т"), NOW, judges)
    assert intent.feed.status == "moved_to_duplicate" and "Город-Т" in intent.feed.last_error and intent.new == ()
    moved = decide(got, StoredForUpdate(), NOW, judges).feed
    assert moved.url == "https://gorod.example/rss" and moved.status == "ok"


def test_items_are_placed_again_against_stories_stored_meanwhile(judges):
    report = item("a", "Дом на Черемошниках сгорел ночью", "В Черемошниках сгорел жилой дом, погибших нет.")
    intent = decide(read(report), StoredForUpdate(), NOW, judges)
    assert intent.new[0].story_id is None
    judges.stories.add(
        StoryMember(41, 8, 5, NOW - timedelta(hours=1), "В Черемошниках сгорел дом", "Жилой дом в Черемошниках сгорел ночью.")
    )
    again = replace_stories(intent, FEED, judges.stories, stories_seen=41)
    assert again.new[0].story_id == 8 and again.stories_seen == 41
    assert again.new[0].decision == intent.new[0].decision, "only the story is decided again"
