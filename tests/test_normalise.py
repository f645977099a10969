"""Cleaning what feeds give: HTML, links, dates, guids, encodings."""

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.entities import EntryData, Fetched
from aggregator.errors import ParseError
from aggregator.pipeline.normalise import canonical_url, normalise_entry, plain_text, sanitise_html
from aggregator.pipeline.parse import parse_feed
from conftest import DATA

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def entry(**fields) -> EntryData:
    base = dict(guid=None, link=None, title="Заголовок", summary_html="", content_html="", published=None, updated=None)
    return EntryData(**{**base, **fields})


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ('<p>Текст<script>alert(1)</script></p>', "<p>Текст</p>"),
        ('<img src="x.jpg" onerror="alert(1)">', '<img src="https://site.example/news/x.jpg">'),
        ('<a href="javascript:alert(1)">ссылка</a>', '<a rel="noopener noreferrer nofollow">ссылка</a>'),
        ('<a href="data:text/html,<b>x</b>">ссылка</a>', '<a rel="noopener noreferrer nofollow">ссылка</a>'),
        ('<iframe src="https://evil.example"></iframe><p style="color:red">Т</p>', "<p>Т</p>"),
        ('<a href="/news/1">далее</a>', '<a href="https://site.example/news/1" rel="noopener noreferrer nofollow">далее</a>'),
    ],
)
def test_html_keeps_only_the_allow_list(dirty, clean):
    assert sanitise_html(dirty, "https://site.example/news/7") == clean


def test_plain_text_decodes_entities_and_drops_markup():
    assert plain_text("<p>Цена &laquo;выросла&raquo;</p><p>на 5&nbsp;%</p>\x0b") == "Цена «выросла» на 5 %"


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://Site.Example:443/a?utm_source=rss&utm_medium=feed&id=7#top", "https://site.example/a?id=7"),
        ("http://site.example/news.php?id=12&yclid=9", "http://site.example/news.php?id=12"),
        ("https://site.example/a?b=%D0%B0&c=1", "https://site.example/a?b=%D0%B0&c=1"),
    ],
)
def test_canonical_urls_drop_tracking_but_keep_the_article(url, canonical):
    assert canonical_url(url) == canonical


def test_missing_and_future_dates_fall_back_to_now():
    assert normalise_entry(entry(), "https://s.example/", NOW).published == NOW
    future = NOW + timedelta(days=3)
    assert normalise_entry(entry(published=future), "https://s.example/", NOW).published == NOW
    past = NOW - timedelta(hours=5)
    assert normalise_entry(entry(published=past), "https://s.example/", NOW).published == past


def test_every_item_gets_a_guid_from_its_link_or_its_content():
    with_link = normalise_entry(entry(link="/n/1?utm_source=x"), "https://s.example/", NOW)
    assert with_link.guid == with_link.url == "https://s.example/n/1"
    bare = normalise_entry(entry(summary_html="Только текст"), "https://s.example/", NOW)
    assert bare.guid == bare.content_hash


@pytest.mark.parametrize("name", ["rss2_cp1251.xml", "rss2_koi8r.xml"])
def test_russian_single_byte_encodings_come_out_readable(name):
    body = (DATA / "feeds" / name).read_bytes()
    feed = parse_feed(Fetched(url="https://s.example/rss", status=200, body=body, content_type="text/xml"))
    assert feed.title in {"Обь-Томь", "Томская неделя"}
    assert feed.entries[0].title in {"В областной больнице открыли центр лечения инсульта", "Филармония открыла сезон премьерой"}


def test_a_windows_1251_feed_served_as_utf8_is_still_readable():
    body = (DATA / "feeds" / "rss2_cp1251.xml").read_bytes()
    feed = parse_feed(Fetched(url="https://s.example/rss", status=200, body=body, content_type="application/rss+xml; charset=utf-8"))
    assert feed.entries[0].title == "В областной больнице открыли центр лечения инсульта"


@pytest.mark.parametrize("body", [b"", b"<html><body>not a feed</body></html>", b"\x00\x01\x02junk"])
def test_a_document_that_is_not_a_feed_is_a_parse_error(body):
    with pytest.raises(ParseError):
        parse_feed(Fetched(url="https://s.example/rss", status=200, body=body))
