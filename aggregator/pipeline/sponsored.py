"""Is this item advertising? A pure decision from its text and categories.

Russian law makes advertisers label ads («Реклама», an `erid` token) and outlets mark
partner content («На правах рекламы», «Партнёрский материал»). Such items stay in storage
but are left out of stories, curated feeds and the digest. The word «реклама» alone inside
news («закон о рекламе») is not a label: it counts only as a standalone label at the start
or end of the title or summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from aggregator.entities import ItemData

ERID = re.compile(r"\berid\s*[:=]?\s*[0-9A-Za-z]{6,}", re.IGNORECASE)


def _fold(text: str) -> str:
    return text.lower().replace("ё", "е").strip()


@dataclass(frozen=True)
class SponsoredRules:
    phrases: tuple[str, ...]
    labels: tuple[str, ...]
    categories: frozenset[str]

    @classmethod
    def build(cls, phrases: Iterable[str], labels: Iterable[str], categories: Iterable[str]) -> SponsoredRules:
        return cls(tuple(map(_fold, phrases)), tuple(map(_fold, labels)), frozenset(map(_fold, categories)))


def is_sponsored(item: ItemData, rules: SponsoredRules) -> bool:
    if any(_fold(category) in rules.categories for category in item.categories):
        return True
    text = f"{item.title}\n{item.summary}"
    if ERID.search(text):
        return True
    folded = _fold(text)
    if any(phrase in folded for phrase in rules.phrases):
        return True
    return any(_is_label(_fold(part), label) for part in (item.title, item.summary) for label in rules.labels)


def _is_label(text: str, label: str) -> bool:
    """`label` standing alone at the start or the end of the text («Реклама. …», «… Реклама»)."""
    edge = r"(?:^|[\s.,:;!?()«»\"'|—–-])"
    return bool(re.match(rf"{re.escape(label)}{edge}|{re.escape(label)}$", text) or re.search(rf"{edge}{re.escape(label)}[.!]?$", text))
