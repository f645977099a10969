"""Normalise stage: a parsed feed's entries in, clean `ItemData` out.

Cleans what a feed gives into what we store and republish: HTML sanitised with nh3 to a
strict allow-list (no scripts, styles, event handlers, `javascript:` or `data:` links),
plain-text title and summary, links resolved against the feed and stripped of tracking
parameters, dates in UTC (missing or future dates fall back to `now`), a guid for every
item (the feed's, else the canonical link, else a content hash). `feed_notes` tells the
feed's health about entries that repeat a guid. Decides nothing about novelty: that is
`dedupe`.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import nh3

from aggregator.entities import EntryData, FeedData, FeedNote, ItemData
from aggregator.pipeline.images import first_image_in_html

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "em",
    "figcaption",
    "figure",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
URL_SCHEMES = {"http", "https", "mailto"}
TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|yclid|dclid|msclkid|_openstat|mc_cid|mc_eid|igshid|_ga|ref_src)$", re.I)
SPACES = re.compile(r"\s+")
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
FUTURE_TOLERANCE = timedelta(minutes=10)
SUMMARY_CHARS = 600


def normalise_feed(feed: FeedData, now: datetime) -> list[ItemData]:
    """Every entry of the feed as an ItemData; entries with neither title nor text are dropped."""
    items = (normalise_entry(entry, feed.link or feed.url, now) for entry in feed.entries)
    return [item for item in items if item.title or item.summary]


def feed_notes(items: Sequence[ItemData]) -> tuple[FeedNote, ...]:
    """What was wrong with the entries themselves, in words for the feed's health. (Dates in
    the future are only repaired: a wrong clock does not make a feed unhealthy.)"""
    repeated = len(items) - len({item.guid for item in items})
    if not repeated:
        return ()
    return (FeedNote("duplicate_guids", f"{repeated} entries repeat the id (guid) of another entry; only the first of each is stored"),)


def normalise_entry(entry: EntryData, base_url: str, now: datetime) -> ItemData:
    url = canonical_url(urljoin(base_url, entry.link)) if entry.link else ""
    content_html = sanitise_html(entry.content_html or entry.summary_html, url or base_url)
    summary = _summary(plain_text(entry.summary_html) or plain_text(entry.content_html))
    title = plain_text(entry.title) or _shorten(summary, 120)
    content_hash = _hash(title, summary, content_html)
    return ItemData(
        guid=(entry.guid or url or content_hash)[:2000],
        url=url,
        title=title,
        summary=summary,
        content_html=content_html,
        published=_published(entry, now),
        content_hash=content_hash,
        categories=tuple(dict.fromkeys(plain_text(c) for c in entry.categories if plain_text(c))),
        image_url=_safe_url(entry.image_url, base_url) or _safe_url(first_image_in_html(content_html), base_url),
        author=plain_text(entry.author or "") or None,
    )


def sanitise_html(fragment: str, base_url: str) -> str:
    """Keep the allow-list only; relative links and images are made absolute against `base_url`."""
    if not fragment:
        return ""

    def absolute(_tag: str, attribute: str, value: str) -> str:
        return urljoin(base_url, value.strip()) if attribute in ("href", "src") else value

    return nh3.clean(
        xml_safe(fragment),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        attribute_filter=absolute,
    ).strip()


def plain_text(fragment: str) -> str:
    """Text of an HTML fragment: tags removed, entities decoded, whitespace collapsed."""
    if not fragment:
        return ""
    text = nh3.clean(fragment.replace("<br", " <br").replace("</p>", "</p> "), tags=set())
    return xml_safe(SPACES.sub(" ", html.unescape(text))).strip()


def xml_safe(text: str) -> str:
    """Remove the characters XML 1.0 forbids (feeds do carry them)."""
    return XML_FORBIDDEN.sub("", text or "")


def canonical_url(url: str) -> str:
    """The link without tracking parameters, fragment, default port or upper-case host;
    "" for anything that is not an http(s) URL (`javascript:`, `data:`, a broken port)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port if parts.port not in (None, 80, 443) else None
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    netloc = f"{host}:{port}" if port else host
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not TRACKING_PARAMS.match(k)]
    query = parts.query if len(kept) == len(pairs) else urlencode(kept)
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, ""))


def _safe_url(url: str | None, base_url: str) -> str | None:
    if not url:
        return None
    absolute = urljoin(base_url, url.strip())
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def _published(entry: EntryData, now: datetime) -> datetime:
    published = entry.published or entry.updated
    if published is None or published > now + FUTURE_TOLERANCE:
        return now
    return published


def _summary(text: str) -> str:
    return _shorten(text, SUMMARY_CHARS)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:—-– ") + "…"


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
