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
        ("<p>Текст<script>alert(1)</script></p>", "<p>Текст</p>"),
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
        ("javascript:alert(1)", ""),
        ("data:text/html,<script>alert(1)</script>", ""),
        ("http://site.example:99999/a", ""),
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


def rss_doc(titles: list[str], head: str = '<?xml version="1.0" encoding="utf-8"?>', channel: str = "", title: str = "Лента") -> str:
    items = "".join(f"<item><title>{t}</title><guid>g{n}</guid></item>" for n, t in enumerate(titles))
    return f'{head}\n<rss version="2.0"><channel><title>{title}</title>{channel}{items}</channel></rss>'


def parse(body: bytes, content_type: str | None = None, max_entries: int = 1000):
    return parse_feed(Fetched(url="https://s.example/rss", status=200, body=body, content_type=content_type), max_entries)


RUSSIAN = ["Трамваи вернутся на проспект Ленина", "Губернатор подписал указ о поддержке малого бизнеса"]


def test_a_koi8r_feed_served_and_declared_as_utf8_is_readable_and_noted():
    feed = parse(rss_doc(RUSSIAN).encode("koi8-r"), "application/rss+xml; charset=utf-8")
    assert [e.title for e in feed.entries] == RUSSIAN and feed.title == "Лента"
    assert [n.kind for n in feed.notes] == ["wrong_encoding"] and "koi8-r" in feed.notes[0].message


@pytest.mark.parametrize("content_type", [None, "application/xml", "text/xml"])
def test_a_windows_1251_feed_declaring_no_encoding_at_all_is_readable(content_type):
    feed = parse(rss_doc(RUSSIAN, head="").encode("cp1251"), content_type)
    assert [e.title for e in feed.entries] == RUSSIAN
    assert "windows-1251" in feed.notes[0].message


def test_a_latin_1_feed_is_not_mistaken_for_cyrillic():
    french = ["Le président à Paris", "Un été très chaud à Marseille"]
    feed = parse(
        rss_doc(french, head='<?xml version="1.0" encoding="iso-8859-1"?>', title="Le Journal").encode("latin-1"), "application/rss+xml"
    )
    assert [e.title for e in feed.entries] == french and feed.notes == ()


def test_a_correctly_declared_feed_has_no_notes():
    assert parse(rss_doc(RUSSIAN).encode("utf-8"), "application/rss+xml").notes == ()
    assert parse((DATA / "feeds" / "rss2_cp1251.xml").read_bytes(), "text/xml").notes == ()


LAUGHS = '<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY a "ha">\n <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">\n]>'


@pytest.mark.parametrize(
    ("head", "titles", "words"),
    [
        (LAUGHS, ["&c;"], "billion laughs"),
        (LAUGHS.replace("\n", ""), ["&c;"], "billion laughs"),
        ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "' + "x" * 500 + '">]>', ["&x;" * 5000], "quadratic blowup"),
        ('<?xml version="1.0"?><!-- <a> --><!DOCTYPE rss [<!ENTITY x "' + "x" * 500 + '">]>', ["&x;" * 5000], "quadratic blowup"),
        ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "' + "x" * 5000 + '">]>', ["&x;"], "of 5000 characters"),
        ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', ["&xxe;"], "file:///etc/passwd"),
        ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % dtd SYSTEM "http://127.0.0.1:9/x.dtd"> %dtd;]>', ["т"], "never fetched"),
    ],
    ids=["billion-laughs", "one-line", "quadratic", "hidden-behind-a-comment", "one-huge-entity", "xxe-file", "parameter-entity"],
)
def test_entity_expansion_and_external_entities_are_refused(head, titles, words):
    for body in (rss_doc(titles, head=head).encode("utf-8"), rss_doc(titles, head=head).encode("utf-16")):
        with pytest.raises(ParseError) as error:
            parse(body)
        assert error.value.kind == "unsafe_xml" and words in str(error.value)


def test_a_small_literal_entity_is_still_read():
    feed = parse(rss_doc(["&who; сообщает"], head='<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY who "Редакция">\n]>').encode())
    assert feed.entries[0].title == "Редакция сообщает"


def test_a_feed_with_too_many_entries_is_cut_before_parsing_and_noted():
    feed = parse(rss_doc([f"Новость {n}" for n in range(50)]).encode(), max_entries=10)
    assert [e.title for e in feed.entries] == [f"Новость {n}" for n in range(10)]
    assert feed.notes[0].kind == "too_many_items" and "50 entries" in feed.notes[0].message
    assert feed.title == "Лента" and len(feed.notes) == 1  # cut cleanly: still well-formed


@pytest.mark.parametrize(
    ("channel", "ttl"),
    [
        ("<ttl>90</ttl>", timedelta(minutes=90)),
        ("<ttl>soon</ttl>", None),
        ("", None),
        (
            (
                '<sy:updatePeriod xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">daily</sy:updatePeriod>'
                '<sy:updateFrequency xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">4</sy:updateFrequency>'
            ),
            timedelta(hours=6),
        ),
    ],
)
def test_the_publishers_polling_hint_is_read(channel, ttl):
    assert parse(rss_doc(RUSSIAN, channel=channel).encode()).ttl == ttl
