"""Lead images as a reader's timeline shows them: read from wherever a feed puts an item's
picture, never a tracking pixel or a non-web address, and one picture per story (its lead's,
else the first outlet's that has one) on the pages and in the curated feeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.entities import Fetched
from aggregator.pipeline.images import acceptable, first_image_in_html, image_type
from aggregator.pipeline.normalise import normalise_feed
from aggregator.pipeline.parse import parse_feed
from aggregator.storage.views import ItemView, StoryView
from aggregator.web.formatting import thumbnail

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
MEDIA = 'xmlns:media="http://search.yahoo.com/mrss/"'


def rss(*items: str) -> bytes:
    body = "".join(f"<item><title>Новость {n}</title><link>https://outlet.example/{n}</link>{item}</item>" for n, item in enumerate(items))
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" {MEDIA}><channel><title>Издание</title><link>https://outlet.example/</link>
<image><url>https://outlet.example/logo.png</url><title>Издание</title><link>https://outlet.example/</link></image>
{body}</channel></rss>""".encode()


def images_of(document: bytes) -> list[str | None]:
    feed = parse_feed(Fetched("https://outlet.example/rss", 200, document, content_type="application/rss+xml"))
    return [item.image_url for item in normalise_feed(feed, NOW)]


@pytest.mark.parametrize(
    ("markup", "image"),
    [
        ('<media:content url="https://outlet.example/a.jpg" medium="image" type="image/jpeg"/>', "https://outlet.example/a.jpg"),
        ('<media:thumbnail url="https://outlet.example/t.jpg" width="150" height="100"/>', "https://outlet.example/t.jpg"),
        (
            '<media:group><media:content url="https://outlet.example/g.jpg" type="image/jpeg"/></media:group>',
            "https://outlet.example/g.jpg",
        ),
        ('<enclosure url="https://outlet.example/e.png" type="image/png" length="0"/>', "https://outlet.example/e.png"),
        ("<image><url>https://outlet.example/i.jpg</url></image>", "https://outlet.example/i.jpg"),
        ("<image>https://outlet.example/plain.jpg</image>", "https://outlet.example/plain.jpg"),
        ('<description><![CDATA[<p>Текст <img src="/upload/c.jpg" alt="x"></p>]]></description>', "https://outlet.example/upload/c.jpg"),
    ],
    ids=["media-content", "media-thumbnail", "media-group", "enclosure", "item-image-url", "item-image-text", "first-img"],
)
def test_an_items_picture_is_read_wherever_the_feed_puts_it(markup, image):
    assert images_of(rss(markup)) == [image]


def test_the_channel_logo_is_not_an_items_picture():
    assert images_of(rss("<description>Без картинки</description>")) == [None]


@pytest.mark.parametrize(
    "markup",
    [
        '<media:content url="https://track.example/p.gif" width="1" height="1" medium="image"/>',
        '<description><![CDATA[<img src="https://track.example/p.gif" width="1" height="1">Текст]]></description>',
        '<description><![CDATA[<img src="https://track.example/p.gif" height="1px">Текст]]></description>',
        '<media:content url="https://outlet.example/clip.mp4" type="video/mp4"/>',
        '<media:content url="https://outlet.example/clip.mp4" medium="video"/>',
        '<enclosure url="https://outlet.example/a.mp3" type="audio/mpeg" length="10"/>',
        '<media:thumbnail url="javascript:alert(1)"/>',
        '<description><![CDATA[<img src="data:image/png;base64,iVBORw0KGgo=">Текст]]></description>',
        '<media:thumbnail url="ftp://outlet.example/a.jpg"/>',
    ],
    ids=["pixel-media", "pixel-img", "pixel-px", "video-type", "video-medium", "audio", "javascript", "data-uri", "ftp"],
)
def test_pixels_videos_and_non_web_addresses_are_not_pictures(markup):
    assert images_of(rss(markup)) == [None]


def test_a_pixel_before_the_real_picture_is_skipped():
    pixel_first = (
        '<media:content url="https://track.example/p.gif" width="1" height="1"/>'
        '<description><![CDATA[<img src="https://track.example/q.gif" width="1" height="1">'
        '<img src="https://outlet.example/real.jpg" width="640" height="360">]]></description>'
    )
    assert images_of(rss(pixel_first)) == ["https://outlet.example/real.jpg"]


def test_each_item_keeps_its_own_picture():
    found = images_of(rss("<image>https://outlet.example/1.jpg</image>", "", '<media:thumbnail url="https://outlet.example/3.jpg"/>'))
    assert found == ["https://outlet.example/1.jpg", None, "https://outlet.example/3.jpg"]


def test_the_helpers_say_what_a_picture_is():
    assert acceptable("/relative.jpg") and acceptable("https://a.example/x.jpg", "640", "360")
    assert not acceptable("https://a.example/x.gif", "1", None) and not acceptable("mailto:a@b.example") and not acceptable("  ")
    assert first_image_in_html('<p><img src="https://a.example/p.gif" width=1><img src=https://a.example/b.webp></p>') == (
        "https://a.example/b.webp"
    )
    assert first_image_in_html("<p>нет картинок</p>") is None
    assert image_type("https://a.example/x.png?w=100") == "image/png"
    assert image_type("https://a.example/photo") == "image/jpeg"


def item(n: int, outlet: str, image: str | None) -> ItemView:
    moment = NOW + timedelta(minutes=n)
    return ItemView(n, n, outlet, f"Сообщение {n}", f"https://{n}.example/", "", "", image, moment, moment, None, (), 1, ())


def story(*items: ItemView) -> StoryView:
    return StoryView(1, "Сюжет", None, items[0].published, items[-1].published, items)


def test_a_storys_picture_is_its_leads_else_the_first_outlets_that_has_one():
    assert (
        story(item(1, "А", "https://a.example/lead.jpg"), item(2, "Б", "https://b.example/b.jpg")).image_url == "https://a.example/lead.jpg"
    )
    assert story(item(1, "А", None), item(2, "Б", "javascript:x"), item(3, "В", "https://c.example/c.jpg")).image_url == (
        "https://c.example/c.jpg"
    )
    assert story(item(1, "А", None)).image_url is None


def test_pages_and_feeds_use_the_same_picture():
    told = story(item(1, "А", None), item(2, "Б", "https://b.example/b.jpg"))
    assert thumbnail(told) == told.image_url == "https://b.example/b.jpg"
