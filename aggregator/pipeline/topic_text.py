"""An item's text as the topic classifier reads it: tokens for the rules, features for the model.

`item_text` gives the headline's and the summary's words as (lemma, form as written) tokens,
which keyword rules match (`topic_rules`), and the features of the statistical model
(`topic_model`): lemma unigrams and bigrams, headline lemmas once more, marked. A hyphenated
word counts as its parts («Томь-ТГУ»); numbers are left out of the features. This is a view
over the item's one reading (`analysis`), which finds the words and their lemmas.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from aggregator.pipeline.analysis import Passage, analyse, passage

Token = tuple[str, str]  # (lemma, lower-cased word as written)


@dataclass(frozen=True)
class ItemText:
    """An item's text reduced once: tokens for the rules, features for the model."""

    title: tuple[Token, ...]
    summary: tuple[Token, ...]
    features: tuple[str, ...]


def item_text(title: str, summary: str) -> ItemText:
    """The headline's and summary's tokens and the model's features; a hyphenated word counts as its parts."""
    reading = analyse(title, summary)
    title_tokens, title_lemmas = _view(reading.title)
    summary_tokens, summary_lemmas = _view(reading.text)
    features = (*_ngrams(title_lemmas), *_ngrams(summary_lemmas), *("t:" + lemma for lemma in title_lemmas))
    return ItemText(title_tokens, summary_tokens, features)


def lemmatise(text: str) -> tuple[tuple[Token, ...], list[str]]:
    """Every word as (lemma, form), and the content lemmas (no function words or numbers)."""
    return _view(passage(text))


def _view(read: Passage) -> tuple[tuple[Token, ...], list[str]]:
    pieces = [piece for word in read.words for piece in word.pieces()]
    tokens = tuple((piece.lemma, piece.form) for piece in pieces)
    return tokens, [p.lemma for p in pieces if not p.function and len(p.lemma) > 1 and not p.lemma[0].isdigit()]


def _ngrams(lemmas: list[str]) -> tuple[str, ...]:
    return (*lemmas, *map(" ".join, pairwise(lemmas)))
