"""An item's text as the topic classifier reads it: lemmatised once, for rules and model.

`item_text` gives the headline's and the summary's words as (lemma, form as written) tokens,
which keyword rules match (`topic_rules`), and the features of the statistical model
(`topic_model`): lemma unigrams and bigrams, headline lemmas once more, marked. A hyphenated
word counts as its parts («Томь-ТГУ»). Lemmas themselves are `lemmas`' business.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from aggregator.pipeline.lemmas import analyse, words

Token = tuple[str, str]  # (lemma, lower-cased word as written)


@dataclass(frozen=True)
class ItemText:
    """An item's text reduced once: tokens for the rules, features for the model."""

    title: tuple[Token, ...]
    summary: tuple[Token, ...]
    features: tuple[str, ...]


def item_text(title: str, summary: str) -> ItemText:
    """Lemmatise headline and summary; a hyphenated word counts as its parts («Томь-ТГУ»)."""
    title_tokens, title_lemmas = lemmatise(title)
    summary_tokens, summary_lemmas = lemmatise(summary)
    features = (*_ngrams(title_lemmas), *_ngrams(summary_lemmas), *("t:" + lemma for lemma in title_lemmas))
    return ItemText(title_tokens, summary_tokens, features)


def lemmatise(text: str) -> tuple[tuple[Token, ...], list[str]]:
    """Every word as (lemma, form), and the content lemmas (no function words or numbers)."""
    tokens, content = [], []
    for word in words(text):
        for part in word.split("-"):
            lemma, function_word = analyse(part)
            tokens.append((lemma, part))
            if not function_word and len(lemma) > 1 and not lemma[0].isdigit():
                content.append(lemma)
    return tuple(tokens), content


def _ngrams(lemmas: list[str]) -> tuple[str, ...]:
    return (*lemmas, *map(" ".join, pairwise(lemmas)))
