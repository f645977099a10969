"""Jinja filters for the pages: dates in the service's language and time zone, plurals, safe
links, lead sentences, thumbnails, search highlights and feed health in words.

Text from feeds is always escaped by Jinja; these filters only decide what to show, and
`safe_url` keeps any link that is not http(s) (`javascript:`, `data:`) off the page.
"""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo
from urllib.parse import urlsplit

from babel import Locale
from babel.dates import format_date, format_datetime
from flask import Flask
from markupsafe import Markup, escape

from aggregator.pipeline.lemmas import WORD, analyse
from aggregator.storage.views import StoryView

PLURAL_FORMS = {
    "источник": {"one": "источник", "few": "источника", "many": "источников", "other": "источника"},
    "сюжет": {"one": "сюжет", "few": "сюжета", "many": "сюжетов", "other": "сюжета"},
    "публикация": {"one": "публикация", "few": "публикации", "many": "публикаций", "other": "публикации"},
    "лента": {"one": "лента", "few": "ленты", "many": "лент", "other": "ленты"},
    "источников": {"one": "источника", "few": "источников", "many": "источников", "other": "источника"},  # «из 5 источников»
    "не работает": {"one": "не работает", "few": "не работают", "many": "не работают", "other": "не работают"},
    "не проверялся": {"one": "не проверялся", "few": "не проверялись", "many": "не проверялись", "other": "не проверялись"},
}
FEED_STATUS_WORDS = {
    "ok": "работает",
    "new": "ещё не проверялась",
    "disabled": "отключена",
    "gone": "лента удалена у издателя",
    "timeout": "сайт не ответил вовремя",
    "connection_error": "не удалось подключиться к сайту",
    "dns_error": "адрес сайта не найден",
    "bad_redirect": "неверное перенаправление",
    "too_many_redirects": "слишком много перенаправлений",
    "refused_url": "адрес ленты не http(s)",
    "refused_address": "адрес во внутренней сети: загрузка запрещена",
    "too_large": "лента слишком большая",
    "not_a_feed": "по адресу не лента",
    "internal_error": "ошибка сервиса (не издателя)",
    "store_error": "ошибка сервиса (не издателя): не удалось сохранить новости",
    "http_401": "доступ закрыт (HTTP 401)",
    "http_403": "доступ запрещён (HTTP 403)",
    "http_404": "лента не найдена (HTTP 404)",
    "http_410": "лента удалена (HTTP 410)",
    "http_429": "сайт просит приходить реже (HTTP 429)",
}
HEALTHY_STATUSES = frozenset({"ok", "new", "disabled"})
LEAD_LIMIT = 240
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"„(A-ZА-ЯЁ0-9])")
ABBREVIATION = re.compile(r"\b(?:г|гг|ул|пр|просп|пер|им|д|корп|т|с|п|ст|руб|млн|млрд|тыс|см|др|[A-ZА-ЯЁ])\.$")


def init_app(app: Flask, language: str, timezone: tzinfo) -> None:
    locale = Locale.parse(language)

    def day(value: date | datetime, pattern: str = "d MMMM y") -> str:
        if isinstance(value, datetime):
            value = value.astimezone(timezone).date()
        return format_date(value, pattern, locale=locale)

    def clock(value: datetime) -> str:
        return format_datetime(value, "HH:mm", tzinfo=timezone, locale=locale)

    def when(value: datetime) -> str:
        return format_datetime(value, "d MMMM, HH:mm", tzinfo=timezone, locale=locale)

    def agree(count: int, word: str) -> str:
        """The word in the form a count asks for, without the count («не работают»)."""
        forms = PLURAL_FORMS.get(word)
        return forms[locale.plural_form(count)] if forms else word

    def plural(count: int, word: str) -> str:
        return f"{count} {agree(count, word)}"

    for name, function in (
        ("day", day),
        ("clock", clock),
        ("when", when),
        ("plural", plural),
        ("agree", agree),
        ("highlight", highlight),
        ("safe_url", safe_url),
        ("lead_sentence", lead_sentence),
        ("thumbnail", thumbnail),
        ("feed_status", feed_status),
    ):
        app.add_template_filter(function, name)
    app.add_template_test(feed_is_broken, "broken_feed")
    app.add_template_global(tuple(locale.days["stand-alone"]["abbreviated"][weekday] for weekday in range(7)), "weekday_names")


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


def safe_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) one, else None: such links are not shown."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def lead_sentence(text: str, limit: int = LEAD_LIMIT) -> str:
    """The first sentence of a summary (abbreviations and initials do not end it), at most
    `limit` characters, cut at a word."""
    text = " ".join(text.split())
    sentence, rest = text, ""
    for match in SENTENCE_END.finditer(text):
        if not ABBREVIATION.search(text[: match.start()]):
            sentence, rest = text[: match.start()], text[match.end() :]
            break
    if len(sentence) <= limit:
        return sentence
    cut = sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:—-– ")
    return cut + "…" if cut != sentence or rest else cut


def thumbnail(story: StoryView) -> str | None:
    """The story's picture (`StoryView.image_url`: the lead's, else the first outlet's that has one)."""
    return safe_url(story.image_url)


def feed_status(status: str) -> str:
    """A feed's health status in words a person reads."""
    if status in FEED_STATUS_WORDS:
        return FEED_STATUS_WORDS[status]
    if status.startswith("http_5"):
        return f"ошибка на сайте издателя (HTTP {status[5:]})"
    if status.startswith("http_"):
        return f"сайт ответил ошибкой (HTTP {status[5:]})"
    return status.replace("_", " ")


def feed_is_broken(status: str) -> bool:
    return status not in HEALTHY_STATUSES
