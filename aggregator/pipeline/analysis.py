"""An item's text read once: its words with their lemmas, for every stage that reads words.

`analyse(title, text)` gives an `Analysis`: the headline and the text as `Passage`s. A passage
is the plain text with two readings, each made on first use: its words (`Word`: the form
lower-cased with «ё» as «е», its lemma, whether it is a function word, and a hyphenated word's
parts read alone), which topics and search read, and its tokens (`Token`: numbers with their
separators, the word as written, whether it stands for a name, at a sentence start or in
quotes), which story grouping reads. Passages are memoised per distinct text (bounded), so one
wording that arrives from several outlets, or that topics, search and stories each read, is
scanned and lemmatised once; an item loaded only to be compared with others never has its
`words` made.

Which words count is each reader's own choice, made over these: `topic_text` (parts of
hyphenated words, no numbers), `search_lemmas` (whole words) here, story grouping its stop
list. The lemmas themselves are `lemmas`' business.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache

from aggregator.pipeline.lemmas import WORD, is_content, is_proper
from aggregator.pipeline.lemmas import analyse as lemma_of

STORY_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[A-Za-zА-Яа-яЁё]+(?:-[A-Za-zА-Яа-яЁё]+)*|[.!?«»\"]")
SENTENCE_END = frozenset(".!?")
QUOTES = frozenset('«»"')
PASSAGES = 1024  # distinct texts remembered (a few feeds' headlines and texts): at most about 4 MB


@dataclass(frozen=True, slots=True)
class Word:
    """One word: lower-cased, «ё» as «е» (`form`), its lemma, and whether it is a function word
    (preposition, conjunction, particle, interjection). A hyphenated word is read whole, and
    each of its `parts` alone («томь-тгу»: «томь», «тгу»)."""

    form: str
    lemma: str
    function: bool
    parts: tuple[Word, ...] = ()

    def pieces(self) -> tuple[Word, ...]:
        """The word's parts, or the word itself when it has no hyphen."""
        return self.parts or (self,)


@dataclass(frozen=True, slots=True)
class Token:
    """A token as story grouping reads it: a number with its separators («14,5», «3:1») or a
    word of letters (hyphens kept), as `written` and as `form`, with its lemma. A number's lemma
    is its value marked with «#», a decimal comma read as a point («14,5» -> «#14.5»): the same
    however it is written, never a word's lemma. `name` says the word stands for a name: quoted,
    all capitals, or capitalised where a sentence does not start (at a start, only if the
    dictionary knows it as a name)."""

    written: str
    form: str
    lemma: str
    function: bool
    number: bool
    name: bool


@dataclass(frozen=True)
class Passage:
    """A headline or a text, read once."""

    text: str

    @cached_property
    def words(self) -> tuple[Word, ...]:
        """Its words with their lemmas (computed on first use)."""
        return tuple(_word(w.lower().replace("ё", "е")) for w in WORD.findall(self.text))

    @cached_property
    def tokens(self) -> tuple[Token, ...]:
        """The tokens story grouping reads, sentence marks and quotes consumed (computed on first use)."""
        return tuple(_story_tokens(self.text))


@dataclass(frozen=True)
class Analysis:
    """An item's headline and text, each read once."""

    title: Passage
    text: Passage


def analyse(title: str, text: str) -> Analysis:
    """The item's headline and text, read (or found already read)."""
    return Analysis(passage(title), passage(text))


@lru_cache(maxsize=PASSAGES)
def passage(text: str) -> Passage:
    """One text, read (its words, its tokens) on first use of each, memoised per distinct text."""
    return Passage(text)


@lru_cache(maxsize=100_000)  # as many word forms as `lemmas.analyse` keeps; one object a form
def _word(form: str) -> Word:
    lemma, function = lemma_of(form)
    parts = tuple(_word(part) for part in form.split("-")) if "-" in form else ()
    return Word(sys.intern(form), lemma, function, parts)


def search_lemmas(*texts: str) -> list[str]:
    """What full-text search indexes of the texts: each whole word's lemma, without function
    words or one-letter lemmas (the query is read the same way, by `lemmas.content_lemmas`)."""
    return [w.lemma for text in texts for w in passage(text).words if is_content(w.lemma, w.function)]


def _story_tokens(text: str) -> Iterator[Token]:
    sentence_start, quoted = True, False
    for written in STORY_TOKEN.findall(text):
        if written in QUOTES:
            quoted = not quoted if written == '"' else written == "«"
        elif written in SENTENCE_END:
            sentence_start = True
        else:
            yield _token(written, sentence_start, quoted)
            sentence_start = False


@lru_cache(maxsize=50_000)  # news repeat their words: one token object per word and position
def _token(written: str, sentence_start: bool, quoted: bool) -> Token:
    if written[0].isdigit():
        form = sys.intern(written)
        return Token(form, form, sys.intern("#" + written.replace(",", ".")), False, number=True, name=False)
    form = sys.intern(written.lower().replace("ё", "е"))
    lemma, function = lemma_of(form)
    capital = written[0].isupper() and (not sentence_start or is_proper(form))
    name = quoted or capital or (len(written) > 1 and written.isupper())
    return Token(sys.intern(written), form, lemma, function, number=False, name=name)
