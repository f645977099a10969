"""Curated Atom feeds and OPML as an RSS reader meets them: one entry per story with stable ids,\nthe story's picture and every outlet's report, valid for the W3C Feed Validator."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest

from aggregator import create_app
from conftest import NOW, SHARED
from sample_site import polled_sample_service


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
    stories = polled.get("/api/stories?topic=incidents&limit=100").json["stories"]
    assert "На Гоголя сгорел деревянный дом" in [e.title for e in feed.entries]
    assert [e.title for e in feed.entries] == [story["title"] for story in stories]
    assert all("incidents" in {tag.term for tag in e.tags} for e in feed.entries)


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


# --- Pictures and every outlet's report in Atom ----------------------------------------------

VALIDATOR = SHARED / "tools" / "judges" / "validate_feed.py"
LIVER_REPORT = "https://tomsk-segodnya.example/news/84512"  # a report with a picture, told by several outlets


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory, classifier):
    """The bundled sample feeds polled at NOW: stories of one to four outlets, with pictures."""
    with polled_sample_service(tmp_path_factory.mktemp("atom"), classifier, [NOW]) as service:
        yield service


@pytest.fixture
def sample_reader(sample_site):
    return create_app(service=sample_site).test_client()


def validator_python() -> str:
    """An interpreter that has the W3C validator's one dependency, html5lib, without installing
    anything (the validator's script would fetch it): $PYTHON, ours, or the script's own venv."""
    if not VALIDATOR.exists():
        pytest.skip(f"no W3C feed validator at {VALIDATOR}")
    cached = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "feedvalidator-venv" / "bin" / "python"
    for python in (os.environ.get("PYTHON"), sys.executable, str(cached)):
        if python and Path(python).exists() and subprocess.run([python, "-c", "import html5lib"], capture_output=True).returncode == 0:
            return python
    pytest.skip("the W3C feed validator needs html5lib: run ../shared/tools/judges/validate_atom.sh once to set it up")


def w3c_problems(document: bytes, url: str, tmp_path: Path) -> list[str]:
    """Errors and warnings of the W3C Feed Validator, run offline on the document as served at `url`."""
    path = tmp_path / "feed.atom"
    path.write_bytes(document)
    run = subprocess.run(
        [validator_python(), str(VALIDATOR), "--base", url, "--content-type", "application/atom+xml", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode in (0, 1), run.stderr
    return [line for line in run.stdout.splitlines() if line.startswith(("ERROR", "WARNING"))]


@pytest.mark.parametrize("path", ["/feeds/all.atom", "/feeds/health.atom", "/feeds/top.atom", "/feeds/digest.atom"])
def test_atom_with_pictures_and_related_links_passes_the_w3c_validator(sample_reader, tmp_path, path):
    document = sample_reader.get(path).data
    if path != "/feeds/digest.atom":
        assert b'rel="related"' in document and b'rel="enclosure"' in document and b"<media:content" in document
    problems = w3c_problems(document, "http://news.test" + path, tmp_path)
    # The sample feeds' round publication times give several stories the same <updated>: true of the news, not a fault.
    assert [line for line in problems if "DuplicateUpdated" not in line] == []


def test_the_validator_check_notices_an_invalid_feed(tmp_path):
    broken = b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>x</title><entry><title>y</title></entry></feed>'
    assert any(line.startswith("ERROR") for line in w3c_problems(broken, "http://news.test/feeds/x.atom", tmp_path))


def test_a_reader_sees_the_storys_picture_as_media_and_enclosure(sample_reader, sample_site):
    feed = feedparser.parse(sample_reader.get("/feeds/all.atom").data)
    stories = {story.id: story for story in sample_site.storage.reads.stories_page(50).rows}
    pictured = [entry for entry in feed.entries if stories[int(entry.id.rsplit("/", 1)[1])].image_url]
    assert pictured and len(pictured) < len(feed.entries)
    for entry in feed.entries:
        picture = stories[int(entry.id.rsplit("/", 1)[1])].image_url
        media = [m["url"] for m in entry.get("media_content", [])]
        enclosures = [(link.href, link.type) for link in entry.links if link.rel == "enclosure"]
        assert media == ([picture] if picture else []), entry.title
        assert [href for href, _type in enclosures] == media and all(kind.startswith("image/") for _href, kind in enclosures)
        assert [t["url"] for t in entry.get("media_thumbnail", [])] == media


def test_every_other_outlets_report_is_a_related_link_titled_with_the_outlet(sample_reader, sample_site):
    feed = feedparser.parse(sample_reader.get("/feeds/all.atom").data)
    entry = next(e for e in feed.entries if LIVER_REPORT in {link.href for link in e.links})
    story = sample_site.storage.reads.story(int(entry.id.rsplit("/", 1)[1]))
    assert len(story.items) >= 2
    assert entry.link == story.lead.url
    related = [(link.href, link.title) for link in entry.links if link.rel == "related"]
    assert related == [(item.url, item.feed_name) for item in story.items if item is not story.lead]
    single = next(e for e in feed.entries if len(sample_site.storage.reads.story(int(e.id.rsplit("/", 1)[1])).items) == 1)
    assert [link for link in single.links if link.rel == "related"] == []


def test_an_entry_is_filed_under_every_topic_its_reports_carry(sample_reader, sample_site):
    feed = feedparser.parse(sample_reader.get("/feeds/all.atom").data)
    for entry in feed.entries:
        story = sample_site.storage.reads.story(int(entry.id.rsplit("/", 1)[1]))
        carried = {story.topic, *(slug for item in story.items for slug in item.topics)} & set(sample_site.topic_titles)
        assert {tag.term for tag in entry.get("tags", [])} == carried, entry.title
        if story.topic in sample_site.topic_titles:
            assert entry.tags[0].term == story.topic


def test_opml_lists_the_json_twins_and_the_top_feed(polled, service):
    body = polled.get("/feeds.opml").data.decode()
    for name in ("all", "digest", "top", *service.settings.topics):
        assert f'xmlUrl="http://news.test/feeds/{name}.atom"' in body and f'xmlUrl="http://news.test/feeds/{name}.json"' in body
