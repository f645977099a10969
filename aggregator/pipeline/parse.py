"""Parse stage: fetched bytes in, a `FeedData` of plain `EntryData` out.

feedparser reads RSS 0.9x/1.0/2.0 and Atom; its own HTML sanitiser and URL resolution are
off (normalise sanitises with nh3 and resolves links against each item's own link). feedparser's dict is turned into frozen values here, exactly once.
Russian feeds often lie about their encoding (an HTTP header says UTF-8 for a windows-1251
file): when the declared encoding does not decode, the document is read again trusting its
XML declaration, then as windows-1251 and koi8-r, keeping the reading with the most
plausible Cyrillic text.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import Any

import feedparser

from aggregator.entities import EntryData, FeedData, Fetched
from aggregator.errors import ParseError

XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
COMMON_RUSSIAN = re.compile(r"[оеаинтср]")
FALLBACK_ENCODINGS = ("windows-1251", "koi8-r")


def parse_feed(fetched: Fetched, max_entries: int = 1000) -> FeedData:
    """Read the document; raise ParseError when it holds no feed at all."""
    parsed = _parse_best(fetched.body or b"", fetched.url, fetched.content_type)
    if not parsed.entries and not parsed.feed.get("title") and parsed.get("bozo"):
        raise ParseError(f"not a feed: {_bozo_message(parsed)}")
    if not parsed.get("version") and not parsed.entries:
        raise ParseError("not a feed: no RSS or Atom root element")
    entries = tuple(_entry(entry) for entry in parsed.entries[:max_entries])
    warning = _bozo_message(parsed) if parsed.get("bozo") else None
    return FeedData(
        url=fetched.url,
        title=_text(parsed.feed.get("title")),
        link=parsed.feed.get("link"),
        entries=entries,
        warning=warning,
    )


def _parse_best(body: bytes, url: str, content_type: str | None) -> Any:
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    first = _feedparser(body, headers)
    if not _encoding_trouble(first):
        return first
    readings = [first, _feedparser(body, {"content-location": url})]
    readings += [_feedparser(_as_utf8(body, enc), {"content-location": url}) for enc in FALLBACK_ENCODINGS]
    return max(readings, key=_plausibility)


def _feedparser(body: bytes, headers: dict[str, str]) -> Any:
    return feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)


def _encoding_trouble(parsed: Any) -> bool:
    exc = parsed.get("bozo_exception")
    return isinstance(exc, (feedparser.CharacterEncodingOverride, feedparser.CharacterEncodingUnknown)) or (
        isinstance(exc, UnicodeError)
    )


def _as_utf8(body: bytes, encoding: str) -> bytes:
    text = XML_DECLARATION.sub(b"", body, count=1).decode(encoding, errors="replace")
    return b'<?xml version="1.0" encoding="utf-8"?>' + text.encode("utf-8")


def _plausibility(parsed: Any) -> float:
    """Share of Cyrillic letters that are frequent lower-case Russian ones, times entry count."""
    sample = " ".join(_text(e.get("title")) or "" for e in parsed.entries[:50])
    letters = CYRILLIC.findall(sample)
    if not letters:
        return len(parsed.entries) * 0.01
    return len(parsed.entries) * len(COMMON_RUSSIAN.findall(sample)) / len(letters)


def _bozo_message(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc else "malformed document"


def _entry(entry: Any) -> EntryData:
    return EntryData(
        guid=_text(entry.get("id")) or None,
        link=_link(entry),
        title=_text(entry.get("title")) or "",
        summary_html=entry.get("summary") or "",
        content_html=_content(entry),
        published=_date(entry.get("published_parsed")) or _date(dict.get(entry, "updated_parsed")),
        updated=_date(dict.get(entry, "updated_parsed")),  # dict.get: no deprecated fallback
        categories=tuple(t["term"].strip() for t in entry.get("tags") or () if (t.get("term") or "").strip()),
        image_url=_image(entry),
        author=_text(entry.get("author")) or None,
    )


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) else None


def _link(entry: Any) -> str | None:
    if entry.get("link"):
        return entry["link"].strip()
    for link in entry.get("links") or ():
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link["href"].strip()
    return None


def _content(entry: Any) -> str:
    parts = entry.get("content") or ()
    for part in parts:
        if "html" in (part.get("type") or ""):
            return part.get("value") or ""
    return parts[0].get("value", "") if parts else ""


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _image(entry: Any) -> str | None:
    for media in (entry.get("media_content") or []) + (entry.get("media_thumbnail") or []):
        if media.get("url") and media.get("medium", "image") == "image":
            return media["url"]
    for link in entry.get("links") or ():
        if link.get("rel") == "enclosure" and (link.get("type") or "").startswith("image/"):
            return link.get("href")
    return None
