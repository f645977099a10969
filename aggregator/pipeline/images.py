"""Which picture illustrates an item: the rules the parse and normalise stages share.

A candidate is kept when its address can become an http(s) URL (relative ones are resolved by
normalise against the item's link; `data:`, `javascript:` and other schemes are refused) and
it is not a tracking pixel, i.e. it does not declare a width or height of 0 or 1. Also here:
the first acceptable `<img>` of an HTML fragment, and the media type a picture's address
suggests (for `<link rel="enclosure" type="image/…">`). A leaf: it imports nothing of ours.
"""

from __future__ import annotations

import mimetypes
from html.parser import HTMLParser
from urllib.parse import urlsplit

PIXEL_SIZES = frozenset({"0", "1"})
FALLBACK_TYPE = "image/jpeg"  # the commonest news photo; a reader only uses it as a hint


def acceptable(url: str | None, width: object = None, height: object = None) -> bool:
    """A picture worth showing: an http(s) or relative address, not a declared 1×1 pixel."""
    if not url or not url.strip():
        return False
    scheme = urlsplit(url.strip()).scheme.lower()
    if scheme not in ("", "http", "https"):
        return False
    return not any(_size(value) in PIXEL_SIZES for value in (width, height))


def first_image_in_html(fragment: str) -> str | None:
    """The `src` of the first acceptable `<img>` of an HTML fragment, as written there."""
    if not fragment or "<img" not in fragment.lower():
        return None
    finder = _FirstImage()
    finder.feed(fragment)
    finder.close()
    return finder.found


def image_type(url: str) -> str:
    """The image/* media type the address's extension suggests, else image/jpeg."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else FALLBACK_TYPE


def _size(value: object) -> str:
    return str(value).strip().removesuffix("px").strip() if value is not None else ""


class _FirstImage(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found is not None or tag != "img":
            return
        values = dict(attrs)
        src = (values.get("src") or "").strip()
        if acceptable(src, values.get("width"), values.get("height")):
            self.found = src

    handle_startendtag = handle_starttag
