"""Jinja filters for the pages: dates in the service's language and time zone, plurals."""

from __future__ import annotations

from datetime import date, datetime

from babel import Locale
from babel.dates import format_date, format_datetime
from flask import Flask

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

    app.add_template_filter(day, "day")
    app.add_template_filter(clock, "clock")
    app.add_template_filter(when, "when")
    app.add_template_filter(plural, "plural")
