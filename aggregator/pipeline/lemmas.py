"""Russian lemmas: text in, dictionary forms out («трамваями» -> «трамвай»).

pymorphy3 does the morphology; a per-word cache makes repeated words (most of them, in news)
cost a dictionary look-up. «ё» is folded to «е» so keywords can be written either way.
Function words (prepositions, conjunctions, particles, interjections) are dropped from
`content_lemmas`, which is what topics, stories and search use.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pymorphy3

WORD = re.compile(r"[0-9A-Za-zА-Яа-яЁё]+(?:-[0-9A-Za-zА-Яа-яЁё]+)*")
FUNCTION_TAGS = frozenset({"PREP", "CONJ", "PRCL", "INTJ"})
_morph: pymorphy3.MorphAnalyzer | None = None


def _analyzer() -> pymorphy3.MorphAnalyzer:
    global _morph
    if _morph is None:
        _morph = pymorphy3.MorphAnalyzer()
    return _morph


def words(text: str) -> list[str]:
    """Lower-cased words of the text, «ё» folded to «е»."""
    return [w.lower().replace("ё", "е") for w in WORD.findall(text)]


@lru_cache(maxsize=100_000)  # word forms of a few days of news; about 25 MB when full
def analyse(word: str) -> tuple[str, bool]:
    """(lemma, is_function_word) for one lower-cased word."""
    if not word.isalpha() or word.isascii():
        return word, False
    best = _analyzer().parse(word)[0]
    return best.normal_form.replace("ё", "е"), best.tag.POS in FUNCTION_TAGS


def lemmas(text: str) -> list[str]:
    """Every word's lemma, in order (phrases match against this)."""
    return [analyse(w)[0] for w in words(text)]


def content_lemmas(text: str) -> list[str]:
    """Lemmas without function words, in order (how a search query is read; `analysis.search_lemmas`
    reads stored items the same way)."""
    out = []
    for w in words(text):
        lemma, function_word = analyse(w)
        if is_content(lemma, function_word):
            out.append(lemma)
    return out


def is_content(lemma: str, function_word: bool) -> bool:
    """Whether search counts a word: not a function word, and a lemma of more than one letter."""
    return not function_word and len(lemma) > 1


PROPER_TAGS = frozenset({"Geox", "Name", "Surn", "Patr", "Orgn", "Trad"})


@lru_cache(maxsize=100_000)  # the same words as `analyse`, with a smaller answer
def is_proper(word: str) -> bool:
    """Whether a lower-cased word is most likely a name: a place, a person, an organisation."""
    if not word.isalpha():
        return False
    return bool(PROPER_TAGS & _analyzer().parse(word)[0].tag.grammemes)
