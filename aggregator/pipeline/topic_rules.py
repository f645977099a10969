"""Topic rules from `config.toml`: keywords and negative phrases, matched in any word form.

Each keyword is lemmatised at load (`compile_rules`); a multi-word keyword matches consecutive
words and weighs more (`PHRASE_WEIGHT`); `"слово^2"` doubles a keyword's weight; a `negative`
phrase rules its topic out. `RuleIndex` finds every rule an item's tokens match. How much a
match moves a topic is the classifier's business (`classify`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from aggregator.pipeline.topic_text import Token, lemmatise

WEIGHT_SUFFIX = re.compile(r"\^(\d+(?:\.\d+)?)$")
PHRASE_WEIGHT = 1.5  # a multi-word keyword is more specific than a single word


@dataclass(frozen=True)
class Rule:
    """A keyword or negative phrase of a topic: per word, the forms that match it."""

    topic: str
    forms: tuple[frozenset[str], ...]  # the lemma and the form as written (pymorphy may guess)
    written: str
    weight: float = 1.0
    negative: bool = False


def compile_rules(slug: str, keywords: Iterable[str], negative: Iterable[str] = ()) -> list[Rule]:
    """A topic's keywords (with optional `^weight`) and negative phrases, as word forms."""
    rules = []
    for text, is_negative in [*((k, False) for k in keywords), *((n, True) for n in negative)]:
        weight, bare = 1.0, text.strip()
        if match := WEIGHT_SUFFIX.search(bare):
            weight, bare = float(match.group(1)), bare[: match.start()].strip()
        tokens, _ = lemmatise(bare)
        if tokens:
            weight *= PHRASE_WEIGHT if len(tokens) > 1 else 1.0
            rules.append(Rule(slug, tuple(frozenset(token) for token in tokens), bare, weight, is_negative))
    return rules


class RuleIndex:
    """Every topic's rules, indexed by the forms of their first word. A text's single-word rules
    are one set intersection away; a phrase is looked for word by word only when every one of
    its words occurs somewhere in the text, which is rare."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._words: dict[str, list[Rule]] = {}  # single-word rules by form
        self._phrases: dict[str, list[Rule]] = {}  # multi-word rules by a form of their first word
        for rule in rules:
            index = self._words if len(rule.forms) == 1 else self._phrases
            for form in rule.forms[0]:
                index.setdefault(form, []).append(rule)

    def matches(self, tokens: tuple[Token, ...]) -> set[Rule]:
        forms = {form for token in tokens for form in token}
        found = {rule for form in forms & self._words.keys() for rule in self._words[form]}
        phrases = {
            rule
            for form in forms & self._phrases.keys()
            for rule in self._phrases[form]
            if all(not forms.isdisjoint(word_forms) for word_forms in rule.forms[1:])
        }
        for rule in phrases:
            starts = (start for start, token in enumerate(tokens) if not rule.forms[0].isdisjoint(token))
            if any(_matches_at(rule, tokens, start) for start in starts):
                found.add(rule)
        return found


def _matches_at(rule: Rule, tokens: tuple[Token, ...], start: int) -> bool:
    following = tokens[start : start + len(rule.forms)]
    return len(following) == len(rule.forms) and all(
        lemma in forms or word in forms for forms, (lemma, word) in zip(rule.forms, following, strict=True)
    )
