"""An item's article text as every layer reads it; a leaf (no fetching, no parsing).

`decision_text` is what the topic classifier and story grouping read about an item: the head
of its article text when there is one, else its summary. Storage recomputes it for stored
items (reading only the first `DECISION_CHARS` + 1 characters of a text) and the publisher
turns a text into HTML paragraphs with `text_html`. Getting the text is the `fulltext` stage's
business.
"""

from __future__ import annotations

from markupsafe import escape

DECISION_CHARS = 1000


def decision_text(summary: str, full_text: str | None) -> str:
    """What topics and stories are decided on: the article's head, else the summary."""
    if not full_text:
        return summary
    if len(full_text) <= DECISION_CHARS:
        return full_text.replace("\n", " ")
    head = full_text[:DECISION_CHARS].replace("\n", " ")
    cut = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
    return head[: cut + 1] if cut > DECISION_CHARS // 2 else head.rsplit(" ", 1)[0] + "…"


def text_html(text: str) -> str:
    """The plain text as HTML paragraphs (escaped), for republishing."""
    return "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() if line.strip())
