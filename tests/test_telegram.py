"""Public Telegram channels: a channel's web preview (t.me/s/<channel>) read into items, compared
with the expected results of a page written for this project, and a changed markup reported
as `selectors_failed` instead of garbage items."""

import json
from datetime import UTC, datetime

import pytest

from aggregator.entities import Fetched
from aggregator.errors import ParseError
from aggregator.pipeline.normalise import normalise_feed
from aggregator.pipeline.telegram import read_channel, title_of
from conftest import DATA

CHANNELS = DATA / "telegram"
EXPECTED = json.loads((CHANNELS / "channel.expected.json").read_text(encoding="utf-8"))
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def fetched(name: str = "channel.html", body: bytes | None = None) -> Fetched:
    return Fetched("https://t.me/s/gorod_t_news", 200, (CHANNELS / name).read_bytes() if body is None else body, content_type="text/html")


@pytest.fixture
def channel():
    return read_channel(fetched())


def test_every_post_with_text_or_a_picture_is_one_item_newest_first(channel):
    got = [
        {
            "guid": entry.guid,
            "link": entry.link,
            "title": entry.title,
            "published": entry.published.isoformat(),
            "image": entry.image_url,
            "author": entry.author,
            "summary_html": entry.summary_html,
        }
        for entry in channel.entries
    ]
    assert got == EXPECTED["items"]


def test_the_channel_title_link_and_avatar_come_from_the_page_header(channel):
    assert (channel.title, channel.link, channel.image_url) == (EXPECTED["title"], EXPECTED["link"], EXPECTED["avatar"])
    assert channel.notes == ()


@pytest.mark.parametrize(
    ("post", "why"),
    [
        ("gorod_t_news/1201", "a service message (a pinned post)"),
        ("gorod_t_news/1208", "a deleted post"),
        ("gorod_t_news/1210", "a sticker the preview does not show, without text"),
        ("gorod_t_news/1205", "the second photo of an album"),
    ],
)
def test_posts_that_are_not_news_are_skipped(channel, post, why):
    assert post not in {entry.guid for entry in channel.entries}, why


def test_an_album_is_one_item_with_its_first_photo(channel):
    album = next(entry for entry in channel.entries if entry.guid == "gorod_t_news/1204")
    assert album.image_url == "https://cdn.telesco.example/file/album-1204-a.jpg"


def test_a_reply_does_not_take_the_quoted_posts_text(channel):
    reply = next(entry for entry in channel.entries if entry.guid == "gorod_t_news/1212")
    assert "ночную уборку" not in reply.summary_html


def test_the_text_is_sanitised_with_its_links_and_emoji_kept(channel):
    items = {item.guid: item for item in normalise_feed(channel, NOW)}
    text_only = items["gorod_t_news/1202"]
    assert text_only.title.startswith("❄️ Коммунальщики")
    assert (
        '<a href="https://gorod-t.example/news/4512?utm_source=telegram" rel="noopener noreferrer nofollow">на сайте</a>'
        in text_only.content_html
    )
    assert "onclick" not in text_only.content_html
    assert items["gorod_t_news/1207"].author == "МЧС Томской области"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Короткая новость без точки", "Короткая новость без точки"),
        ("Первая строка заголовка\nВторая строка текста.", "Первая строка заголовка"),
        ("Мост закрыли на ремонт. Объезд по Кузовлевскому тракту.", "Мост закрыли на ремонт"),
        ("На ул. Ленина открыли сквер. Подробности позже.", "На ул. Ленина открыли сквер"),
        ("Пожар потушен!", "Пожар потушен!"),
        ("слово " * 40, ("слово " * 20).strip() + "…"),
    ],
)
def test_a_title_is_the_first_sentence_or_line_cut_at_a_word(text, title):
    assert title_of(text) == title


def test_a_page_whose_markup_changed_is_selectors_failed_not_garbage():
    with pytest.raises(ParseError) as raised:
        read_channel(fetched("changed_markup.html"))
    assert raised.value.kind == "selectors_failed"
    assert "tgme_widget_message" in str(raised.value)


def test_message_blocks_without_a_post_id_or_date_are_selectors_failed():
    body = (CHANNELS / "channel.html").read_bytes().replace(b"<time datetime=", b"<time data-was=").replace(b'data-post="', b'data-x="')
    body = body.replace(b'class="tgme_widget_message ', b'data-post="?" class="tgme_widget_message ')
    with pytest.raises(ParseError) as raised:
        read_channel(fetched(body=body))
    assert raised.value.kind == "selectors_failed"
    assert "data-post" in str(raised.value)


def test_an_empty_channel_has_no_items_and_no_error():
    body = b'<html><body><section class="tgme_channel_history js-message_history"></section></body></html>'
    assert read_channel(fetched(body=body)).entries == ()


def test_only_the_newest_posts_are_kept_past_the_limit():
    assert [entry.guid for entry in read_channel(fetched(), max_items=2).entries] == ["gorod_t_news/1213", "gorod_t_news/1212"]
