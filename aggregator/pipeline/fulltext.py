"""Full-text stage: an item's article page in, its main text out.

For sources with `full_text = true`, whose feed or list page gives only a headline and a
teaser. `fetch_article` gets the page through the fetch stage (the same limits, address
policy and redirect checks as a feed) and `article_text` extracts the main text with
trafilatura, which leaves out the menus, related-news lists, comment sections and most
advertising around it. What it still lets through inside the text is dropped here line by
line: the headline repeated (the item's title, or the page's own `<h1>`), «Читайте также:
...», advertising labels («Реклама», «18+», erid markings). The text is plain, one paragraph
per line; a page that yields no sentence of text (a menu, an error page) has none.

Which items get a fetch (new ones only, one fetch each) is the cycle's business
(`aggregator.cycle`), per-host politeness `retrieve`'s; what decisions read of the text, and
how it is republished, is `text`'s.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from aggregator.entities import FeedForUpdate, Fetched, ItemData
from aggregator.errors import AggregatorError, ParseError
from aggregator.pipeline.fetch import FetchPolicy, fetch_feed
from aggregator.pipeline.normalise import xml_safe
from aggregator.pipeline.scrape import decode_html, html_tree

log = logging.getLogger(__name__)
SPACES = re.compile(r"\s+")
READ_ALSO = re.compile(
    r"^(читайте|смотрите)\s+(также|ещё|еще|по\s+теме)|^(ещё|еще|другие\s+новости)\s+по\s+теме|^по\s+теме\s*:|"
    r"^новости\s+партн[её]ров|^подписывайтесь\b|^поделиться\b",
    re.IGNORECASE,
)
AGE_MARK = re.compile(r"^\d{1,2}\+$")
AD_LABEL = re.compile(r"^реклама\s*(?:$|[.:,]|18\+$)|\berid\b|^реклама\b.*\b18\+$", re.IGNORECASE)
MIN_WORDS = 5  # fewer is a menu or a label, not an article


@dataclass(frozen=True)
class ArticleText:
    """The outcome of one item's article fetch: its text, or what went wrong in words."""

    guid: str
    url: str
    text: str | None = None
    error: str | None = None


def fetch_article(
    feed: FeedForUpdate,
    item: ItemData,
    policy: FetchPolicy,
    client: httpx.Client,
    fetcher: Callable[[FeedForUpdate, FetchPolicy, httpx.Client], Fetched] = fetch_feed,  # retrieve.Fetcher, which imports this module
) -> ArticleText:
    """GET the item's page and extract its text; any failure comes back as `error`."""
    page = FeedForUpdate(id=feed.id, url=item.url, name=feed.name)
    try:
        fetched = fetcher(page, policy, client)
        return ArticleText(item.guid, item.url, text=article_text(fetched, item.title))
    except AggregatorError as exc:
        log.info("feed %s: no article text for %s: %s", feed.url, item.url, exc)
        return ArticleText(item.guid, item.url, error=str(exc))
    except Exception as exc:  # one article must not stop its feed
        log.exception("feed %s: extracting %s failed", feed.url, item.url)
        return ArticleText(item.guid, item.url, error=f"internal error: {type(exc).__name__}: {exc}")


def article_text(fetched: Fetched, title: str = "") -> str:
    """The main text of the article page; ParseError when there is none to be found."""
    import trafilatura  # 26 MB of imports, paid only by a process that reads articles

    html = decode_html(fetched.body or b"", fetched.content_type)
    extracted = trafilatura.extract(
        html,
        url=fetched.url,
        favor_precision=True,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        deduplicate=False,
        output_format="txt",
    )
    text = clean_text(extracted or "", title, *_headlines(html))
    if len(text.split()) < MIN_WORDS:
        raise ParseError(f"no article text found on {fetched.url}", kind="no_article_text")
    return text


def clean_text(text: str, *titles: str) -> str:
    """One paragraph per line, without a leading headline (any of `titles`), read-also links and ad labels."""
    lines = [SPACES.sub(" ", xml_safe(line)).strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not _clutter(line)]
    while lines and any(title and _same(lines[0], title) for title in titles):
        lines.pop(0)
    return "\n".join(lines)


def _headlines(html: str) -> tuple[str, ...]:
    """The page's own headlines, which may word the title differently from the feed."""
    try:
        root = html_tree(html)
    except ParseError:
        return ()
    return root.xpath("string(//h1)"), root.xpath('string(//meta[@property="og:title"]/@content)')


def _clutter(line: str) -> bool:
    return bool(READ_ALSO.search(line) or AGE_MARK.match(line) or AD_LABEL.search(line))


def _same(line: str, title: str) -> bool:
    return SPACES.sub(" ", line).strip(" .").casefold() == SPACES.sub(" ", title).strip(" .").casefold()
