"""Curated Atom feeds and OPML as an RSS reader meets them."""

from datetime import timedelta

import feedparser
import pytest

from conftest import NOW


@pytest.fixture
def polled(service, client):
    service.poll(include_all=True)
    return client


@pytest.mark.parametrize("path", ["/feeds/all.atom", "/feeds/incidents.atom", "/feeds/digest.atom"])
def test_atom_feeds_parse_cleanly_and_point_at_themselves(polled, path):
    response = polled.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    self_links = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_links == ["http://news.test" + path]


def test_all_atom_has_one_entry_per_story_with_the_outlet_named(polled):
    feed = feedparser.parse(polled.get("/feeds/all.atom").data)
    titles = {entry.title for entry in feed.entries}
    assert "На Гоголя сгорел деревянный дом" in titles
    entry = next(e for e in feed.entries if e.title == "На Гоголя сгорел деревянный дом")
    assert entry.link == "https://gorod-t.example/2026/11/25/fire"
    assert entry.author == "Город-Т"
    assert entry.id.startswith("http://news.test/stories/")
    assert "Город-Т" in entry.content[0].value


def test_a_topic_feed_carries_that_topics_stories(polled):
    feed = feedparser.parse(polled.get("/feeds/incidents.atom").data)
    assert [e.title for e in feed.entries] == ["На Гоголя сгорел деревянный дом"]
    assert feed.entries[0].tags[0].term == "incidents"


def test_entry_ids_are_stable_across_polls(service, polled, clock):
    before = {e.title: e.id for e in feedparser.parse(polled.get("/feeds/all.atom").data).entries}
    clock[0] = NOW + timedelta(hours=2)
    service.poll(include_all=True)
    after = {e.title: e.id for e in feedparser.parse(polled.get("/feeds/all.atom").data).entries}
    assert after == before


def test_a_reader_that_has_the_feed_gets_304(polled):
    first = polled.get("/feeds/all.atom")
    assert first.headers["ETag"] and first.headers["Last-Modified"]
    again = polled.get("/feeds/all.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    since = polled.get("/feeds/all.atom", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304


def test_an_unknown_topic_feed_is_404(polled):
    assert polled.get("/feeds/astrology.atom").status_code == 404


def test_opml_lists_every_curated_feed(polled, service):
    response = polled.get("/feeds.opml")
    assert response.status_code == 200
    body = response.data.decode()
    for slug in service.settings.topics:
        assert f'xmlUrl="http://news.test/feeds/{slug}.atom"' in body
    assert 'xmlUrl="http://news.test/feeds/all.atom"' in body


def test_the_digest_feed_has_one_entry_per_past_day(polled, clock):
    clock[0] = NOW + timedelta(days=1)
    feed = feedparser.parse(polled.get("/feeds/digest.atom").data)
    assert [e.id for e in feed.entries] == ["http://news.test/digest/2026-11-25"]
    assert "На Гоголя сгорел деревянный дом" in feed.entries[0].content[0].value


@pytest.mark.parametrize("path", ["/feeds/all.atom", "/feeds/digest.atom", "/feeds/sport.atom"])
def test_every_entry_has_an_author_as_atom_requires(polled, clock, path):
    clock[0] = NOW + timedelta(days=1)  # so the digest feed has a past day
    feed = feedparser.parse(polled.get(path).data)
    assert feed.entries
    for entry in feed.entries:
        assert entry.get("author") or feed.feed.get("author")
