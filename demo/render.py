"""Render the bundled feed templates: fill `{{date:-3h}}` placeholders relative to a given now.

A placeholder is `{{date:-<H>h<M>m}}` (either part may be omitted: `-3h`, `-45m`, `-26h30m`),
meaning "that long before now". It becomes an RFC 822 date (`+0700`, Tomsk time) in RSS 2.0
feeds and an RFC 3339 date in Atom (UTC, `Z`) and RSS 1.0 `dc:date` (`+07:00`). The file is
decoded and re-encoded with the encoding named in its own XML declaration, so windows-1251 and
koi8-r feeds stay byte-for-byte in their encoding.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

FEEDS_DIR = Path(__file__).resolve().parent / "feeds"
FEED_SUFFIXES = (".rss", ".atom", ".rdf")
TOMSK = timezone(timedelta(hours=7), "Asia/Tomsk")

PLACEHOLDER = re.compile(r"\{\{date:-(?=\d)(?:(\d+)h)?(?:(\d+)m)?\}\}")
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def feed_files() -> list[Path]:
    """The bundled feed files (not expected.json), sorted by name."""
    return sorted(p for p in FEEDS_DIR.iterdir() if p.suffix in FEED_SUFFIXES)


def declared_encoding(data: bytes) -> str:
    """The encoding named in the XML declaration, lower-cased; utf-8 when there is none."""
    match = _XML_ENCODING.match(data)
    return match.group(1).decode("ascii").lower() if match else "utf-8"


def feed_format(text: str) -> str:
    """'atom', 'rss1' (RDF) or 'rss2', judged by the root element."""
    if re.search(r"<feed\b", text):
        return "atom"
    if re.search(r"<rdf:RDF\b", text):
        return "rss1"
    return "rss2"


def format_date(when: datetime, fmt: str) -> str:
    """A date as the given feed format writes it."""
    if fmt == "rss2":
        return format_datetime(when.astimezone(TOMSK))
    if fmt == "atom":
        return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return when.astimezone(TOMSK).isoformat(timespec="seconds")


def render_text(text: str, now: datetime) -> str:
    """Replace every date placeholder in a feed's text. A naive `now` is taken as UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    fmt = feed_format(text)

    def substitute(match: re.Match[str]) -> str:
        ago = timedelta(hours=int(match.group(1) or 0), minutes=int(match.group(2) or 0))
        return format_date(now - ago, fmt)

    return PLACEHOLDER.sub(substitute, text)


def render_feed(path: Path, now: datetime) -> bytes:
    """The feed at `path` with its dates filled in, in the file's own encoding."""
    data = path.read_bytes()
    encoding = declared_encoding(data)
    return render_text(data.decode(encoding), now).encode(encoding)
