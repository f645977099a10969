"""Jinja filters for the pages: dates in the service's language and time zone, plurals."""

from __future__ import annotations

from datetime import date, datetime

from markupsafe import Markup, escape

from babel import Locale
from babel.dates import format_date, format_datetime
from flask import Flask

from aggregator.pipeline.lemmas import WORD, analyse

PLURAL_FORMS = {"источник": {"one": "источник", "few": "источника", "many": "источников", "other": "источника"}}


def init_app(app: Flask, language: str, timezone) -> None:  # noqa: ANN001 - a ZoneInfo
    locale = Locale.parse(language)

    def day(value: date | datetime, pattern: str = "d MMMM y") -> str:
        if isinstance(value, datetime):
            value = value.astimezone(timezone).date()
        return format_date(value, pattern, locale=locale)

    def clock(value: datetime) -> str:
        return format_datetime(value, "HH:mm", tzinfo=timezone, locale=locale)

    def when(value: datetime) -> str:
        return format_datetime(value, "d MMMM, HH:mm", tzinfo=timezone, locale=locale)

    def plural(count: int, word: str) -> str:
        forms = PLURAL_FORMS.get(word)
        return f"{count} {forms[locale.plural_form(count)] if forms else word}"

    app.add_template_filter(highlight, "highlight")
    app.add_template_filter(day, "day")
    app.add_template_filter(clock, "clock")
    app.add_template_filter(when, "when")
    app.add_template_filter(plural, "plural")


def highlight(text: str, lemmas: tuple[str, ...]) -> Markup:
    """The text, escaped, with every word whose lemma was searched for in <mark>."""
    wanted, out, last = set(lemmas), [], 0
    for match in WORD.finditer(text):
        word = match.group(0)
        out.append(escape(text[last : match.start()]))
        hit = analyse(word.lower().replace("ё", "е"))[0] in wanted
        out.append(Markup("<mark>%s</mark>") % word if hit else escape(word))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)
