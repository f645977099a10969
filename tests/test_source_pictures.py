"""A source's own picture (a feed's <image> or <logo>, a Telegram channel's avatar): read once
from the document, stored on the feed, shown beside its name on /feeds and given as `image` in
/api/feeds; only an http(s) address ever reaches a page."""

import re

import pytest

from aggregator import create_app
from aggregator.entities import Fetched
from aggregator.pipeline.parse import parse_feed
from aggregator.settings import settings_from_dict
from conftest import config_dict

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
  <title>Томский вестник</title><link>https://vestnik.example/</link>
  {image}
  <item><title>Мост закрыли на ремонт</title><link>https://vestnik.example/most</link>
    <pubDate>Wed, 25 Nov 2026 14:00:00 +0700</pubDate></item>
</channel></rss>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Город-Т</title><id>urn:gorod-t</id>
  <updated>2026-11-25T07:00:00Z</updated>{image}
</feed>"""


def rss_with(image_url: str) -> str:
    return RSS.format(image=f"<image><url>{image_url}</url><title>Томский вестник</title><link>https://vestnik.example/</link></image>")


@pytest.mark.parametrize(
    ("document", "picture"),
    [
        (rss_with("https://vestnik.example/logo.png"), "https://vestnik.example/logo.png"),
        (RSS.format(image=""), None),
        (
            ATOM.format(image="<icon>https://gorod-t.example/icon.png</icon><logo>https://gorod-t.example/logo.png</logo>"),
            "https://gorod-t.example/logo.png",
        ),
        (ATOM.format(image="<icon>https://gorod-t.example/icon.png</icon>"), "https://gorod-t.example/icon.png"),
    ],
)
def test_a_feed_gives_its_image_or_logo_else_its_icon(document, picture):
    fetched = Fetched("https://vestnik.example/rss", 200, document.encode(), content_type="application/xml")
    assert parse_feed(fetched).image_url == picture


def feed_page_pictures(client) -> list[str]:
    return re.findall(r'<img class="source-picture"[^>]*>', client.get("/feeds").get_data(as_text=True))


@pytest.fixture
def one_feed(tmp_path, feed_server, make_service):
    url = feed_server.serve("/vestnik.xml", rss_with("/img/logo.png"))
    service = make_service(settings_from_dict(config_dict(tmp_path, {"Томский вестник": url})))
    app = create_app(service=service)
    app.config["TESTING"] = True
    return service, app.test_client()


def test_a_feeds_picture_is_shown_beside_its_name_and_given_in_the_api(one_feed, feed_server):
    service, client = one_feed
    service.poll(include_all=True)
    picture = f"{feed_server.base}/img/logo.png"  # a relative address, read against the feed's
    assert [feed["image"] for feed in client.get("/api/feeds").json["feeds"]] == [picture]
    (tag,) = feed_page_pictures(client)
    for attribute in (f'src="{picture}"', 'alt=""', 'width="32"', 'height="32"', 'loading="lazy"', 'referrerpolicy="no-referrer"'):
        assert attribute in tag


def test_a_picture_that_is_not_http_is_never_stored_or_shown(one_feed, feed_server):
    service, client = one_feed
    feed_server.serve("/vestnik.xml", rss_with("javascript:alert(1)"))
    service.poll(include_all=True)
    assert [feed["image"] for feed in client.get("/api/feeds").json["feeds"]] == [None]
    assert feed_page_pictures(client) == []


def test_a_feed_keeps_its_picture_when_a_later_document_gives_none(one_feed, feed_server, clock):
    service, client = one_feed
    service.poll(include_all=True)
    feed_server.serve("/vestnik.xml", RSS.format(image="").replace("Мост закрыли", "Мост открыли"))
    (outcome,) = service.poll(include_all=True).feeds
    assert outcome.ok and outcome.updated + outcome.new == 1
    assert [feed["image"] for feed in client.get("/api/feeds").json["feeds"]] == [f"{feed_server.base}/img/logo.png"]


def test_a_feed_without_a_picture_shows_none(tmp_path, feed_server, make_service):
    url = feed_server.serve("/vestnik.xml", RSS.format(image=""))
    service = make_service(settings_from_dict(config_dict(tmp_path, {"Томский вестник": url})))
    service.poll(include_all=True)
    client = create_app(service=service).test_client()
    assert [feed["image"] for feed in client.get("/api/feeds").json["feeds"]] == [None]
    assert feed_page_pictures(client) == []
