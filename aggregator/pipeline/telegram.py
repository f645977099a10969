"""Telegram stage: a public channel's web preview (`https://t.me/s/<channel>`) in, a `FeedData`
of plain `EntryData` out.

Each post on the page is a `.tgme_widget_message` block whose `data-post` is
`<channel>/<id>`: it becomes one entry with guid `<channel>/<id>`, link
`https://t.me/<channel>/<id>`, the date of its `<time datetime>`, its text as the summary
(links and emoji kept, a quoted reply left out), a title from the text's first sentence or
line, and as its image the first photo (an album is one post: its first photo), else a
video's cover, else the picture of its link preview. A forwarded post keeps the original
source's name as its author; a signed post, its signature. Service messages (pinned, photo
changed, ...), deleted posts and posts with neither text nor a picture are skipped: a poll,
a voice message or a file (document) without text; a file or voice message with text is read
for its text alone, a poll's question and answers never. The channel's title and avatar come
from the page header.

A page without message blocks that is not an empty channel's history (Telegram changed its
markup, or the channel has no public preview) raises `ParseError` of kind
`selectors_failed`, as does a page whose blocks have no post id and date we can read.
Sanitising the text is left to `normalise`, like a feed's; fetching and paging to `retrieve`
(`read_channel_page` also says which post the page before begins under, `before_post` names
that page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lxml import etree
from lxml.cssselect import CSSSelector

from aggregator.entities import EntryData, FeedData, FeedNote, Fetched
from aggregator.errors import ParseError
from aggregator.pipeline.scrape import parse_html

TITLE_CHARS = 120
UNTITLED_PHOTO = "Фото без подписи"
UNTITLED_VIDEO = "Видео без подписи"
POST_ID = re.compile(r"^([A-Za-z0-9_]{3,64})/(\d+)$")
BACKGROUND_URL = re.compile(r"background-image\s*:\s*url\(\s*['\"]?([^'\")]+)['\"]?\s*\)", re.IGNORECASE)
SENTENCE_END = re.compile(r"[.!?…]+(?=\s)")
SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
MESSAGES = CSSSelector("div.tgme_widget_message[data-post]")
HISTORY = CSSSelector(".tgme_channel_history")
SERVICE = CSSSelector(".tgme_widget_message_service_text, .tgme_widget_message_error")
TEXT = CSSSelector(".tgme_widget_message_text")
REPLY = CSSSelector(".tgme_widget_message_reply")
DATE = CSSSelector(".tgme_widget_message_date time[datetime], time[datetime]")
PICTURES = CSSSelector(".tgme_widget_message_photo_wrap, .tgme_widget_message_video_thumb, .link_preview_image, .link_preview_right_image")
FORWARDED_FROM = CSSSelector(".tgme_widget_message_forwarded_from_name")
SIGNATURE = CSSSelector(".tgme_widget_message_from_author")
EMOJI = CSSSelector("i.emoji")
CHANNEL_TITLE = CSSSelector(".tgme_channel_info_header_title")
CHANNEL_AVATAR = CSSSelector(".tgme_channel_info_header .tgme_page_photo_image img[src]")


@dataclass(frozen=True)
class _Post:
    """What one message block holds (empty strings for nothing); `service` for a service
    message or a deleted post."""

    channel: str
    id: str
    published: datetime | None
    text_html: str
    text: str
    image: str
    author: str
    service: bool
    video: bool  # its picture is a video's cover

    @property
    def readable(self) -> bool:
        return bool(self.channel and self.published)

    @property
    def worth_an_item(self) -> bool:
        return self.readable and not self.service and bool(self.text or self.image)


@dataclass(frozen=True)
class ChannelPage:
    """One page of a channel's history: its posts worth an item (`data`), and the number of
    the oldest message block on it with a post id, skipped posts too (None: the page has
    none), which the page before it begins under."""

    data: FeedData
    oldest_post: int | None


def read_channel(fetched: Fetched, max_items: int = 1000) -> FeedData:
    """The channel's newest `max_items` posts, newest first; ParseError (`selectors_failed`)
    when the page is not a channel's history we can read."""
    return read_channel_page(fetched, max_items).data


def read_channel_page(fetched: Fetched, max_items: int = 1000) -> ChannelPage:
    """`read_channel`, with the oldest post of the page."""
    root = parse_html(fetched.body or b"", fetched.content_type)
    blocks = MESSAGES(root)
    if not blocks and not HISTORY(root):
        raise ParseError(
            "no .tgme_widget_message blocks on the page: Telegram may have changed the markup of its web preview, "
            "or the channel has no public preview (t.me/s/<channel> must show its posts)",
            kind="selectors_failed",
        )
    posts = [_read_post(block) for block in blocks]
    readable = [post for post in posts if post.readable]
    if posts and not readable:
        raise ParseError(
            f"none of the {len(posts)} message blocks has a post id (data-post) and a date (<time datetime>) we can read: "
            "Telegram may have changed the markup of its web preview",
            kind="selectors_failed",
        )
    kept = [post for post in readable if post.worth_an_item][-max_items:]
    data = FeedData(
        url=fetched.url,
        title=_channel_title(root),
        link=f"https://t.me/{readable[0].channel}" if readable else None,
        entries=tuple(_entry(post) for post in reversed(kept)),
        notes=_notes(posts, readable),
        image_url=_channel_avatar(root),
    )
    return ChannelPage(data, min((int(post.id) for post in posts if post.id), default=None))


def post_number(entry: EntryData) -> int:
    """The post's number in its channel, from its guid `<channel>/<id>`."""
    return int((entry.guid or "").rsplit("/", 1)[-1])


def before_post(page_url: str, number: int) -> str:
    """The channel page listing the posts before post `number` (Telegram's `?before=`)."""
    parts = urlsplit(page_url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "before"] + [("before", str(number))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _read_post(block: etree._Element) -> _Post:
    channel, post_id = _post_id(block.get("data-post", ""))
    for reply in REPLY(block):  # a quoted post is not this post's text
        reply.drop_tree()
    for emoji in EMOJI(block):  # the emoji character, not Telegram's picture of it
        _replace_with_text(emoji)
    text_element = next(iter(TEXT(block)), None)
    classes = (block.get("class") or "").split()
    image, video = _first_picture(block)
    return _Post(
        channel=channel,
        id=post_id,
        published=_date(block),
        text_html=_inner_html(text_element) if text_element is not None else "",
        text=_plain(text_element) if text_element is not None else "",
        image=image,
        author=_first_text(FORWARDED_FROM(block)) or _first_text(SIGNATURE(block)),
        service="service_message" in classes or bool(SERVICE(block)),
        video=video,
    )


def _post_id(data_post: str) -> tuple[str, str]:
    found = POST_ID.match(data_post.strip())
    return (found.group(1), found.group(2)) if found else ("", "")


def _date(block: etree._Element) -> datetime | None:
    for time in DATE(block):
        try:
            published = datetime.fromisoformat(time.get("datetime", "").strip())
        except ValueError:
            continue
        return published if published.tzinfo else published.replace(tzinfo=UTC)
    return None


def _first_picture(block: etree._Element) -> tuple[str, bool]:
    """The address of the post's first picture ("" for none), and whether it is a video's cover."""
    for element in PICTURES(block):
        found = BACKGROUND_URL.search(element.get("style") or "")
        if found:
            url = found.group(1).strip()
            return "https:" + url if url.startswith("//") else url, "tgme_widget_message_video_thumb" in (element.get("class") or "")
    return "", False


def _replace_with_text(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    text = element.text_content() + (element.tail or "")
    previous = element.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + text
    else:
        parent.text = (parent.text or "") + text
    parent.remove(element)


def _inner_html(element: etree._Element) -> str:
    inside = [etree.tostring(child, encoding="unicode", method="html", with_tail=True) for child in element]
    return (element.text or "") + "".join(inside)


def _plain(element: etree._Element) -> str:
    """The text with its line breaks, spaces squeezed."""
    for br in element.iter("br"):
        br.tail = "\n" + (br.tail or "")
    lines = (SPACES.sub(" ", line).strip() for line in element.text_content().split("\n"))
    return "\n".join(line for line in lines if line)


def _first_text(elements: list[etree._Element]) -> str:
    return next((text for text in (SPACES.sub(" ", element.text_content()).strip() for element in elements) if text), "")


def title_of(text: str) -> str:
    """The first sentence of the first line, cut at a word boundary near TITLE_CHARS."""
    line = text.split("\n", 1)[0].strip()
    end = next((found for found in SENTENCE_END.finditer(line) if found.start() >= 20), None)
    title = (line[: end.end()] if end else line).removesuffix(".")
    if len(title) <= TITLE_CHARS:
        return title
    cut = title[:TITLE_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",;:—-– ") + "…"


def _entry(post: _Post) -> EntryData:
    return EntryData(
        guid=f"{post.channel}/{post.id}",
        link=f"https://t.me/{post.channel}/{post.id}",
        title=title_of(post.text) if post.text else UNTITLED_VIDEO if post.video else UNTITLED_PHOTO,
        summary_html=post.text_html,
        content_html="",
        published=post.published,
        updated=None,
        image_url=post.image or None,
        author=post.author or None,
    )


def _notes(posts: list[_Post], readable: list[_Post]) -> tuple[FeedNote, ...]:
    if len(readable) == len(posts):
        return ()
    message = f"{len(posts) - len(readable)} of {len(posts)} message blocks have no post id or date we can read; they were skipped"
    return (FeedNote("selectors_failed", message),)


def _channel_title(root: etree._Element) -> str | None:
    return _first_text(CHANNEL_TITLE(root)) or None


def _channel_avatar(root: etree._Element) -> str | None:
    return next((image.get("src").strip() for image in CHANNEL_AVATAR(root)), None)
