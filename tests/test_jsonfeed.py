"""JSON Feed 1.1 twins of the curated Atom feeds, as a JSON Feed reader meets them: every field
the spec (https://jsonfeed.org/version/1.1) defines, in the type it asks for; the same
stories under the same ids as the Atom feeds; feedparser reads them; HTTP caching as for Atom."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import feedparser
import pytest

from aggregator import create_app
from aggregator.publish.jsonfeed import rfc3339
from aggregator.service import Service
from aggregator.settings import settings_from_dict
from conftest import NOW, config_dict
from sample_site import polled_sample_service

BASE = "http://news.test"
VERSION = "https://jsonfeed.org/version/1.1"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$")
LIVER_REPORT = "https://tomsk-segodnya.example/news/84512"  # a report with a picture, told by several outlets
JSON_PATHS = ["/feeds/all.json", "/feeds/health.json", "/feeds/digest.json", "/feeds/top.json"]


@pytest.fixture(scope="module")
def site(tmp_path_factory, classifier) -> Iterator[tuple[Service, list[datetime]]]:
    """The bundled sample feeds polled once at NOW (read-only tests share it); its clock."""
    clock = [NOW]
    with polled_sample_service(tmp_path_factory.mktemp("jsonfeed"), classifier, clock) as service:
        yield service, clock


@pytest.fixture
def demo(site) -> Service:
    return site[0]


@pytest.fixture
def now(site) -> Iterator[list[datetime]]:
    """The shared service's clock, put back to NOW after the test."""
    yield site[1]
    site[1][0] = NOW


@pytest.fixture
def reader(demo):
    return create_app(service=demo).test_client()


def get_json(client, path: str) -> dict:
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.mimetype == "application/feed+json"
    return json.loads(response.data)


def read_with_feedparser(client, path: str):
    """feedparser as a reader uses it over HTTP: it tells JSON Feed by the Content-Type."""
    response = client.get(path)
    return feedparser.parse(response.data, response_headers={"content-type": response.headers["Content-Type"]})


# --- A schema of our own, from the spec's field list -------------------------------------------
# field: (type, required). "url" means an absolute http(s) URL string, "date" an RFC 3339 one.

FEED_FIELDS = {
    "version": (str, True),
    "title": (str, True),
    "home_page_url": ("url", True),
    "feed_url": ("url", True),
    "description": (str, False),
    "language": (str, True),
    "authors": (list, True),
    "hubs": (list, False),
    "items": (list, True),
}
ITEM_FIELDS = {
    "id": (str, True),
    "url": ("url", True),
    "title": (str, True),
    "content_html": (str, True),
    "summary": (str, False),
    "image": ("url", False),
    "date_published": ("date", False),
    "date_modified": ("date", True),
    "authors": (list, False),
    "tags": (list, False),
    "_aggregator": (dict, False),
}
REPORT_FIELDS = {"outlet": (str, True), "url": ("url", True), "title": (str, True), "date_published": ("date", True)}


def schema_problems(value: dict, fields: dict, where: str) -> list[str]:
    problems = [f"{where}: unknown field {key!r}" for key in value if key not in fields and not key.startswith("_")]
    for key, (kind, required) in fields.items():
        if key not in value:
            problems += [f"{where}: missing {key!r}"] if required else []
        elif not _is(value[key], kind):
            problems.append(f"{where}: {key!r} is not {kind}: {value[key]!r}")
    return problems


def _is(value: object, kind: object) -> bool:
    if kind == "url":
        return isinstance(value, str) and urlsplit(value).scheme in ("http", "https") and bool(urlsplit(value).netloc)
    if kind == "date":
        return isinstance(value, str) and bool(RFC3339.match(value)) and datetime.fromisoformat(value.replace("Z", "+00:00")) is not None
    return isinstance(value, kind)  # type: ignore[arg-type]


def feed_problems(feed: dict) -> list[str]:
    problems = schema_problems(feed, FEED_FIELDS, "feed")
    problems += [f"authors[{n}] has no name" for n, author in enumerate(feed.get("authors", [])) if not author.get("name")]
    for n, item in enumerate(feed.get("items", [])):
        problems += schema_problems(item, ITEM_FIELDS, f"items[{n}]")
        problems += [f"items[{n}]: a tag is not a string" for tag in item.get("tags", []) if not isinstance(tag, str)]
        for m, report in enumerate(item.get("_aggregator", {}).get("reports", [])):
            problems += schema_problems(report, REPORT_FIELDS, f"items[{n}].reports[{m}]")
    return problems


def test_the_schema_notices_what_it_checks():
    bad = {"version": 1.1, "title": "t", "home_page_url": "javascript:x", "feed_url": "http://x.test/f.json", "language": "ru"}
    bad |= {"authors": [{}], "extra": 1, "items": [{"id": 5, "url": "http://x.test/", "title": "t", "content_html": ""}]}
    bad["items"][0] |= {"date_modified": "25.11.2026", "tags": [3], "_aggregator": {"reports": [{"outlet": "А"}]}}
    found = " | ".join(feed_problems(bad))
    for words in ("'version' is not", "'home_page_url' is not url", "unknown field 'extra'", "has no name", "'id' is not"):
        assert words in found
    for words in ("'date_modified' is not date", "a tag is not", "reports[0]: missing 'url'", "reports[0]: missing 'date_published'"):
        assert words in found


# --- The feeds --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", JSON_PATHS)
def test_every_json_feed_follows_json_feed_1_1_field_by_field(reader, path):
    feed = get_json(reader, path)
    assert feed_problems(feed) == []
    assert feed["version"] == VERSION
    assert feed["feed_url"] == BASE + path
    assert feed["home_page_url"].startswith(BASE + "/")
    assert feed["language"] == "ru"
    assert feed["items"], path
    ids = [item["id"] for item in feed["items"]]
    assert len(ids) == len(set(ids))
    for item in feed["items"]:
        if "date_published" in item:
            assert item["date_published"] <= item["date_modified"]


@pytest.mark.parametrize("name", ["all", "health", "digest", "top"])
def test_json_items_are_the_atom_entries_under_the_same_ids(reader, name):
    atom = feedparser.parse(reader.get(f"/feeds/{name}.atom").data)
    feed = get_json(reader, f"/feeds/{name}.json")
    assert [item["id"] for item in feed["items"]] == [entry.id for entry in atom.entries]
    assert [item["title"] for item in feed["items"]] == [entry.title for entry in atom.entries]
    assert [item["url"] for item in feed["items"]] == [entry.link for entry in atom.entries]
    assert [item["date_modified"] for item in feed["items"]] == [entry.updated.replace("+00:00", "Z") for entry in atom.entries]


def test_a_story_item_names_every_outlets_report_its_topics_and_its_picture(reader, demo):
    feed = get_json(reader, "/feeds/all.json")
    liver = next(item for item in feed["items"] if any(r["url"] == LIVER_REPORT for r in item["_aggregator"]["reports"]))
    story = demo.storage.reads.story(int(liver["id"].rsplit("/", 1)[1]))
    assert liver["id"] == f"{BASE}/stories/{story.id}" == liver["_aggregator"]["story_url"]
    assert liver["url"] == story.lead.url and liver["title"] == story.title
    assert liver["image"] == story.image_url and liver["image"].startswith("https://")
    assert liver["tags"][0] == "Здоровье"
    assert liver["summary"] == story.lead.summary
    reports = liver["_aggregator"]["reports"]
    lead_first = (story.lead, *story.others)
    assert [(r["outlet"], r["url"], r["title"]) for r in reports] == [(i.feed_name, i.url, i.title) for i in lead_first]
    assert [r["date_published"] for r in reports] == [rfc3339(i.published) for i in lead_first]
    assert len(reports) >= 2  # the sample feeds tell this event in four outlets
    assert [author["name"] for author in liver["authors"]] == list(story.outlets)
    assert all(r["url"] in liver["content_html"] for r in reports)
    assert liver["date_published"] == rfc3339(story.first_published) and liver["date_modified"] == rfc3339(story.updated)


def test_stories_without_a_picture_have_no_image_field(reader):
    items = get_json(reader, "/feeds/all.json")["items"]
    assert any("image" in item for item in items) and any("image" not in item for item in items)
    assert all(item["image"].startswith("https://") for item in items if "image" in item)


@pytest.mark.skipif(
    importlib.util.find_spec("feedparser.parsers.json") is None,
    reason=f"feedparser {feedparser.__version__} reads no JSON Feed (its JSON parser is only on its unreleased development branch)",
)
def test_feedparser_reads_the_json_feed(reader):
    parsed = read_with_feedparser(reader, "/feeds/all.json")
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "json11"
    assert parsed.feed.title == "Новости Томской области"
    atom = feedparser.parse(reader.get("/feeds/all.atom").data)
    assert [entry.id for entry in parsed.entries] == [entry.id for entry in atom.entries]
    assert [entry.link for entry in parsed.entries] == [entry.link for entry in atom.entries]


def test_the_digest_json_has_one_item_per_past_day(reader, demo, now):
    now[0] = NOW + timedelta(days=1)
    feed = get_json(reader, "/feeds/digest.json")
    days = [item["id"] for item in feed["items"]]
    assert days == [f"{BASE}/digest/2026-11-25", f"{BASE}/digest/2026-11-24"]
    liver = next(s for s in demo.storage.reads.stories_page(500).rows if LIVER_REPORT in {i.url for i in s.items})
    assert f">{liver.title}</a>" in feed["items"][0]["content_html"]
    assert feed["items"][0]["title"] == "Главное за 25 ноября 2026"


def test_a_json_reader_that_has_the_feed_gets_304(reader):
    first = reader.get("/feeds/all.json")
    assert first.headers["ETag"] and first.headers["Last-Modified"]
    assert reader.get("/feeds/all.json", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert reader.get("/feeds/all.json", headers={"If-Modified-Since": first.headers["Last-Modified"]}).status_code == 304
    assert first.headers["ETag"] != reader.get("/feeds/all.atom").headers["ETag"]


def test_an_unknown_topic_or_format_is_404(reader):
    assert reader.get("/feeds/astrology.json").status_code == 404
    assert reader.get("/feeds/all.rss").status_code == 404


def test_json_text_from_feeds_is_data_not_markup(tmp_path, feed_server, make_service):
    hostile = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Х</title><link>https://h.example/</link>
    <item><title>Цены &lt; 100 рублей &amp; "кавычки"</title><link>https://h.example/1</link>
    <description>&lt;img src=x onerror=alert(1)&gt;Текст</description><pubDate>Wed, 25 Nov 2026 16:00:00 +0700</pubDate></item>
    </channel></rss>"""
    service = make_service(settings_from_dict(config_dict(tmp_path, {"Хулиганская лента": feed_server.serve("/h.xml", hostile)})))
    service.poll(include_all=True)
    item = get_json(create_app(service=service).test_client(), "/feeds/all.json")["items"][0]
    assert item["title"] == 'Цены < 100 рублей & "кавычки"'  # a plain string: the reader escapes it
    assert "onerror" not in item["content_html"] and '<img src="x"' not in item["content_html"]
    assert "Цены &lt; 100 рублей &amp; &#34;кавычки&#34;" in item["content_html"]
