"""Public Telegram channels: a channel's web preview (t.me/s/<channel>) read into items, compared
with the expected results of a page written for this project, and a changed markup reported
as `selectors_failed` instead of garbage items."""

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner

from aggregator import create_app
from aggregator.cli import cli
from aggregator.entities import FeedForUpdate, Fetched
from aggregator.errors import ConfigError, ParseError
from aggregator.pipeline.normalise import normalise_feed
from aggregator.pipeline.retrieve import MAX_CHANNEL_PAGES, Retrieved, retrieve
from aggregator.pipeline.telegram import before_post, read_channel, title_of
from aggregator.settings import settings_from_dict
from conftest import DATA, config_dict

CHANNELS = DATA / "telegram"
EXPECTED = json.loads((CHANNELS / "channel.expected.json").read_text(encoding="utf-8"))
MEDIA_EXPECTED = json.loads((CHANNELS / "media.expected.json").read_text(encoding="utf-8"))  # videos, a poll, files, voice
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
NOTHING_BEFORE = '<section class="tgme_channel_history js-message_history"></section>'  # the page before a channel's first post


def fetched(name: str = "channel.html", body: bytes | None = None) -> Fetched:
    return Fetched("https://t.me/s/gorod_t_news", 200, (CHANNELS / name).read_bytes() if body is None else body, content_type="text/html")


@pytest.fixture
def channel():
    return read_channel(fetched())


@pytest.fixture
def media():
    return read_channel(fetched("media.html"))


@pytest.mark.parametrize(("page", "expected"), [("channel.html", EXPECTED), ("media.html", MEDIA_EXPECTED)])
def test_every_post_with_text_or_a_picture_is_one_item_newest_first(page, expected):
    channel = read_channel(fetched(page))
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
    assert got == expected["items"]


@pytest.mark.parametrize(("page", "expected"), [("channel.html", EXPECTED), ("media.html", MEDIA_EXPECTED)])
def test_the_channel_title_link_and_avatar_come_from_the_page_header(page, expected):
    channel = read_channel(fetched(page))
    assert (channel.title, channel.link, channel.image_url) == (expected["title"], expected["link"], expected["avatar"])
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


@pytest.mark.parametrize(
    ("post", "why"),
    [
        ("tomsk_admin/5103", "a poll"),
        ("tomsk_admin/5105", "a file without a caption"),
        ("tomsk_admin/5106", "a voice message without text"),
    ],
)
def test_media_without_text_or_a_picture_is_skipped(media, post, why):
    assert post not in {entry.guid for entry in media.entries}, why


def test_a_video_gives_its_cover_and_keeps_its_text(media):
    video = next(entry for entry in media.entries if entry.guid == "tomsk_admin/5101")
    assert video.image_url == "https://cdn.telesco.example/file/video-5101-cover.jpg"
    assert video.summary_html.startswith("Мэр провёл оперативное совещание") and "<video" not in video.summary_html
    assert video.published == datetime(2026, 11, 25, 2, 30, tzinfo=UTC)  # the post's date, not the player's length


def test_a_file_or_voice_message_with_text_is_read_for_its_text_alone(media):
    by_guid = {entry.guid: entry for entry in media.entries}
    document, voice = by_guid["tomsk_admin/5104"], by_guid["tomsk_admin/5107"]
    assert document.title.startswith("Подписано постановление") and voice.title.startswith("Глава Кировского района")
    assert (document.image_url, voice.image_url) == (None, None)
    assert "postanovlenie-1873" not in document.summary_html and "412.6 KB" not in document.summary_html
    assert ".ogg" not in voice.summary_html and "2:15" not in voice.summary_html


def test_a_polls_question_and_answers_reach_no_item(media):
    text = " ".join(f"{entry.title} {entry.summary_html}" for entry in media.entries)
    assert "ёлку" not in text and "Лагерного сада" not in text


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


# In config.toml.


def channel_settings(tmp_path, **source):
    raw = config_dict(tmp_path, {})
    raw["feeds"] = [{"name": "Город-Т в Telegram", "kind": "telegram", **source}]
    return settings_from_dict(raw)


@pytest.mark.parametrize(
    "source",
    [
        {"channel": "gorod_t_news"},
        {"channel": "@gorod_t_news"},
        {"channel": "t.me/gorod_t_news"},
        {"channel": "https://t.me/s/gorod_t_news"},
        {"url": "https://t.me/gorod_t_news"},
        {"url": "https://t.me/s/gorod_t_news/"},
    ],
)
def test_a_channel_is_given_by_name_or_address_and_read_from_its_web_preview(tmp_path, source):
    (feed,) = channel_settings(tmp_path, **source).feeds
    assert (feed.kind, feed.channel, feed.url) == ("telegram", "gorod_t_news", "https://t.me/s/gorod_t_news")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({}, '[[feeds]] #1: kind = "telegram" needs channel = "<name>"'),
        ({"channel": "город т"}, "[[feeds]] #1: channel: 'город т' is not a public channel's name"),
        ({"channel": "https://t.me/+AbCdEf123"}, "channel: 'https://t.me/+AbCdEf123' is not a public channel's name"),
        ({"kind": "feed", "url": "https://gorod-t.example/rss", "channel": "gorod_t_news"}, "[[feeds]] #1 channel: only a Telegram source"),
        ({"channel": "gorod_t_news", "selectors": {"item": "li", "title": "a", "link": "a"}}, "only a news-list page has selectors"),
    ],
)
def test_a_bad_channel_names_the_key(tmp_path, source, message):
    with pytest.raises(ConfigError) as raised:
        channel_settings(tmp_path, **source)
    assert message in str(raised.value)


# Through the pipeline.


def client_of(service):
    app = create_app(service=service)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture
def channel_service(tmp_path, feed_server, make_service):
    url = feed_server.serve_file("/s/gorod_t_news", CHANNELS / "channel.html", content_type="text/html; charset=utf-8")
    feed_server.serve("/s/gorod_t_news?before=1201", NOTHING_BEFORE, content_type="text/html")
    return make_service(channel_settings(tmp_path, channel="gorod_t_news", url=url))


def test_a_polled_channel_gives_its_posts_as_items(channel_service):
    (outcome,) = channel_service.poll(include_all=True).feeds
    assert outcome.ok and outcome.new == len(EXPECTED["items"])
    client = client_of(channel_service)
    items = {item["url"]: item for item in client.get("/api/items").json["items"]}
    assert sorted(items) == sorted(expected["link"] for expected in EXPECTED["items"])
    for expected in EXPECTED["items"]:
        got = items[expected["link"]]
        assert (got["title"], got["image"]) == (expected["title"], expected["image"])
        assert got["published"] == expected["published"]
        assert got["feed"]["title"] == "Город-Т в Telegram"
    advert, storm = items["https://t.me/gorod_t_news/1213"], items["https://t.me/gorod_t_news/1207"]
    assert advert["sponsored"] and advert["story_id"] is None  # «Реклама … erid» is advertising here too
    assert not storm["sponsored"] and storm["topic"] == "incidents" and storm["story_id"] is not None
    assert items["https://t.me/gorod_t_news/1209"]["topic"] == "city"
    (feed,) = client.get("/api/feeds").json["feeds"]
    assert (feed["status"], feed["title"], feed["image"]) == ("ok", "Город-Т | Новости Томска", EXPECTED["avatar"])


def test_the_channels_avatar_is_shown_beside_its_name_on_the_feeds_page(channel_service):
    channel_service.poll(include_all=True)
    html = client_of(channel_service).get("/feeds").get_data(as_text=True)
    (tag,) = re.findall(r'<img class="source-picture"[^>]*>', html)
    assert f'src="{EXPECTED["avatar"]}"' in tag and 'loading="lazy"' in tag and 'referrerpolicy="no-referrer"' in tag


def test_a_channel_page_whose_markup_changed_is_reported_on_feed_health(channel_service, feed_server):
    channel_service.poll(include_all=True)
    feed_server.serve_file("/s/gorod_t_news", CHANNELS / "changed_markup.html", content_type="text/html")
    (outcome,) = channel_service.poll(include_all=True).feeds
    assert outcome.status == "selectors_failed" and outcome.new == 0
    (feed,) = client_of(channel_service).get("/api/feeds").json["feeds"]
    assert feed["status"] == "selectors_failed" and "tgme_widget_message" in feed["last_error"]


def test_a_channel_added_while_running_is_read_as_a_channel(tmp_path, feed_server, make_service, clock):
    url = feed_server.serve_file("/s/gorod_t_news", CHANNELS / "channel.html", content_type="text/html")
    feed_server.serve("/s/gorod_t_news?before=1201", NOTHING_BEFORE, content_type="text/html")
    raw = config_dict(tmp_path, {})
    raw["feeds"] = []
    service = make_service(settings_from_dict(raw))
    service.storage.feeds.add(url, "@gorod_t_news", clock[0], kind="telegram")
    (outcome,) = service.poll(include_all=True).feeds
    assert outcome.ok and outcome.new == len(EXPECTED["items"])


# On the command line.


def test_feeds_add_recognises_a_channel_address(config_file):
    runner = CliRunner()
    added = runner.invoke(cli, ["--config", str(config_file), "feeds", "add", "https://t.me/gorod_t_news"])
    assert added.exit_code == 0, added.output
    assert "Added Telegram channel" in added.output and "@gorod_t_news <https://t.me/s/gorod_t_news>" in added.output
    listed = runner.invoke(cli, ["--config", str(config_file), "feeds", "list"])
    assert "https://t.me/s/gorod_t_news" in listed.output


def test_feeds_test_prints_what_a_channel_gives(config_file, feed_server):
    url = feed_server.serve_file("/s/gorod_t_news", CHANNELS / "channel.html", content_type="text/html")
    feed_server.serve("/s/gorod_t_news?before=1201", NOTHING_BEFORE, content_type="text/html")
    result = CliRunner().invoke(cli, ["--config", str(config_file), "feeds", "test", url, "--telegram", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:4] == [
        f"Город-Т | Новости Томска <{url}>: a Telegram channel giving {len(EXPECTED['items'])} items",
        "",
        f"1. {EXPECTED['items'][0]['title']}",
        f"   {EXPECTED['items'][0]['link']}",
    ]


def test_feeds_test_says_when_a_channel_page_cannot_be_read(config_file, feed_server):
    url = feed_server.serve_file("/s/gorod_t_news", CHANNELS / "changed_markup.html", content_type="text/html")
    result = CliRunner().invoke(cli, ["--config", str(config_file), "feeds", "test", url, "--telegram"])
    assert result.exit_code == 1 and "selectors_failed: no .tgme_widget_message blocks" in result.output
    result = CliRunner().invoke(cli, ["--config", str(config_file), "feeds", "test", url, "--telegram", "--html"])
    assert result.exit_code == 2 and "read without selectors" in result.output


# Paging back on the first read.


def test_the_first_poll_pages_back_and_later_polls_read_the_newest_page_only(channel_service, feed_server, clock):
    older = feed_server.serve_file("/s/gorod_t_news?before=1201", CHANNELS / "channel_before_1201.html", content_type="text/html")
    start = feed_server.serve("/s/gorod_t_news?before=1196", NOTHING_BEFORE, content_type="text/html")
    (outcome,) = channel_service.poll(include_all=True).feeds
    assert outcome.ok and outcome.new == len(EXPECTED["items"]) + 3
    urls = {item["url"] for item in client_of(channel_service).get("/api/items?limit=100").json["items"]}
    assert {"https://t.me/gorod_t_news/1196", "https://t.me/gorod_t_news/1198", "https://t.me/gorod_t_news/1200"} <= urls
    assert (
        len(feed_server.hits(older.removeprefix(feed_server.base))) == 1
        and len(feed_server.hits(start.removeprefix(feed_server.base))) == 1
    )
    clock[0] += timedelta(hours=1)
    channel_service.poll(include_all=True)
    assert len(feed_server.hits(older.removeprefix(feed_server.base))) == 1  # not read again


@pytest.mark.parametrize(
    ("page", "before"),
    [
        ("https://t.me/s/gorod_t_news", "https://t.me/s/gorod_t_news?before=1196"),
        ("https://mirror.example/s/gorod_t_news?embed=1&before=1201", "https://mirror.example/s/gorod_t_news?embed=1&before=1196"),
    ],
)
def test_the_page_before_a_post_is_asked_for_with_before(page, before):
    assert before_post(page, 1196) == before


def test_paging_back_stops_at_the_item_limit(tmp_path, feed_server, make_service):
    url = feed_server.serve_file("/s/gorod_t_news", CHANNELS / "channel.html", content_type="text/html")
    feed_server.serve_file("/s/gorod_t_news?before=1201", CHANNELS / "channel_before_1201.html", content_type="text/html")
    raw = config_dict(tmp_path, {}, polling={"max_items_per_feed": 9})
    raw["feeds"] = [{"name": "Город-Т в Telegram", "kind": "telegram", "channel": "gorod_t_news", "url": url}]
    (outcome,) = make_service(settings_from_dict(raw)).poll(include_all=True).feeds
    assert outcome.new == 9
    assert feed_server.hits("/s/gorod_t_news?before=1198") == []


def test_an_older_page_that_fails_keeps_the_newest_posts_with_a_note(channel_service, feed_server):
    feed_server.serve("/s/gorod_t_news?before=1201", "", status=404)
    (outcome,) = channel_service.poll(include_all=True).feeds
    assert outcome.ok and outcome.new == len(EXPECTED["items"])
    (feed,) = client_of(channel_service).get("/api/feeds").json["feeds"]
    assert feed["status"] == "older_posts_failed" and "posts before 1201 could not be read" in feed["last_error"]


def test_paging_back_goes_on_past_a_page_holding_only_skipped_posts(channel_service, feed_server):
    feed_server.serve_file("/s/gorod_t_news?before=1201", CHANNELS / "skipped_only_before_1201.html", content_type="text/html")
    feed_server.serve_file("/s/gorod_t_news?before=1197", CHANNELS / "channel_before_1197.html", content_type="text/html")
    feed_server.serve("/s/gorod_t_news?before=1194", NOTHING_BEFORE, content_type="text/html")
    (outcome,) = channel_service.poll(include_all=True).feeds
    assert outcome.ok and outcome.new == len(EXPECTED["items"]) + 2
    urls = {item["url"] for item in client_of(channel_service).get("/api/items?limit=100").json["items"]}
    assert {"https://t.me/gorod_t_news/1194", "https://t.me/gorod_t_news/1195"} <= urls
    assert not urls & {f"https://t.me/gorod_t_news/{number}" for number in range(1197, 1201)}  # service, deleted, voice, poll
    assert len(feed_server.hits("/s/gorod_t_news?before=1194")) == 1


def channel_reader(page: Callable[[int], bytes]):
    """A fetcher answering `?before=N` (and the newest page, N = 10000) with `page(N)`, and
    the addresses it was asked for."""
    asked: list[str] = []

    def fetcher(feed, policy, client):
        asked.append(feed.url)
        before = int(dict(parse_qsl(urlsplit(feed.url).query)).get("before", "10000"))
        return Fetched(feed.url, 200, page(before), content_type="text/html")

    return fetcher, asked


def a_pinning_before(before: int) -> bytes:
    """A page holding one service message, the post before `before`."""
    return f"""<section class="tgme_channel_history">
      <div class="tgme_widget_message service_message" data-post="gorod_t_news/{before - 1}">
        <div class="tgme_widget_message_service_text">Город-Т закрепляет сообщение</div>
        <a class="tgme_widget_message_date"><time datetime="2026-11-20T10:00:00+00:00"></time></a>
      </div></section>""".encode()


def read_first_time(fetcher) -> Retrieved:
    feed = FeedForUpdate(1, "https://t.me/s/gorod_t_news", "@gorod_t_news", kind="telegram")
    return retrieve(feed, None, None, NOW, 1000, fetcher)  # the fetcher needs no policy or client


def test_paging_back_stops_after_a_hundred_pages():
    fetcher, asked = channel_reader(a_pinning_before)
    got = read_first_time(fetcher)
    assert got.error is None and got.items == ()
    assert len(asked) == 1 + MAX_CHANNEL_PAGES and asked[-1].endswith(f"?before={10000 - MAX_CHANNEL_PAGES}")


def test_paging_back_stops_at_a_page_holding_no_older_post():
    fetcher, asked = channel_reader(lambda _: (CHANNELS / "channel.html").read_bytes())  # a mirror that ignores ?before
    got = read_first_time(fetcher)
    assert asked == ["https://t.me/s/gorod_t_news", "https://t.me/s/gorod_t_news?before=1201"]
    assert len(got.items) == len(EXPECTED["items"]) and got.notes == ()
