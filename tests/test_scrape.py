"""Outlets without a feed: a news-list page read with selectors, dates in Russian words, a
changed layout reported on feed health, and the page's redirects held to the address policy."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from aggregator.cli import cli
from aggregator.entities import Fetched
from aggregator.errors import ConfigError, ParseError
from aggregator.pipeline import fetch as fetch_module
from aggregator.pipeline.dates import read_date
from aggregator.pipeline.scrape import scrape_page
from aggregator.selectors import PageSelectors
from aggregator.settings import settings_from_dict
from aggregator.storage.models import Item
from conftest import DATA, NOW, config_dict

PAGES = DATA / "pages"
TOMSK = ZoneInfo("Asia/Tomsk")
SELECTORS = {
    "item": "article.news-item",
    "title": "h2 a",
    "link": "h2 a",
    "date": ".news-item__date",
    "summary": ".news-item__lead",
    "image": "img",
}
SITE = "https://obozrevatel.example"


def tomsk(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TOMSK).astimezone(UTC)


EXPECTED = [  # title, path, published, summary, image path
    (
        "Мост через Томь откроют для движения в понедельник",
        "/news/2026/11/25/most-cherez-tom/",
        tomsk(2026, 11, 25, 14, 5),
        "Подрядчик завершил испытания нового моста, сообщили в мэрии.",
        "/media/2026/11/most.jpg",
    ),
    (
        "На Кирова ночью горел склад стройматериалов",
        "/news/2026/11/25/pozhar-na-kirova/",
        tomsk(2026, 11, 25, 10, 30),
        "Огонь тушили четыре часа, пострадавших нет.",
        None,
    ),
    (
        "Учёные ТГУ получили грант на изучение болот Васюганья",
        "/news/2026/11/24/tgu-grant/",
        tomsk(2026, 11, 24, 18, 40),
        "Исследование продлится три года.",
        None,
    ),
    ("«Томскнефть» повысит зарплаты с января", "/news/2026/11/25/tomskneft-zarplaty/", tomsk(2026, 11, 25, 16, 55), "", None),
    (
        "«Томич» обыграл соседей из Новосибирска",
        "/news/2026/11/25/hokkey-tomich/",
        tomsk(2026, 11, 25, 0, 0),
        "Хоккеисты победили со счётом <b>4:2</b>.",
        None,
    ),
]


def list_page(name: str = "news_list.html") -> Fetched:
    return Fetched(url=SITE + "/news/", status=200, body=(PAGES / name).read_bytes(), content_type="text/html")


def scraped(selectors: dict[str, str], page: Fetched | None = None):
    return scrape_page(page or list_page(), PageSelectors(**selectors), NOW, TOMSK)


def html_source(url: str, name: str = "Томский обозреватель", **options) -> dict:
    return {"url": url, "name": name, "kind": "html", "selectors": dict(SELECTORS), **options}


def html_settings(tmp_path, sources: list[dict], **overrides):
    raw = config_dict(tmp_path, {}, **overrides)
    raw["feeds"] = sources
    return settings_from_dict(raw)


# Dates in Russian words, in the service's time zone. NOW is 17:00 on 25 November in Tomsk.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("26 ноября 2025, 14:05", tomsk(2025, 11, 26, 14, 5)),
        ("25 ноября 2026 г. в 09:15", tomsk(2026, 11, 25, 9, 15)),
        ("Среда, 25 нояб. 2026, 08:00", tomsk(2026, 11, 25, 8, 0)),
        ("1 мая 2026", tomsk(2026, 5, 1)),
        ("24 ноября, 18:40", tomsk(2026, 11, 24, 18, 40)),
        ("31 декабря", tomsk(2025, 12, 31)),  # no year: the last 31 December, not a future one
        ("сегодня в 10:30", tomsk(2026, 11, 25, 10, 30)),
        ("Сегодня, 10:30", tomsk(2026, 11, 25, 10, 30)),
        ("вчера, 18:40", tomsk(2026, 11, 24, 18, 40)),
        ("вчера в 23:59", tomsk(2026, 11, 24, 23, 59)),
        ("позавчера", tomsk(2026, 11, 23)),
        ("5 минут назад", NOW - timedelta(minutes=5)),
        ("минуту назад", NOW - timedelta(minutes=1)),
        ("2 часа назад", NOW - timedelta(hours=2)),
        ("час назад", NOW - timedelta(hours=1)),
        ("3 дня назад", NOW - timedelta(days=3)),
        ("только что", NOW),
        ("26.11.2025", tomsk(2025, 11, 26)),
        ("25.11.26 14:05", tomsk(2026, 11, 25, 14, 5)),
        ("14:05 25.11.2026", tomsk(2026, 11, 25, 14, 5)),
        ("16:20", tomsk(2026, 11, 25, 16, 20)),
        ("23:50", tomsk(2026, 11, 24, 23, 50)),  # a bare time still to come today was yesterday's
        ("2026-11-25T14:05:00+07:00", tomsk(2026, 11, 25, 14, 5)),
        ("2026-11-25T07:05:00Z", tomsk(2026, 11, 25, 14, 5)),
        ("2026-11-25 14:05", tomsk(2026, 11, 25, 14, 5)),
    ],
)
def test_russian_dates_are_read_in_the_service_time_zone(text, expected):
    assert read_date(text, NOW, TOMSK) == expected


@pytest.mark.parametrize("text", ["", "Новости", "31 февраля 2026", "Просмотров: 1254"])
def test_text_without_a_date_gives_none(text):
    assert read_date(text, NOW, TOMSK) is None


def test_the_same_words_mean_another_moment_in_another_zone():
    assert read_date("сегодня в 10:30", NOW, ZoneInfo("Europe/Moscow")) == datetime(2026, 11, 25, 7, 30, tzinfo=UTC)


# The page itself.


def test_a_news_list_page_gives_exactly_its_items():
    data = scraped(SELECTORS)
    got = [(e.title, e.link, e.published, e.summary_html, e.image_url) for e in data.entries]
    want = [
        (title, SITE + path + ("?utm_source=list" if n == 0 else ""), published, summary, image and SITE + image)
        for n, (title, path, published, summary, image) in enumerate(EXPECTED)
    ]
    assert [g[:3] for g in got] == [w[:3] for w in want]
    assert [(g[3] and _text(g[3]), g[4]) for g in got] == [(w[3], w[4]) for w in want]
    assert data.title == "Томский обозреватель" and data.notes == ()


def _text(html: str) -> str:
    """The summary element's inner HTML, without its own tag."""
    return html[html.index(">") + 1 : html.rindex("<")]


def test_xpath_selectors_find_the_same_items():
    xpath = {
        "item": "//article[contains(@class, 'news-item')]",
        "title": ".//h2/a",
        "link": ".//h2/a/@href",
        "date": ".//*[contains(@class, 'news-item__date')]",
        "summary": "./p",
        "image": ".//img/@data-src",
    }
    css, by_xpath = scraped(SELECTORS), scraped(xpath)
    assert [(e.title, e.link, e.published, e.image_url) for e in by_xpath.entries] == [
        (e.title, e.link, e.published, e.image_url) for e in css.entries
    ]


def test_blocks_without_a_title_or_link_are_skipped_and_reported():
    data = scraped(dict(SELECTORS, item=".news-item"))  # also matches the advertising block
    assert len(data.entries) == 5
    (note,) = data.notes
    assert note.kind == "selectors_failed"
    assert "1 of 6 item blocks have no title (selector 'h2 a')" in note.message


def test_dates_that_cannot_be_read_are_reported():
    data = scraped(dict(SELECTORS, date=".news-item__lead"))
    assert all(entry.published is None for entry in data.entries[:3])
    assert [note.kind for note in data.notes] == ["unreadable_dates"]
    assert "they are dated when first seen" in data.notes[0].message


@pytest.mark.parametrize(
    ("selectors", "words"),
    [
        (dict(SELECTORS, item="div.news-card"), "the item selector 'div.news-card' matches nothing on the page"),
        (dict(SELECTORS, title="h3 a", link="h3 a"), "5 of 5 item blocks have no title (selector 'h3 a'); 5 of 5 item blocks have no link"),
    ],
)
def test_selectors_that_no_longer_match_are_an_error_in_words(selectors, words):
    with pytest.raises(ParseError) as error:
        scraped(selectors)
    assert error.value.kind == "selectors_failed"
    assert words in str(error.value) and "layout may have changed" in str(error.value)


def test_a_windows_1251_page_declared_in_meta_is_read():
    body = (PAGES / "news_list.html").read_text(encoding="utf-8").replace('<meta charset="utf-8">', '<meta charset="windows-1251">')
    page = Fetched(url=SITE + "/news/", status=200, body=body.encode("windows-1251", errors="xmlcharrefreplace"), content_type="text/html")
    assert [entry.title for entry in scraped(SELECTORS, page).entries] == [row[0] for row in EXPECTED]


# Configuration.


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ({"kind": "html"}, '[[feeds]] #1 kind = "html" needs a [feeds.selectors] table'),
        ({"selectors": SELECTORS}, 'only a news-list page has selectors; add kind = "html"'),
        ({"kind": "html", "selectors": dict(SELECTORS, item="div[")}, "[[feeds]] #1 selectors.item: not a valid CSS selector 'div['"),
        ({"kind": "html", "selectors": dict(SELECTORS, date="//span[")}, "[[feeds]] #1 selectors.date: not a valid XPath expression"),
        ({"kind": "html", "selectors": {"item": "li", "title": "a"}}, "[[feeds]] #1 selectors.link: Field required"),
        ({"kind": "html", "selectors": dict(SELECTORS, colour="red")}, "[[feeds]] #1 selectors.colour: unknown key (check the spelling)"),
        ({"kind": "rss"}, "[[feeds]] #1 kind: Input should be 'feed', 'html' or 'telegram'"),
        ({"publish": "full_text"}, 'publish = "full_text" needs full_text = true'),
    ],
)
def test_a_bad_source_stops_start_up_naming_the_key(feed, message):
    with pytest.raises(ConfigError) as error:
        settings_from_dict({"feeds": [{"url": SITE + "/news/", "name": "Сайт", **feed}]})
    assert message in str(error.value)


# Through the pipeline.


def test_page_items_are_stored_classified_and_published_like_feed_items(tmp_path, feed_server, make_service):
    url = feed_server.serve_file("/news/", PAGES / "news_list.html", content_type="text/html; charset=utf-8")
    service = make_service(html_settings(tmp_path, [html_source(url)]))
    (outcome,) = service.poll(include_all=True).feeds
    assert outcome.ok and outcome.new == 5
    with service.storage.read() as session:
        rows = {row.title: row for row in session.scalars(select(Item))}
    assert sorted(rows) == sorted(row[0] for row in EXPECTED)
    for title, path, published, _summary, _image in EXPECTED:
        assert rows[title].url == feed_server.base + path
        assert rows[title].published_at.replace(tzinfo=UTC) == published
    assert rows["На Кирова ночью горел склад стройматериалов"].topic == "incidents"
    assert rows["«Томич» обыграл соседей из Новосибирска"].topic == "sport"
    (feed,) = service.storage.feeds.list()
    assert feed.status == "ok" and feed.title == "Томский обозреватель"


def test_a_page_read_again_adds_only_what_is_new(tmp_path, feed_server, make_service, clock):
    url = feed_server.serve_file("/news/", PAGES / "news_list.html", content_type="text/html")
    service = make_service(html_settings(tmp_path, [html_source(url)]))
    service.poll(include_all=True)
    page = (PAGES / "news_list.html").read_text(encoding="utf-8")
    fresh = (
        '<div class="news-list">\n<article class="news-item"><h2><a href="/news/2026/11/25/novyi-katok/">'
        'В Лагерном саду открылся каток</a></h2><span class="news-item__date">только что</span></article>'
    )
    feed_server.serve("/news/", page.replace('<div class="news-list">', fresh), content_type="text/html")
    clock[0] = NOW + timedelta(minutes=30)
    (outcome,) = service.poll(include_all=True).feeds
    assert (outcome.new, outcome.updated, outcome.unchanged) == (1, 0, 5)  # «5 минут назад» is the same item as before
    with service.storage.read() as session:
        published = session.scalar(select(Item.published_at).where(Item.title == "В Лагерном саду открылся каток"))
    assert published.replace(tzinfo=UTC) == clock[0]


def test_a_changed_layout_is_reported_on_feed_health(tmp_path, feed_server, make_service, client_for):
    url = feed_server.serve_file("/news/", PAGES / "news_list.html", content_type="text/html")
    service = make_service(html_settings(tmp_path, [html_source(url)]))
    service.poll(include_all=True)
    redesigned = (PAGES / "news_list.html").read_text(encoding="utf-8").replace("news-item", "card")
    feed_server.serve("/news/", redesigned, content_type="text/html")
    (outcome,) = service.poll(include_all=True).feeds
    assert outcome.status == "selectors_failed" and outcome.new == 0
    (feed,) = client_for(service).get("/api/feeds").json["feeds"]
    assert feed["status"] == "selectors_failed"
    assert "the item selector 'article.news-item' matches nothing on the page" in feed["last_error"]


def test_changed_selectors_read_an_unchanged_page_again(tmp_path, feed_server, make_service):
    url = feed_server.serve_file("/news/", PAGES / "news_list.html", content_type="text/html")
    service = make_service(html_settings(tmp_path, [html_source(url, selectors=dict(SELECTORS, date=".nothing"))]))
    service.poll(include_all=True)
    assert service.storage.feeds.list()[0].status == "unreadable_dates"
    fixed = make_service(html_settings(tmp_path, [html_source(url)]))  # the curator fixed config.toml and restarted
    (outcome,) = fixed.poll(include_all=True).feeds
    assert not outcome.not_modified and outcome.unchanged == 5
    assert fixed.storage.feeds.list()[0].status == "ok"


def test_a_page_redirecting_to_a_private_address_is_refused_unless_allowed(tmp_path, feed_server, make_service, monkeypatch):
    real_check = fetch_module.check_address

    def public_test_server(url: str, allow_private: bool):
        """Treat the local test server as a public site; judge everything else for real."""
        return () if url.startswith(feed_server.base) else real_check(url, allow_private)

    monkeypatch.setattr(fetch_module, "check_address", public_test_server)
    feed_server.serve_file("/news/", PAGES / "news_list.html", content_type="text/html")
    inside = "http://localhost:" + feed_server.base.rsplit(":", 1)[1] + "/news/"
    url = feed_server.serve("/old-news/", "", status=302, headers={"Location": inside})
    refused = make_service(html_settings(tmp_path, [html_source(url)], polling={"allow_private_addresses": False}))
    (outcome,) = refused.poll(include_all=True).feeds
    assert outcome.status == "refused_address" and "localhost resolves to the non-public address" in outcome.error
    allowed = make_service(html_settings(tmp_path, [html_source(url)], polling={"allow_private_addresses": True}))
    (outcome,) = allowed.poll(include_all=True).feeds
    assert outcome.ok and outcome.new == 5


# Trying a source from the command line.


def test_feeds_test_prints_the_items_and_saves_nothing(tmp_path, feed_server, config_file):
    url = feed_server.serve_file("/news/", PAGES / "news_list.html", content_type="text/html")
    args = ["--item", "article.news-item", "--title", "h2 a", "--link", "h2 a", "--date", ".news-item__date", "--summary", "p"]
    result = CliRunner().invoke(cli, ["--config", str(config_file), "feeds", "test", url, *args, "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"Томский обозреватель <{url}>: a news-list page giving 5 items",
        "",
        "1. Мост через Томь откроют для движения в понедельник",
        f"   {feed_server.base}/news/2026/11/25/most-cherez-tom/",
        "   2026-11-25 14:05 +07",
        "   Summary: Подрядчик завершил испытания нового моста, сообщили в мэрии.",
    ]
    assert not (tmp_path / "test.db").exists()


def test_feeds_test_says_why_a_page_gives_nothing(feed_server, config_file):
    url = feed_server.serve_file("/news/", PAGES / "news_list.html", content_type="text/html")
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config_file), "feeds", "test", url, "--item", ".card", "--title", "a", "--link", "a"])
    assert result.exit_code == 1
    assert "selectors_failed: the item selector '.card' matches nothing on the page" in result.output
    result = runner.invoke(cli, ["--config", str(config_file), "feeds", "test", url, "--html", "--item", ".card"])
    assert result.exit_code == 2 and "needs --item, --title and --link" in result.output
    result = runner.invoke(cli, ["--config", str(config_file), "feeds", "test", url, "--item", "div[", "--title", "a", "--link", "a"])
    assert result.exit_code == 2 and "--item: not a valid CSS selector 'div['" in result.output


@pytest.fixture
def client_for():
    from aggregator import create_app

    def make(service):
        app = create_app(service=service)
        app.config["TESTING"] = True
        return app.test_client()

    return make
