"""A search as a feed (/search.atom?q=, /search.json?q=): the same Russian-aware search as the
search page, one entry per story, newest first; a bad query is refused with the reason."""

from __future__ import annotations

import json

import feedparser
import lxml.html
import pytest

from aggregator import create_app
from aggregator.pipeline.lemmas import WORD, analyse
from conftest import NOW
from sample_site import polled_sample_service


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory, classifier):
    with polled_sample_service(tmp_path_factory.mktemp("search"), classifier, [NOW]) as service:
        yield service


@pytest.fixture
def reader(sample_site):
    return create_app(service=sample_site).test_client()


def lemmas_of(text: str) -> set[str]:
    return {analyse(word.lower().replace("ё", "е"))[0] for word in WORD.findall(text)}


def search_json(client, query: str) -> dict:
    response = client.get("/search.json", query_string={"q": query})
    assert response.status_code == 200 and response.mimetype == "application/feed+json"
    return json.loads(response.data)


def story_text(item: dict) -> str:
    return " ".join(f"{report['title']}" for report in item["_aggregator"]["reports"]) + " " + item["summary"]


@pytest.mark.parametrize("query", ["троллейбус", "пересадки печени", "пожаром"])
def test_a_search_feed_holds_the_stories_whose_reports_use_the_word_in_any_form(reader, sample_site, query):
    wanted = lemmas_of(query)
    items = search_json(reader, query)["items"]
    assert items, query
    for item in items:
        story = sample_site.storage.reads.story(int(item["id"].rsplit("/", 1)[1]))
        said = lemmas_of(" ".join(f"{report.title} {report.summary}" for report in story.items))
        assert wanted <= said, item["title"]
    found = {item.story_id for item in sample_site.storage.reads.search(query, 200).items}
    assert {int(item["id"].rsplit("/", 1)[1]) for item in items} == found  # the search page's matches, story by story


def test_inflected_forms_match_but_other_words_do_not(reader):
    assert search_json(reader, "троллейбусов")["items"] == search_json(reader, "троллейбус")["items"]
    assert search_json(reader, "марсоход")["items"] == []


def test_one_entry_per_story_newest_first(reader):
    items = search_json(reader, "томск")["items"]
    ids = [item["id"] for item in items]
    assert len(items) >= 3 and len(ids) == len(set(ids))
    modified = [item["date_modified"] for item in items]
    assert modified == sorted(modified, reverse=True)


def test_the_atom_search_feed_is_the_json_ones_twin(reader):
    response = reader.get("/search.atom", query_string={"q": "троллейбус"})
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    atom = feedparser.parse(response.data)
    assert not atom.bozo
    assert [entry.id for entry in atom.entries] == [item["id"] for item in search_json(reader, "троллейбус")["items"]]
    assert atom.feed.title.endswith("поиск «троллейбус»")
    self_link = next(link.href for link in atom.feed.links if link.rel == "self")
    assert self_link.startswith("http://news.test/search.atom?q=")
    assert feedparser.parse(reader.get(self_link.removeprefix("http://news.test")).data).feed.title == atom.feed.title


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({}, "Пустой запрос"),
        ({"q": ""}, "Пустой запрос"),
        ({"q": "   "}, "Пустой запрос"),
        ({"q": "т" * 201}, "длиннее 200 символов"),
        ({"q": "!!! ???"}, "нет слов"),
    ],
    ids=["no-q", "empty", "blank", "too-long", "no-words"],
)
@pytest.mark.parametrize("fmt", ["atom", "json"])
def test_an_empty_or_overlong_query_is_400_with_the_reason(reader, query, reason, fmt):
    response = reader.get(f"/search.{fmt}", query_string=query)
    assert response.status_code == 400
    if fmt == "json":
        assert response.json["status"] == 400 and reason in response.json["error"]
    else:
        assert reason in response.data.decode()


def test_the_search_page_offers_its_search_as_a_feed(reader):
    html = reader.get("/search", query_string={"q": "троллейбус"}).data.decode()
    doc = lxml.html.fromstring(html)
    link = doc.xpath('//a[contains(., "Подписаться на этот поиск")]')[0]
    assert link.get("href") == "/search.atom?q=%D1%82%D1%80%D0%BE%D0%BB%D0%BB%D0%B5%D0%B9%D0%B1%D1%83%D1%81"
    assert reader.get(link.get("href")).status_code == 200
    discovered = {e.get("type"): e.get("href") for e in doc.xpath('//head/link[@rel="alternate"][starts-with(@title, "Поиск")]')}
    assert set(discovered) == {"application/atom+xml", "application/feed+json"}
    assert discovered["application/feed+json"].startswith("/search.json?q=")
    assert "Подписаться на этот поиск" not in reader.get("/search").data.decode()  # nothing searched, nothing to follow
