"""An empty digest or topic page says why: sources failing (how many, the commonest error, a
link to the feed-health page), sources not polled yet (and when they will be), or simply no
news. Also: the summary behind it, and that a cached empty page changes with feed health."""

from datetime import UTC, datetime, timedelta

import lxml.html
import pytest
from flask import render_template_string

from aggregator import create_app
from aggregator.settings import settings_from_dict
from aggregator.storage.feeds import FeedView
from aggregator.web.source_health import SourceHealth, summarise_sources
from conftest import NOW, config_dict

OLD_NEWS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Тихая лента</title><link>https://quiet.example/</link><description>-</description>
<item><title>Заметки краеведа о старых улицах</title><link>https://quiet.example/1</link>
<pubDate>Mon, 23 Nov 2026 12:00:00 +0700</pubDate><description>Прогулка по старым улицам.</description></item>
</channel></rss>"""
FAILING_TEXT = "Сейчас не работают 2 из 2 источников. У всех одна причина: лента не найдена (HTTP 404)."
WAITING_TEXT = "Ещё не проверялись 2 из 2 источников. Первая проверка — в ближайшие минуты, после неё появятся новости."


@pytest.fixture
def make_site(tmp_path, make_service):
    def make(feeds: dict[str, str]):
        service = make_service(settings_from_dict(config_dict(tmp_path, feeds)))
        return service, create_app(service=service).test_client()

    return make


@pytest.fixture
def missing(feed_server) -> dict[str, str]:
    """Two sources whose feeds answer 404."""
    return {"Первый": feed_server.base + "/gone-1.xml", "Второй": feed_server.base + "/gone-2.xml"}


def text_of(client, path: str) -> str:
    """What a reader reads in the page's main column, with its links as `text [href]`."""
    response = client.get(path)
    assert response.status_code == 200, path
    primary = lxml.html.fromstring(response.data.decode()).xpath('//div[@class="primary"]')[0]
    for link in primary.iter("a"):
        link.tail = f" [{link.get('href')}]" + (link.tail or "")
    return " ".join(primary.text_content().split())


def feed(
    status: str = "ok", enabled: bool = True, next_check: datetime | None = None, name: str = "Лента", errors: int | None = None
) -> FeedView:
    return FeedView(
        id=1,
        url="http://feeds.test/rss",
        name=name,
        title=None,
        site_url=None,
        enabled=enabled,
        from_config=True,
        topic_hint=None,
        status=status,
        last_error=None,
        consecutive_errors=(0 if status in ("ok", "new") else 1) if errors is None else errors,
        last_fetched=None if status == "new" else NOW,
        last_success=None,
        next_check=next_check,
    )


# --- The summary -------------------------------------------------------------------------


def test_failing_sources_are_counted_with_their_commonest_error():
    feeds = [feed("dns_error"), feed("timeout"), feed("dns_error"), feed("ok"), feed("http_404", enabled=False)]
    assert summarise_sources(feeds, NOW) == SourceHealth(
        enabled=4, failing=3, commonest_error="dns_error", commonest_count=2, waiting=0, first_poll=None
    )


def test_a_tie_between_errors_is_settled_the_same_way_every_time():
    one, other = feed("timeout"), feed("dns_error")
    assert summarise_sources([one, other], NOW).commonest_error == summarise_sources([other, one], NOW).commonest_error == "dns_error"


@pytest.mark.parametrize(
    ("due", "first_poll"),
    [
        ([NOW + timedelta(minutes=30), NOW + timedelta(minutes=5)], NOW + timedelta(minutes=5)),
        ([NOW + timedelta(minutes=30), None], None),  # one is due at the next tick
        ([NOW + timedelta(minutes=30), NOW - timedelta(minutes=1)], None),  # overdue: also the next tick
    ],
)
def test_waiting_sources_are_due_at_the_earliest_next_check(due, first_poll):
    health = summarise_sources([feed("new", next_check=moment) for moment in due] + [feed("ok")], NOW)
    assert (health.waiting, health.failing, health.first_poll, health.quiet) == (2, 0, first_poll, False)


@pytest.mark.parametrize(
    ("feeds", "quiet"),
    [([feed("ok"), feed("disabled", enabled=False)], True), ([], False), ([feed("gone", enabled=False)], False)],
)
def test_quiet_means_sources_exist_and_all_work(feeds, quiet):
    assert summarise_sources(feeds, NOW).quiet is quiet


def test_a_feed_read_despite_a_problem_still_works_and_a_bug_of_ours_counts_as_failing():
    health = summarise_sources([feed("malformed_xml", errors=0), feed("internal_error", errors=0)], NOW)
    assert (health.failing, health.commonest_error) == (1, "internal_error")


# --- What a reader sees ------------------------------------------------------------------


def test_before_the_first_poll_the_digest_says_the_sources_are_not_checked_yet(make_site, missing):
    _, client = make_site(missing)
    page = text_of(client, "/")
    assert "За этот день новостей пока нет." in page and WAITING_TEXT in page
    assert "не работа" not in page


def test_when_every_source_fails_the_digest_and_topics_say_so_and_link_to_the_feed_health_page(make_site, missing):
    service, client = make_site(missing)
    service.poll(include_all=True)
    for path in ("/", "/digest/2026-11-20", "/topics/transport"):
        page = text_of(client, path)
        assert FAILING_TEXT in page, path
        assert "Подробности — в разделе Источники [/feeds]." in page, path
        assert "не проверял" not in page and "Источники работают" not in page, path


def test_when_sources_work_but_nothing_happened_the_digest_is_calm(make_site, feed_server):
    service, client = make_site({"Тихая лента": feed_server.serve("/quiet.xml", OLD_NEWS)})
    service.poll(include_all=True)
    today = text_of(client, "/")
    assert "За этот день новостей пока нет. Источники работают — новостей просто ещё не было." in today
    assert "не работа" not in today and "не проверял" not in today and "[/feeds]" not in today
    assert "Источники работают — в этот день просто не было новостей." in text_of(client, "/digest/2026-11-24")
    assert "Заметки краеведа" in text_of(client, "/digest/2026-11-23")  # the day that had news shows it
    topic = text_of(client, "/topics/transport")
    assert "В этой теме пока нет сюжетов. Источники работают — на эту тему просто пока ничего не писали." in topic


def test_some_failing_and_some_waiting_are_both_said(make_site, missing, feed_server):
    service, client = make_site({**missing, "Тихая лента": feed_server.serve("/quiet.xml", OLD_NEWS)})
    service.poll(include_all=True)
    service.storage.feeds.add(feed_server.base + "/later.xml", "Новенькая", NOW)
    page = text_of(client, "/")
    assert "Сейчас не работают 2 из 4 источников. У всех одна причина: лента не найдена (HTTP 404)." in page
    assert "Ещё не проверялся 1 из 4 источников. Первая проверка — в ближайшие минуты" in page
    assert "Источники работают" not in page


def test_a_page_with_stories_reads_no_feed_health(make_site, feed_server, monkeypatch):
    service, client = make_site({"Тихая лента": feed_server.serve("/quiet.xml", OLD_NEWS)})
    service.poll(include_all=True)
    monkeypatch.setattr(service.storage.feeds, "list", lambda *args: pytest.fail("read feed health for a page with stories"))
    assert "Заметки краеведа" in text_of(client, "/digest/2026-11-23")


def test_no_sources_at_all_says_how_to_add_them(make_site):
    _, client = make_site({})
    assert "Источников пока нет: добавьте ленты в файл настроек" in text_of(client, "/")


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        (SourceHealth(1, 1, "timeout", 1, 0, None), "Сейчас не работает 1 из 1 источника. Причина: сайт не ответил вовремя."),
        (
            SourceHealth(21, 5, "dns_error", 3, 0, None),
            "Сейчас не работают 5 из 21 источника. Самая частая причина (у 3 из 5): адрес сайта не найден.",
        ),
        (
            SourceHealth(3, 0, None, 0, 1, datetime(2026, 11, 25, 10, 30, tzinfo=UTC)),
            "Ещё не проверялся 1 из 3 источников. Первая проверка — 25 ноября в 17:30,",
        ),
        (SourceHealth(2, 1, "http_503", 1, 0, None), "Сейчас не работает 1 из 2 источников. Причина: ошибка на сайте издателя (HTTP 503)."),
    ],
)
def test_the_explanation_agrees_with_its_numbers_and_uses_the_service_time_zone(app, health, expected):
    with app.test_request_context("/"):
        html = render_template_string('{% from "_why_empty.html" import why_empty %}{{ why_empty(health, "") }}', health=health)
    assert expected in " ".join(html.split())


# --- The page cache ----------------------------------------------------------------------


def test_a_cached_empty_digest_changes_when_its_sources_start_failing(make_site, feed_server, clock):
    service, client = make_site({"Тихая лента": feed_server.serve("/quiet.xml", OLD_NEWS)})
    service.poll(include_all=True)
    assert "Источники работают" in text_of(client, "/")
    rendered = client.application.extensions["page_cache"].renders
    assert "Источники работают" in text_of(client, "/")
    assert client.application.extensions["page_cache"].renders == rendered  # answered from the cache
    del feed_server.routes["/quiet.xml"]
    clock[0] = NOW + timedelta(hours=1)  # the next poll, an hour on: the same day in Tomsk
    service.poll(include_all=True)
    page = text_of(client, "/")
    assert "Сейчас не работает 1 из 1 источника. Причина: лента не найдена (HTTP 404)." in page
    assert "Источники работают" not in page


def test_a_cached_waiting_digest_changes_after_the_first_poll(make_site, missing):
    service, client = make_site(missing)
    assert WAITING_TEXT in text_of(client, "/")
    service.poll(include_all=True)  # at the same instant: the feeds' first fetch still moves the data version
    assert FAILING_TEXT in text_of(client, "/")
