"""An empty digest in a real browser says why, as a newcomer running the service for the first
time would see it: every source failing (here: feeds answering 404), sources waiting for
their first poll, or sources that work on a day without news. Same browser and live-server
set-up as `test_reader_pages`; screenshots go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from browsing import LiveSite, launched_chromium, serving, tab

from aggregator.service import Service
from aggregator.settings import settings_from_dict
from conftest import NOW, FeedServer, config_dict

pytestmark = pytest.mark.browser

OLD_NEWS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Тихая лента</title><link>https://quiet.example/</link><description>-</description>
<item><title>Заметки краеведа о старых улицах</title><link>https://quiet.example/1</link>
<pubDate>Mon, 23 Nov 2026 12:00:00 +0700</pubDate></item></channel></rss>"""


@contextmanager
def live_site(tmp_path: Path, classifier, feeds: dict[str, str], poll: bool) -> Iterator[LiveSite]:
    """The app serving `feeds` on 127.0.0.1, polled once at NOW if `poll`."""
    service = Service(settings_from_dict(config_dict(tmp_path, feeds)), clock=lambda: NOW, classifier=classifier).prepare()
    if poll:
        service.poll(include_all=True)
    try:
        with serving(service) as live:
            yield live
    finally:
        service.storage.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launched_chromium() as launched:
        yield launched


@pytest.fixture
def publishers() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


def explanation(browser, site: LiveSite, path: str, shot: str) -> tuple[str, list[tuple[str, str | None]]]:
    """The empty page's explanation as a reader sees it, and its links (text, href)."""
    with tab(browser, site, 1280) as visit:
        visit.open(path)
        box = visit.page.locator(".primary")
        visit.shot(shot)
        links = [(link.inner_text(), link.get_attribute("href")) for link in box.locator(".why-empty a").all()]
        return " ".join(box.inner_text().split()), links


def test_when_every_source_fails_the_digest_says_how_many_why_and_where_to_look(browser, tmp_path, classifier, publishers):
    feeds = {"Первый": publishers.base + "/gone-1.xml", "Второй": publishers.base + "/gone-2.xml"}  # not served: 404
    with live_site(tmp_path, classifier, feeds, poll=True) as site:
        text, links = explanation(browser, site, "/", "desktop-empty-digest-failing")
        assert "За этот день новостей пока нет." in text
        assert "Сейчас не работают 2 из 2 источников. У всех одна причина: лента не найдена (HTTP 404)." in text
        assert "Подробности — в разделе Источники." in text
        assert links == [("Источники", "/feeds")]
        topic, _ = explanation(browser, site, "/topics/transport", "desktop-empty-topic-failing")
        assert "В этой теме пока нет сюжетов. Сейчас не работают 2 из 2 источников." in topic
        with tab(browser, site, 1280) as visit:  # the link leads to the page naming each broken feed
            visit.open("/")
            visit.page.locator(".why-empty").get_by_role("link", name="Источники").click()
            visit.page.wait_for_url("**/feeds")
            assert visit.page.locator("h1").inner_text() == "Источники"
            assert visit.page.get_by_text("Первый").count() >= 1


def test_before_the_first_poll_the_digest_says_the_sources_are_not_checked_yet(browser, tmp_path, classifier, publishers):
    feeds = {"Первый": publishers.serve("/one.xml", OLD_NEWS), "Второй": publishers.serve("/two.xml", OLD_NEWS)}
    with live_site(tmp_path, classifier, feeds, poll=False) as site:
        text, links = explanation(browser, site, "/", "desktop-empty-digest-waiting")
    assert "За этот день новостей пока нет." in text
    assert "Ещё не проверялись 2 из 2 источников. Первая проверка — в ближайшие минуты, после неё появятся новости." in text
    assert "не работа" not in text and links == []


def test_when_sources_work_but_the_day_had_no_news_the_digest_is_calm(browser, tmp_path, classifier, publishers):
    feeds = {"Тихая лента": publishers.serve("/quiet.xml", OLD_NEWS)}
    with live_site(tmp_path, classifier, feeds, poll=True) as site:
        text, links = explanation(browser, site, "/", "desktop-empty-digest-quiet")
        yesterday, _ = explanation(browser, site, "/digest/2026-11-24", "desktop-empty-digest-quiet-yesterday")
    assert text.endswith("За этот день новостей пока нет. Источники работают — новостей просто ещё не было.")
    assert yesterday.endswith("За этот день новостей нет. Источники работают — в этот день просто не было новостей.")
    assert "не работа" not in text and "не проверял" not in text and links == []
