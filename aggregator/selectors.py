"""The selectors of a news-list page: where its items are, checked and compiled.

`PageSelectors` is the one type for them: settings validate `[feeds.selectors]` into it (each
selector must compile, so a bad one stops start-up naming its key), storage keeps it as JSON,
and the scrape stage compiles it once per page. A selector is CSS, or XPath when it starts
with `/` or `./`. A leaf: reading a page is left to `pipeline.scrape`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cssselect import HTMLTranslator, SelectorError
from lxml import etree
from pydantic import AfterValidator, ConfigDict, with_config

_TRANSLATOR = HTMLTranslator()


def compile_selector(selector: str, relative: bool = True) -> etree.XPath:
    """The selector as a compiled XPath; ValueError saying what is wrong with it.

    CSS is matched against the element itself and everything inside it, so a link selector
    `a` also finds an item block that is itself the link."""
    text = selector.strip()
    if not text:
        raise ValueError("an empty selector")
    if is_xpath(text):
        try:
            return etree.XPath(text)
        except etree.XPathSyntaxError as exc:
            raise ValueError(f"not a valid XPath expression {text!r}: {exc}") from exc
    try:
        return etree.XPath(_TRANSLATOR.css_to_xpath(text, prefix="descendant-or-self::" if relative else "descendant::"))
    except (SelectorError, etree.XPathSyntaxError) as exc:
        raise ValueError(f"not a valid CSS selector {text!r}: {exc}") from exc


def is_xpath(selector: str) -> bool:
    return selector.startswith(("/", "./", "(", "../"))


def _compiles(selector: str) -> str:
    compile_selector(selector)
    return selector


Selector = Annotated[str, AfterValidator(_compiles)]  # checked when pydantic validates, not when built in code


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class PageSelectors:
    """`[feeds.selectors]` of a news-list page: `item` finds each item's block on the page; the
    others are looked for inside the block."""

    item: Selector
    title: Selector
    link: Selector
    date: Selector | None = None
    summary: Selector | None = None
    image: Selector | None = None
