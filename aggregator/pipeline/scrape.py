"""Scrape stage: a fetched news-list page in, a `FeedData` of plain `EntryData` out.

For outlets without a feed. The `[feeds.selectors]` of the source say where each item block
is and, inside it, its title, link, date and optional summary and picture: CSS selectors,
or XPath when a selector starts with `/` or `./` (an XPath may end in `/@href` or `/text()`).
A link is the `href` of the element found (or of the first link inside it, or around it); a
date is read from a `datetime`, `content` or `title` attribute, else from the text, in
Russian words and in the service's time zone (`dates`); a picture is `src` (or the lazy
loaders' `data-src`). The page's encoding is its HTTP charset, else its `<meta charset>`,
else UTF-8, else windows-1251.

A page on which the selectors no longer find items with a title and a link (the site changed
its layout) raises `ParseError` of kind `selectors_failed`, which feed health shows with the
reason in words; blocks without a title or a link beside good ones, and dates that could not
be read, come back as notes. Cleaning the text is left to `normalise`, like a feed's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from urllib.parse import urljoin

import lxml.html
from lxml import etree

from aggregator.entities import EntryData, FeedData, FeedNote, Fetched
from aggregator.errors import ParseError
from aggregator.pipeline.dates import read_date
from aggregator.selectors import PageSelectors, compile_selector

CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
SPACES = re.compile(r"\s+")
XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
DATE_ATTRIBUTES = ("datetime", "content", "title", "data-date", "data-time")
IMAGE_ATTRIBUTES = ("data-src", "data-lazy-src", "data-original", "src", "data-srcset", "srcset")  # lazy loaders first
FIELDS = ("title", "link", "date", "summary", "image")


@dataclass(frozen=True)
class _Compiled:
    """The selectors of one source, compiled once per page (lxml's XPath objects are not shared between threads)."""

    item: etree.XPath
    fields: dict[str, etree.XPath]

    @classmethod
    def of(cls, selectors: PageSelectors) -> _Compiled:
        wanted = {name: getattr(selectors, name) for name in FIELDS if getattr(selectors, name)}
        return cls(compile_selector(selectors.item, relative=False), {name: compile_selector(text) for name, text in wanted.items()})


@dataclass(frozen=True)
class _Block:
    """What the selectors found in one item block (empty strings for nothing)."""

    title: str
    link: str
    date_text: str
    summary_html: str
    image: str


def scrape_page(fetched: Fetched, selectors: PageSelectors, now: datetime, tz: tzinfo, max_items: int = 1000) -> FeedData:
    """The items of the page; ParseError (`selectors_failed`) when it has none we can use."""
    root = parse_html(fetched.body or b"", fetched.content_type)
    base = _base_url(root, fetched.url)
    compiled = _Compiled.of(selectors)
    found = compiled.item(root)
    blocks = [element for element in found if isinstance(element, etree._Element)][:max_items] if isinstance(found, list) else []
    if not blocks:
        raise ParseError(
            f"the item selector {selectors.item!r} matches nothing on the page: the site's layout may have changed; "
            "check [feeds.selectors] (try `aggregator feeds test URL --html ...`)",
            kind="selectors_failed",
        )
    read = [_read_block(block, compiled, base) for block in blocks]
    usable = [block for block in read if block.title and block.link]
    if not usable:
        raise ParseError(
            f"{_missing(read, selectors)}: the site's layout may have changed; check [feeds.selectors]", kind="selectors_failed"
        )
    entries = tuple(_entry(block, now, tz) for block in usable)
    return FeedData(
        url=fetched.url,
        title=_page_title(root),
        link=base,
        entries=entries,
        notes=_notes(read, usable, entries, selectors),
    )


def parse_html(body: bytes, content_type: str | None = None) -> etree._Element:
    """The page as an lxml tree, decoded as it declares (or as UTF-8, else windows-1251)."""
    return html_tree(decode_html(body, content_type))


def html_tree(text: str) -> etree._Element:
    """The page's text as an lxml tree, without scripts, styles and comments."""
    text = XML_DECLARATION.sub("", text, count=1)
    if not text.strip():
        raise ParseError("not a page: the server sent an empty document", kind="not_a_page")
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)
    try:
        root = lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise ParseError(f"not a page: {exc}", kind="not_a_page") from exc
    for unwanted in root.xpath("//script | //style | //noscript | //template"):
        unwanted.drop_tree()
    return root


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """The page's text: in its HTTP charset, else its `<meta charset>`, else UTF-8, else windows-1251."""
    header = CHARSET.search(content_type or "")
    meta = META_CHARSET.search(body[:4096])
    declared = [header.group(1)] if header else [meta.group(1).decode("ascii")] if meta else []
    for name in (*declared, "utf-8", "windows-1251"):
        try:
            return body.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", errors="replace")  # not reached: windows-1251 decodes any byte but 0x98


def _base_url(root: etree._Element, url: str) -> str:
    base = root.xpath("string(//base/@href)").strip()
    return urljoin(url, base) if base else url


def _page_title(root: etree._Element) -> str | None:
    for query in ('string(//meta[@property="og:site_name"]/@content)', "string(//title)"):
        title = _clean(root.xpath(query))
        if title:
            return title
    return None


def _read_block(block: etree._Element, compiled: _Compiled, base: str) -> _Block:
    found = {name: _first(block, xpath) for name, xpath in compiled.fields.items()}
    return _Block(
        title=_clean(_text(found.get("title"))),
        link=_link(found.get("link"), base),
        date_text=_date_text(found.get("date")),
        summary_html=_html(found.get("summary")),
        image=_image(found.get("image"), base),
    )


def _first(block: etree._Element, xpath: etree.XPath) -> etree._Element | str | None:
    """The first element or non-blank string the selector finds in the block."""
    result = xpath(block)
    if isinstance(result, list):
        return next((value for value in result if isinstance(value, (etree._Element, str)) and not _blank(value)), None)
    return str(result) if isinstance(result, (str, float)) and str(result).strip() else None


def _blank(value: etree._Element | str) -> bool:
    return isinstance(value, str) and not value.strip()


def _text(found: etree._Element | str | None) -> str:
    if found is None:
        return ""
    return str(found) if isinstance(found, str) else found.text_content()


def _link(found: etree._Element | str | None, base: str) -> str:
    if found is None:
        return ""
    if isinstance(found, str):
        href = found
    else:
        anchor = found if found.get("href") else next(iter(found.xpath(".//a[@href] | ancestor::a[@href]")), None)
        href = anchor.get("href", "") if anchor is not None else ""
    href = href.strip()
    return urljoin(base, href) if href and not href.startswith(("javascript:", "#", "mailto:")) else ""


def _date_text(found: etree._Element | str | None) -> str:
    if found is None or isinstance(found, str):
        return _clean(found or "")
    for attribute in DATE_ATTRIBUTES:
        if found.get(attribute):
            return _clean(found.get(attribute)) + " " + _clean(found.text_content())
    return _clean(found.text_content())


def _html(found: etree._Element | str | None) -> str:
    if found is None or isinstance(found, str):
        return found or ""
    return etree.tostring(found, encoding="unicode", method="html", with_tail=False)


def _image(found: etree._Element | str | None, base: str) -> str:
    if found is None:
        return ""
    if isinstance(found, str):
        source = found
    else:
        image = found if found.tag == "img" else next(iter(found.xpath(".//img")), found)
        source = next((image.get(name) for name in IMAGE_ATTRIBUTES if image.get(name)), "")
    source = source.strip().split(",")[0].split(" ")[0]  # the first candidate of a srcset
    return urljoin(base, source) if source and not source.startswith("data:") else ""


def _entry(block: _Block, now: datetime, tz: tzinfo) -> EntryData:
    return EntryData(
        guid=None,
        link=block.link,
        title=block.title,
        summary_html=block.summary_html,
        content_html="",
        published=read_date(block.date_text, now, tz) if block.date_text else None,
        updated=None,
        image_url=block.image or None,
    )


def _missing(read: list[_Block], selectors: PageSelectors) -> str:
    """What is wrong with the blocks, in words, naming the selector at fault."""
    no_title = sum(not block.title for block in read)
    no_link = sum(not block.link for block in read)
    parts = []
    if no_title:
        parts.append(f"{no_title} of {len(read)} item blocks have no title (selector {selectors.title!r})")
    if no_link:
        parts.append(f"{no_link} of {len(read)} item blocks have no link (selector {selectors.link!r})")
    return "; ".join(parts)


def _notes(read: list[_Block], usable: list[_Block], entries: tuple[EntryData, ...], selectors: PageSelectors) -> tuple[FeedNote, ...]:
    notes = []
    if len(usable) < len(read):
        notes.append(FeedNote("selectors_failed", f"{_missing(read, selectors)}; those blocks were skipped"))
    undated = [block.date_text or "nothing" for block, entry in zip(usable, entries, strict=True) if entry.published is None]
    if selectors.date and undated:
        notes.append(
            FeedNote(
                "unreadable_dates",
                f"{len(undated)} of {len(entries)} items have no date we can read (selector {selectors.date!r} found "
                f"{undated[0]!r}); they are dated when first seen",
            )
        )
    return tuple(notes)


def _clean(text: str) -> str:
    return SPACES.sub(" ", text or "").strip()
