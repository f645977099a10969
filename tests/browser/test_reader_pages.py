"""The reader pages in a real browser: Debian's chromium driven by Playwright, against the app
served on 127.0.0.1 with the bundled demo feeds (and one hostile feed) polled.

Nothing here needs the network: the browser may only reach the app; publishers' thumbnails
are refused. Every page is saved as a screenshot under test-artifacts/ for a person to look at.
`make test` installs chromium; without it (or without playwright) these tests skip, saying why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from browsing import LiveSite, Visit, launched_chromium, serving, tab

from aggregator.service import Service
from aggregator.settings import settings_from_dict
from conftest import NOW, FeedServer, config_dict
from demo.render import FEEDS_DIR, render_feed, render_text

pytestmark = pytest.mark.browser

HOSTILE_FEED = Path(__file__).parent / "hostile.rss"
EXPECTED = json.loads((FEEDS_DIR / "expected.json").read_text(encoding="utf-8"))
MIME = {"rss2": "application/rss+xml", "atom": "application/atom+xml", "rss1": "application/rdf+xml"}
TODAY, YESTERDAY = "2026-11-25", "2026-11-24"  # NOW is 17:00 on 25 November in Tomsk


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, classifier) -> Iterator[LiveSite]:
    feeds = FeedServer()
    outlets = {
        spec["outlet"]: feeds.serve("/" + spec["file"], render_feed(FEEDS_DIR / spec["file"], NOW), content_type=MIME[spec["format"]])
        for spec in EXPECTED["feeds"]
    }
    outlets["Проверочная лента"] = feeds.serve("/hostile.rss", render_text(HOSTILE_FEED.read_text(encoding="utf-8"), NOW))
    outlets["Сломанная лента"] = feeds.serve("/broken.rss", "Internal error", status=500, content_type="text/plain")
    settings = settings_from_dict(config_dict(tmp_path_factory.mktemp("site"), outlets))
    service = Service(settings, clock=lambda: NOW, classifier=classifier).prepare()
    service.poll(include_all=True)
    try:
        with serving(service) as live:
            live.story_ids = _story_ids(service)
            yield live
    finally:
        feeds.close()
        service.storage.close()


def _story_ids(service: Service) -> dict[str, int]:
    by_url = {item.url: item.story_id for item in service.storage.reads.items_page(1000).rows}
    return {
        item["story"]: by_url[item["canonical_url"]]
        for spec in EXPECTED["feeds"]
        for item in spec["items"]
        if item["story"] and by_url.get(item["canonical_url"])
    }


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    with launched_chromium() as launched:
        yield launched


@pytest.fixture
def desktop(browser, site: LiveSite) -> Iterator[Visit]:
    with tab(browser, site, 1280) as visit:
        yield visit


@pytest.fixture
def unguarded(browser, site: LiveSite) -> Iterator[Visit]:
    """A tab that ignores our Content-Security-Policy, so escaping alone must keep scripts out."""
    with tab(browser, site, 1280, bypass_csp=True) as visit:
        yield visit


def every_page(site: LiveSite) -> dict[str, str]:
    """One of each kind of page, by screenshot name."""
    pages = {"digest-today": "/", "digest-yesterday": f"/digest/{YESTERDAY}"}
    pages |= {f"topic-{slug}": f"/topics/{slug}" for slug in site.service.topic_titles}
    pages |= {
        "story-liver-transplant": f"/stories/{site.story_ids['liver-transplant']}",
        "story-fire-irkutsky": f"/stories/{site.story_ids['fire-irkutsky']}",
        "search-trolleybus": "/search?q=троллейбус",
        "search-nothing": "/search?q=марсоход",
        "search-empty": "/search",
        "feed-health": "/feeds",
        "not-found": "/stories/999999",
    }
    return pages


def section(visit: Visit, slug: str):  # a Playwright locator
    return visit.page.locator(f'section[aria-labelledby="topic-{slug}"]')


def test_the_digest_shows_each_story_once_under_its_topic(desktop: Visit) -> None:
    desktop.open("/")
    page = desktop.page
    assert page.locator("h1").inner_text() == "Главное сегодня, 25 ноября 2026"
    order = [slug for slug in desktop.site.service.topic_titles if section(desktop, slug).count()]
    assert page.locator("section.topic h2").all_inner_texts()[: len(order)] == [desktop.site.service.topic_titles[s] for s in order]
    expected = {"health": "печени", "incidents": "Иркутском тракте", "transport": "троллейбус", "city": "Лагерного сада"}
    for slug, words in expected.items():
        assert section(desktop, slug).locator("h3", has_text=words).count() == 1, slug
        assert page.locator("h3", has_text=words).count() == 1, f"{words} is shown more than once"
    liver = section(desktop, "health").locator("article.story", has=page.locator("h3", has_text="печени"))
    assert "ещё 3 источника" in liver.inner_text()
    assert page.get_by_text("Южный берег").count() == 0  # advertising stays out
    desktop.shot("desktop-digest-today")


def test_day_navigation_works_by_clicking(desktop: Visit) -> None:
    desktop.open("/")
    page = desktop.page
    page.locator('nav.days a[rel="prev"]').click()
    page.wait_for_url(f"**/digest/{YESTERDAY}")
    assert page.locator("h1").inner_text() == "Главное за 24 ноября 2026"
    assert section(desktop, "politics").locator("h3", has_text="Губернатор в Каргаске").count() == 1
    assert page.locator("h3", has_text="печени").count() == 0
    page.locator('nav.days a[rel="next"]').click()
    page.wait_for_url(desktop.site.url("/"))
    assert page.locator("h1").inner_text().startswith("Главное сегодня")
    page.locator("table.calendar").get_by_role("link", name="24 ноября").click()
    page.wait_for_url(f"**/digest/{YESTERDAY}")
    assert page.locator('table.calendar [aria-current="date"]').get_attribute("href") == f"/digest/{YESTERDAY}"


def test_search_finds_inflected_forms_from_the_header_box(desktop: Visit) -> None:
    desktop.open("/")
    page = desktop.page
    page.get_by_role("searchbox", name="Поиск по новостям").fill("трамвай")
    page.get_by_role("searchbox", name="Поиск по новостям").press("Enter")
    page.wait_for_url("**/search?q=*")
    assert page.locator("ol.results mark").first.inner_text() == "Трамваи"
    page.get_by_role("searchbox", name="Слова для поиска").fill("троллейбус")
    page.get_by_role("button", name="Найти").last.click()
    marked = {text.lower() for text in page.locator("ol.results mark").all_inner_texts()}
    assert {"троллейбусы", "троллейбусов"} <= marked


@pytest.mark.parametrize("width", [375, 360])
def test_no_page_scrolls_sideways_on_a_phone(browser, site: LiveSite, width: int) -> None:
    with tab(browser, site, width) as visit:
        for name, path in every_page(site).items():
            visit.open(path)
            fits = visit.page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
            visit.shot(f"phone-{width}-{name}")
            assert fits, f"{path} scrolls sideways at {width} px"


def test_every_page_in_a_desktop_screenshot(desktop: Visit) -> None:
    for name, path in every_page(desktop.site).items():
        desktop.open(path)
        assert desktop.page.locator("h1").count() == 1, path
        desktop.shot(f"desktop-{name}")


def test_hostile_feed_text_and_links_never_run_script(unguarded: Visit) -> None:
    desktop = unguarded
    paths = list(every_page(desktop.site).values())
    hostile = desktop.site.service
    hostile_stories = {item.story_id for item in hostile.storage.reads.items_page(1000).rows if item.feed_name == "Проверочная лента"}
    paths += [f"/stories/{story_id}" for story_id in sorted(hostile_stories)]
    paths += ["/search?q=сарай", "/search?q=<script>window.__xss=1</script>", "/topics/incidents"]
    for path in paths:
        desktop.open(path)
        assert desktop.page.locator('a[href^="javascript:" i], a[href^="data:" i], img[src^="javascript:" i]').count() == 0, path
        assert not desktop.scripts_ran(), path
    desktop.open("/")
    assert desktop.page.get_by_text("<script>window.__xss=1;alert(1)</script>Сгорел сарай", exact=False).count() == 1
    desktop.page.get_by_role("link", name="Сгорел сарай", exact=False).click()  # leads to the story page, not to javascript:
    desktop.page.wait_for_url("**/stories/*")
    assert not desktop.scripts_ran()
    desktop.shot("desktop-hostile-story")


def test_pages_load_nothing_but_our_own_assets_and_run_no_script(desktop: Visit) -> None:
    for path in every_page(desktop.site).values():
        desktop.open(path)
    own = [(kind, url) for kind, url in desktop.requests if kind in ("stylesheet", "script", "font")]
    assert own and all(url.startswith(desktop.site.base) for _, url in own)
    assert not [url for kind, url in desktop.requests if kind == "script"]


def test_keyboard_users_see_where_they_are(desktop: Visit) -> None:
    desktop.open("/")
    page = desktop.page
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    assert skip.inner_text() == "К содержанию"
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
