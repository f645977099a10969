"""«Главное» and pictures in a real browser: today's digest opens with the top stories, and the
pictures on the digest and story pages load, with alt text, declared dimensions and lazy
loading. The sample feeds' pictures are served on 127.0.0.1 (as `make demo` does), so the
browser, which may reach nothing else, can load them. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browsing import ARTIFACTS, LiveSite, launched_chromium, serving

from aggregator.service import Service
from aggregator.settings import settings_from_dict
from conftest import NOW, FeedServer, config_dict
from sample_site import serve_sample_feeds

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pictured_site(tmp_path_factory: pytest.TempPathFactory, classifier) -> Iterator[tuple[LiveSite, str]]:
    """The app on the sample feeds polled at NOW, and the base URL of the feeds' own server."""
    feeds = FeedServer()
    outlets = serve_sample_feeds(feeds, NOW, local_images=True)
    service = Service(settings_from_dict(config_dict(tmp_path_factory.mktemp("top"), outlets)), clock=lambda: NOW, classifier=classifier)
    service.prepare().poll(include_all=True)
    try:
        with serving(service) as live:
            yield live, feeds.base
    finally:
        feeds.close()
        service.storage.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Closed at the end of this module: Playwright's sync API runs one instance at a time, and
    `test_reader_pages` (after this file by name, as `test_empty_states` is before it) keeps
    its own open for the rest of the session."""
    with launched_chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, pictured_site) -> Iterator[object]:
    site, pictures = pictured_site
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith((site.base, pictures)) else route.abort())
    opened = context.new_page()
    opened.goto(site.url("/"))
    yield opened
    context.close()


def loaded_pictures(page, selector: str) -> list[dict]:
    """Each picture under `selector` once the browser has loaded it, with what a reader's
    assistive technology and layout see of it."""
    images = page.locator(selector)
    for n in range(images.count()):
        images.nth(n).scroll_into_view_if_needed()
    page.wait_for_function("selector => [...document.querySelectorAll(selector)].every(img => img.complete)", arg=selector)
    return images.evaluate_all(
        """imgs => imgs.map(img => ({alt: img.alt, width: img.getAttribute('width'), height: img.getAttribute('height'),
                                    loading: img.loading, natural: img.naturalWidth, shown: img.getBoundingClientRect().width}))"""
    )


def test_the_digest_opens_with_the_top_stories(page, pictured_site) -> None:
    site, _ = pictured_site
    block = page.get_by_role("region", name="Главное")
    assert block.locator("h2").inner_text() == "Главное"
    first_topic = page.locator("section.topic").first
    assert block.bounding_box()["y"] < first_topic.bounding_box()["y"]
    entries = block.locator("li.top-story")
    assert entries.count() >= 2
    counts = [int(text.split()[0]) for text in entries.locator("p.meta").all_inner_texts()]
    assert counts == sorted(counts, reverse=True) and min(counts) >= 2
    assert block.get_by_role("link", name="подписаться на главное").get_attribute("href") == "/feeds/top.atom"
    title = entries.first.locator("a.top-title").inner_text()
    entries.first.locator("a.top-title").click()
    page.wait_for_url("**/stories/*")
    assert page.locator("h1").inner_text() == title
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(site.url("/"))
    page.screenshot(path=str(ARTIFACTS / "desktop-digest-top-stories.png"), full_page=True)


def test_pictures_load_with_alt_text_dimensions_and_lazy_loading(page) -> None:
    for selector in ("section.top-stories img", "article.story img.thumb"):
        pictures = loaded_pictures(page, selector)
        assert pictures, selector
        for picture in pictures:
            assert picture["alt"].startswith("Иллюстрация: "), picture
            assert picture["width"] and picture["height"] and picture["loading"] == "lazy", picture
            assert picture["natural"] > 0 and picture["shown"] > 0, picture  # loaded and drawn, not a broken box


def test_a_story_page_shows_the_storys_picture(page) -> None:
    page.locator("section.top-stories li.top-story", has=page.locator("img")).first.locator("a.top-title").click()
    page.wait_for_url("**/stories/*")
    (picture,) = loaded_pictures(page, "img.story-picture")
    assert picture["alt"] == "Иллюстрация: " + page.locator("h1").inner_text()
    assert (picture["width"], picture["height"], picture["loading"]) == ("960", "540", "lazy")
    assert picture["natural"] > 0
    page.screenshot(path=str(ARTIFACTS / "desktop-story-picture.png"), full_page=True)
