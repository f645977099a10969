"""OPML 2.0 listing of the curated feeds, so a reader subscribes to every topic at once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from aggregator.errors import InvalidRequest
from aggregator.publish.atom import clean


def feeds_opml(title: str, created: datetime, outlines: Sequence[tuple[str, str, str]]) -> bytes:
    """`outlines` are (title, feed URL, page URL)."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = clean(title)
    ET.SubElement(head, "dateCreated").text = format_datetime(created)
    body = ET.SubElement(root, "body")
    for text, xml_url, html_url in outlines:
        ET.SubElement(body, "outline", type="rss", text=clean(text), title=clean(text), xmlUrl=xml_url, htmlUrl=html_url)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def parse_opml(document: bytes) -> list[tuple[str, str]]:
    """(title, feed URL) of every outline with an xmlUrl, however deeply nested."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise InvalidRequest(f"not an OPML document: {exc}") from exc
    found = []
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if url:
            found.append((outline.get("title") or outline.get("text") or url, url.strip()))
    return found
