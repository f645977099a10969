"""Parse stage: fetched bytes in, a `FeedData` of plain `EntryData` out.

feedparser reads RSS 0.9x/1.0/2.0 and Atom; its own HTML sanitiser and URL resolution are
off (normalise sanitises with nh3 and resolves links against each item's own link).
feedparser's dict is turned into frozen values here, exactly once.

Before feedparser sees a document, two guards run. Entity declarations are screened
(`guard_entities`): external entities, entities defined through other entities ("billion
laughs") and entities that would expand past a small budget ("quadratic blowup") make the
document `unsafe_xml`; nothing external is ever fetched (feedparser's expat has external
entities off, and its loose parser never fetches). A feed with more entries than we read
is cut after the last one we keep, so 50,000 entries cost no more than 1,000.

Russian feeds often lie about their encoding (an HTTP header says UTF-8 for a windows-1251
file, or nothing is declared at all): when the declared encoding does not decode, or the
text came out as a Western single-byte fallback, the document is read again trusting its
XML declaration, then as windows-1251 and koi8-r, keeping the reading with the most
plausible Cyrillic text. What was odd but readable (bad encoding declaration, malformed
XML, a content type that is not a feed's, too many entries) comes back as `FeedData.notes`.
"""

from __future__ import annotations

import calendar
import codecs
import contextlib
import pyexpat
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser

from aggregator.entities import EntryData, FeedData, FeedNote, Fetched
from aggregator.errors import ParseError
from aggregator.pipeline import images

XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([\w.:-]+)""", re.IGNORECASE)
CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]")
ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")
ITEM_IMAGE = re.compile(rb"<image(?:\s[^>]*)?>\s*(?:<!\[CDATA\[)?\s*(https?://[^\s<\]]+)")
HIGH_BYTES = re.compile(rb"[\x80-\xff]")
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
COMMON_RUSSIAN = re.compile(r"[оеаинтср]")
FALLBACK_ENCODINGS = ("windows-1251", "koi8-r")
WESTERN_GUESSES = {"iso-8859-1", "windows-1252", "iso-8859-2", "cp1252", "latin-1"}
ENCODING_COMPLAINTS = (feedparser.CharacterEncodingOverride, feedparser.CharacterEncodingUnknown, feedparser.NonXMLContentType)
SY_PERIODS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=30),
    "yearly": timedelta(days=365),
}
LONGEST_TTL = timedelta(days=365)
ENTITY_DECLARATION = re.compile(rb"""<!ENTITY\s+(%\s+)?([^\s"'%>]+)\s+(?:(SYSTEM|PUBLIC)\b|"([^"]*)"|'([^']*)')""", re.IGNORECASE)
FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
NESTED_REFERENCE = re.compile(r"[&%][A-Za-z_:]")
MAX_ENTITIES, MAX_ENTITY_CHARS, MAX_EXPANSION = 50, 1_000, 1_000_000


def parse_feed(fetched: Fetched, max_entries: int = 1000) -> FeedData:
    """Read the document; raise ParseError when it holds no feed at all (or one we refuse)."""
    body = fetched.body or b""
    if not body.strip():
        raise ParseError("not a feed: the server sent an empty document")
    guard_entities(body)
    body, total = _keep_entries(body, max_entries)
    parsed, reread_as = _parse_best(body, fetched.url, fetched.content_type)
    if not parsed.entries and not parsed.feed.get("title") and parsed.get("bozo"):
        raise ParseError(f"not a feed: {_bozo_message(parsed)}")
    if not parsed.get("version") and not parsed.entries:
        raise ParseError("not a feed: no RSS or Atom root element")
    return FeedData(
        url=fetched.url,
        title=_text(parsed.feed.get("title")),
        link=parsed.feed.get("link"),
        entries=_entries(parsed.entries[:max_entries], _item_images(body)),
        notes=_notes(parsed, body, fetched.content_type, reread_as, total, max_entries),
        ttl=_ttl(parsed.feed),
        image_url=_feed_image(parsed.feed),
    )


@dataclass(frozen=True)
class _Entity:
    """One <!ENTITY> declaration: a literal value, or an external (SYSTEM/PUBLIC) reference."""

    name: str
    parameter: bool
    value: str | None
    external: str | None


class _RootReached(Exception):
    """Stops expat at the first element: everything declared has been seen by then."""


def guard_entities(body: bytes) -> None:
    """Refuse documents whose entity declarations are external, nested or too big to expand."""
    declared = _declared_by_expat(body) + _declared_by_pattern(body)
    if len({(entity.name, entity.parameter) for entity in declared}) > MAX_ENTITIES:
        raise _unsafe(f"it declares more than {MAX_ENTITIES} XML entities; entity expansion is refused")
    view = _text_view(body) if declared else ""
    expansions: dict[tuple[str, bool], int] = {}
    for entity in declared:
        key = (entity.name, entity.parameter)
        expansions[key] = max(expansions.get(key, 0), _expansion(entity, view))
    if sum(expansions.values()) > MAX_EXPANSION:
        raise _unsafe(
            f"its XML entities would expand to about {sum(expansions.values())} characters (a 'quadratic blowup'); entity expansion is refused"
        )


def _expansion(entity: _Entity, view: str) -> int:
    if entity.external is not None:
        raise _unsafe(f"it declares the external XML entity {entity.name!r} ({entity.external}); external entities are never fetched")
    value = entity.value or ""
    if entity.parameter or NESTED_REFERENCE.search(value):
        raise _unsafe(
            f"it declares the XML entity {entity.name!r} in terms of other entities (a 'billion laughs' attack); entity expansion is refused"
        )
    if len(value) > MAX_ENTITY_CHARS:
        raise _unsafe(f"it declares the XML entity {entity.name!r} of {len(value)} characters; entity expansion is refused")
    return len(value) * view.count(f"&{entity.name};")


def _unsafe(reason: str) -> ParseError:
    return ParseError(f"refused as unsafe XML: {reason}", kind="unsafe_xml")


def _declared_by_expat(body: bytes) -> list[_Entity]:
    """Declarations as an XML parser sees them, reading no further than the root element."""
    found: list[_Entity] = []
    parser = pyexpat.ParserCreate()

    def declared(name: str, parameter: int, value: str | None, _base: Any, system: str | None, public: str | None, _notation: Any) -> None:
        found.append(_Entity(name, bool(parameter), value, system or public if value is None else None))

    def root(*_args: Any) -> None:
        raise _RootReached

    parser.EntityDeclHandler, parser.StartElementHandler = declared, root
    with contextlib.suppress(_RootReached, pyexpat.ExpatError, ValueError, LookupError):
        parser.Parse(body, True)
    return found


def _declared_by_pattern(body: bytes) -> list[_Entity]:
    """Declarations as feedparser's lenient reader finds them: anywhere before the first tag."""
    first = FIRST_ELEMENT.search(body)
    head = body[: first.start() if first else len(body)]
    return [
        _Entity(
            name.decode("latin-1"),
            bool(percent),
            None if external else (double or single).decode("latin-1"),
            external.decode("latin-1") if external else None,
        )
        for percent, name, external, double, single in ENTITY_DECLARATION.findall(head)
    ]


def _text_view(body: bytes) -> str:
    """The document as text good enough to count entity references in."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if body.startswith(bom):
            return body.decode(codec, errors="replace")
    if body[:2] in (b"<\x00", b"\x00<"):
        return body.decode("utf-16-le" if body[0] == 0x3C else "utf-16-be", errors="replace")
    return body.decode("latin-1")


def _keep_entries(body: bytes, max_entries: int) -> tuple[bytes, int]:
    """The document cut after its first `max_entries` entries, and how many it had."""
    starts = [match.start() for match in ENTRY_START.finditer(body)]
    if len(starts) <= max_entries:
        return body, len(starts)
    closing = ENTRY_END.search(body, starts[-1])
    tail = body[closing.end() :] if closing else b""
    return body[: starts[max_entries]] + tail, len(starts)


def _parse_best(body: bytes, url: str, content_type: str | None) -> tuple[Any, str | None]:
    """feedparser's reading, or a better one in another encoding (then also its name)."""
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    best = _feedparser(body, headers)
    if not _encoding_trouble(best, body):
        return best, None
    best_score, reread_as = _plausibility(best), None
    for encoding in (None, *FALLBACK_ENCODINGS):
        reading = _feedparser(body if encoding is None else _as_utf8(body, encoding), {"content-location": url})
        score = _plausibility(reading)
        if score > best_score:
            best, best_score, reread_as = reading, score, encoding or reading.get("encoding") or "declared"
    return best, reread_as


def _feedparser(body: bytes, headers: dict[str, str]) -> Any:
    return feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)


def _encoding_trouble(parsed: Any, body: bytes) -> bool:
    exc = parsed.get("bozo_exception")
    if isinstance(exc, (feedparser.CharacterEncodingOverride, feedparser.CharacterEncodingUnknown, UnicodeError)):
        return True
    western = (parsed.get("encoding") or "").lower() in WESTERN_GUESSES
    return western and HIGH_BYTES.search(body) is not None


def _as_utf8(body: bytes, encoding: str) -> bytes:
    text = XML_DECLARATION.sub(b"", body, count=1).decode(encoding, errors="replace")
    return b'<?xml version="1.0" encoding="utf-8"?>' + text.encode("utf-8")


def _plausibility(parsed: Any) -> float:
    """How much a reading looks like real text: entries count, and when most letters are
    Cyrillic, the share of them that are frequent lower-case Russian ones."""
    sample = " ".join(_text(e.get("title")) or "" for e in parsed.entries[:50])
    sample += " " + (_text(parsed.feed.get("title")) or "")
    letters = sum(1 for ch in sample if ch.isalpha())
    cyrillic = CYRILLIC.findall(sample)
    base = (len(parsed.entries) + 1) * 0.01
    if not cyrillic or len(cyrillic) * 2 < letters:
        return base
    return base + (len(parsed.entries) + 1) * len(COMMON_RUSSIAN.findall(sample)) / len(cyrillic)


def _notes(
    parsed: Any,
    body: bytes,
    content_type: str | None,
    reread_as: str | None,
    total: int,
    max_entries: int,
) -> tuple[FeedNote, ...]:
    notes = []
    if total > max_entries:
        notes.append(FeedNote("too_many_items", f"the feed has {total} entries; only the first {max_entries} are read"))
    encoding_note = _encoding_note(parsed, body, content_type, reread_as)
    if encoding_note:
        notes.append(encoding_note)
    exc = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(exc, ENCODING_COMPLAINTS):
        notes.append(FeedNote("malformed_xml", f"the document is not well-formed XML ({_bozo_message(parsed)}); it was read leniently"))
    if content_type and not _feed_type(content_type):
        notes.append(FeedNote("wrong_content_type", f"served as {content_type!r}, which is not a feed or XML type"))
    return tuple(notes)


def _encoding_note(parsed: Any, body: bytes, content_type: str | None, reread_as: str | None) -> FeedNote | None:
    declared = _declared_encoding(body, content_type)
    if reread_as:
        said = f"is declared as {declared}" if declared else "declares no encoding"
        return FeedNote("wrong_encoding", f"the document {said}, but its text is {reread_as}; it was read as {reread_as}")
    used = parsed.get("encoding")
    if declared and used and _codec(declared) != _codec(used):
        return FeedNote("wrong_encoding", f"the document is declared as {declared} but is {used}; it was read as {used}")
    return None


def _declared_encoding(body: bytes, content_type: str | None) -> str | None:
    """The charset of the HTTP header, else of the XML declaration (RFC 7303 order)."""
    header = CHARSET.search(content_type or "")
    if header:
        return header.group(1).lower()
    declaration = DECLARED_ENCODING.match(body[:500])
    return declaration.group(1).decode("ascii").lower() if declaration else None


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


def _feed_type(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return not kind or any(word in kind for word in ("xml", "rss", "atom", "rdf"))


def _ttl(feed: Any) -> timedelta | None:
    """How often the publisher says to look: RSS <ttl> (minutes), else sy:updatePeriod/Frequency."""
    ttl = _count(feed.get("ttl"))
    if ttl:
        return min(timedelta(minutes=ttl), LONGEST_TTL)
    period = SY_PERIODS.get((_text(feed.get("sy_updateperiod")) or "").lower())
    return period / (_count(feed.get("sy_updatefrequency")) or 1) if period else None


def _feed_image(feed: Any) -> str | None:
    """The feed's own picture: RSS <image><url> or Atom <logo> (feedparser's `image.href`),
    else Atom <icon>."""
    image = feed.get("image")
    href = image.get("href") if isinstance(image, dict) else None
    return next((text for text in (_text(value) for value in (href, feed.get("logo"), feed.get("icon"))) if text), None)


def _count(value: Any) -> int | None:
    text = _text(value)
    return min(int(text), 10**7) if text and text.isdigit() else None


def _bozo_message(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc else "malformed document"


def _entries(entries: list[Any], item_images: list[str | None]) -> tuple[EntryData, ...]:
    """The entries as values; an item's text `<image>` is used only when the raw items line up
    one to one with feedparser's entries."""
    if len(item_images) != len(entries):
        item_images = [None] * len(entries)
    return tuple(_entry(entry, image) for entry, image in zip(entries, item_images, strict=True))


def _entry(entry: Any, item_image: str | None = None) -> EntryData:
    return EntryData(
        guid=_text(entry.get("id")) or None,
        link=_link(entry),
        title=_text(entry.get("title")) or "",
        summary_html=entry.get("summary") or "",
        content_html=_content(entry),
        published=_date(entry.get("published_parsed")) or _date(dict.get(entry, "updated_parsed")),
        updated=_date(dict.get(entry, "updated_parsed")),  # dict.get: no deprecated fallback
        categories=tuple(t["term"].strip() for t in entry.get("tags") or () if (t.get("term") or "").strip()),
        image_url=_image(entry, item_image),
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


def _image(entry: Any, item_image: str | None = None) -> str | None:
    """The item's picture: Media RSS content or thumbnail, an image enclosure, the item's own
    RSS `<image>`, else the first `<img>` of its content; http(s) (or relative) addresses
    only, and never a tracking pixel (see `images`)."""
    return next((url.strip() for url in _image_candidates(entry, item_image) if url), None)


def _image_candidates(entry: Any, item_image: str | None) -> Iterator[str | None]:
    for media in (entry.get("media_content") or []) + (entry.get("media_thumbnail") or []):
        if _is_picture(media) and images.acceptable(media.get("url"), media.get("width"), media.get("height")):
            yield media["url"]
    for link in entry.get("links") or ():
        if link.get("rel") == "enclosure" and (link.get("type") or "").startswith("image/") and images.acceptable(link.get("href")):
            yield link["href"]
    for url in (entry.get("href"), item_image):  # feedparser keeps <image><url>…</url></image> of an item as "href"
        if isinstance(url, str) and images.acceptable(url):
            yield url
    for part in (*(c.get("value") or "" for c in entry.get("content") or ()), entry.get("summary") or ""):
        yield images.first_image_in_html(part)


def _is_picture(media: Any) -> bool:
    """Media RSS content that says it is an image, or does not say what it is."""
    medium, kind = media.get("medium"), media.get("type")
    return (not medium or medium == "image") and (not kind or kind.startswith("image/"))


def _item_images(body: bytes) -> list[str | None]:
    """The text of each item's RSS `<image>` element (`<image>URL</image>`, which feedparser
    drops), in document order: one value per item, None where there is none."""
    if b"<image" not in body:
        return []
    found: list[str | None] = []
    for start in ENTRY_START.finditer(body):
        end = ENTRY_END.search(body, start.end())
        match = ITEM_IMAGE.search(body, start.end(), end.start() if end else len(body))
        found.append(match.group(1).decode("ascii", "replace") if match else None)
    return found
