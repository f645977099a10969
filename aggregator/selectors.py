"""Selectors of a news-list page, compiled: CSS, or XPath when one starts with `/` or `./`.

A leaf: settings check the `[feeds.selectors]` of a source with it at start-up, and the scrape
stage compiles them once per page. Reading a page is left to `pipeline.scrape`.
"""

from __future__ import annotations

from cssselect import HTMLTranslator, SelectorError
from lxml import etree

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
