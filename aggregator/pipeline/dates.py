"""Dates as Russian news sites write them, read in the service's time zone.

«26 ноября 2026, 14:05», «26 нояб. 2026 г. в 14:05», «сегодня в 10:30», «вчера, 18:40»,
«5 минут назад», «час назад», «только что», «26.11.2026», «26.11.26 14:05», «14:05» (today),
ISO 8601 («2026-11-26T14:05:00+07:00», as in `<time datetime>`). A day without a year is the
latest such day not after `now`; a moment without a time of day is that day's midnight.
Words around the date (a weekday, «Опубликовано:», «г.») are ignored.

`read_date` is pure: the text, `now` and the zone in, an aware UTC datetime (or None when
no date is there) out. Which element holds the date is the scraper's business.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

MONTHS = {
    "янв": 1,
    "фев": 2,
    "мар": 3,
    "апр": 4,
    "май": 5,
    "мая": 5,
    "июн": 6,
    "июл": 7,
    "авг": 8,
    "сен": 9,
    "окт": 10,
    "ноя": 11,
    "дек": 12,
}
UNITS = {
    "сек": timedelta(seconds=1),
    "мин": timedelta(minutes=1),
    "час": timedelta(hours=1),
    "дн": timedelta(days=1),
    "ден": timedelta(days=1),
    "сут": timedelta(days=1),
    "нед": timedelta(weeks=1),
}
DAY_WORDS = {"сегодня": 0, "вчера": 1, "позавчера": 2}
NUMBER_WORDS = {"": 1, "одну": 1, "один": 1, "одна": 1, "два": 2, "две": 2, "три": 3, "четыре": 4, "пять": 5, "полчаса": 0.5}

ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(z|[+-]\d{2}:?\d{2})?)?")
TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?![\d])")
NUMERIC_DATE = re.compile(r"(?<![\d.])(\d{1,2})[./](\d{1,2})[./](\d{4}|\d{2})(?!\d)")
WORD_DATE = re.compile(r"(?<!\d)(\d{1,2})\s+([а-яё]{3,})\.?(?:\s*,?\s*(\d{4})(?!\d))?")
AGO = re.compile(r"(?:(\d+)|(одну|один|одна|два|две|три|четыре|пять))?\s*(сек|мин|час|дн|ден|сут|нед)[а-яё]*\.?\s+назад")
JUST_NOW = re.compile(r"только\s+что|полчаса\s+назад")
DAY_WORD = re.compile(r"\b(позавчера|вчера|сегодня)\b")
FUTURE_SLACK = timedelta(days=1)


def read_date(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    """The moment `text` names, in UTC, or None when it names none."""
    text = " ".join((text or "").replace("\xa0", " ").split()).lower()
    if not text:
        return None
    for reader in (_iso, _relative, _day_word, _numeric, _words, _time_only):
        found = reader(text, now, tz)
        if found is not None:
            return found.astimezone(UTC)
    return None


def _iso(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    match = ISO.search(text)
    if not match:
        return None
    year, month, day, hour, minute, second, offset = match.groups()
    clock = time(int(hour or 0), int(minute or 0), int(second or 0))
    moment = _local(int(year), int(month), int(day), clock, tz)
    if moment is None or offset is None:
        return moment
    zone = UTC if offset == "z" else _offset(offset)
    return moment.replace(tzinfo=zone)


def _offset(text: str) -> tzinfo:
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _relative(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    if JUST_NOW.search(text):
        return now - (timedelta(minutes=30) if "полчаса" in text else timedelta(0))
    match = AGO.search(text)
    if not match:
        return None
    digits, word, unit = match.groups()
    count = int(digits) if digits else NUMBER_WORDS[(word or "").lower()]
    return now - count * UNITS[unit.lower()]


def _day_word(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    match = DAY_WORD.search(text)
    if not match:
        return None
    day = now.astimezone(tz).date() - timedelta(days=DAY_WORDS[match.group(1)])
    return _on_day(day, _clock(text), tz)


def _numeric(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    match = NUMERIC_DATE.search(text)
    if not match:
        return None
    day, month, year = (int(part) for part in match.groups())
    year += 2000 if year < 100 else 0
    return _local(year, month, day, _clock(_without(text, match)), tz)


def _words(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    for match in WORD_DATE.finditer(text):
        month = MONTHS.get(match.group(2)[:3])
        if month is None:
            continue
        clock = _clock(_without(text, match))
        if match.group(3):
            return _local(int(match.group(3)), month, int(match.group(1)), clock, tz)
        return _latest(int(match.group(1)), month, clock, now, tz)
    return None


def _time_only(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    """A bare «14:05»: today, or yesterday when today's would be in the future."""
    clock = _clock(text)
    if clock is None:
        return None
    today = now.astimezone(tz).date()
    moment = _on_day(today, clock, tz)
    return moment - timedelta(days=1) if moment > now + timedelta(minutes=10) else moment


def _latest(day: int, month: int, clock: time | None, now: datetime, tz: tzinfo) -> datetime | None:
    """The given day of the current year, or of the last one when that is still to come."""
    year = now.astimezone(tz).year
    moment = _local(year, month, day, clock, tz)
    if moment is not None and moment > now + FUTURE_SLACK:
        return _local(year - 1, month, day, clock, tz)
    return moment


def _clock(text: str) -> time | None:
    match = TIME.search(text)
    return time(int(match.group(1)), int(match.group(2))) if match else None


def _without(text: str, match: re.Match[str]) -> str:
    return text[: match.start()] + " " + text[match.end() :]


def _local(year: int, month: int, day: int, clock: time | None, tz: tzinfo) -> datetime | None:
    try:
        return _on_day(date(year, month, day), clock, tz)
    except ValueError:
        return None


def _on_day(day: date, clock: time | None, tz: tzinfo) -> datetime:
    return datetime.combine(day, clock or time(0, 0), tzinfo=tz)
