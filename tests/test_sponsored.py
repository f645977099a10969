"""Advertising is recognised by its legal labels, not by the word «реклама» in news."""

from datetime import UTC, datetime

import pytest

from aggregator.entities import ItemData
from aggregator.pipeline.sponsored import SponsoredRules, is_sponsored
from aggregator.settings import SponsoredSettings

RULES = SponsoredRules.build(**SponsoredSettings().model_dump())


def item(title: str, summary: str = "", categories: tuple[str, ...] = ()) -> ItemData:
    return ItemData(
        guid="g",
        url="https://s.example/1",
        title=title,
        summary=summary,
        content_html="",
        published=datetime(2026, 11, 25, tzinfo=UTC),
        content_hash="h",
        categories=categories,
    )


@pytest.mark.parametrize(
    "ad",
    [
        item("Квартиры с ипотекой от 5,9%", "Реклама. Застройщик открыл продажи."),
        item("Скидки в торговом центре", "Успейте до конца недели. erid: 2VtzqxW7bRk"),
        item("Лучшие окна в городе", "На правах рекламы"),
        item("Как выбрать банк", "Партнёрский материал о вкладах."),
        item("Новый салон красоты", "Открылся на Ленина", categories=("Партнерский проект",)),
        item("Реклама: тур на Алтай", ""),
    ],
)
def test_labelled_advertising_is_recognised(ad):
    assert is_sponsored(ad, RULES)


@pytest.mark.parametrize(
    "news",
    [
        item("Дума приняла закон о наружной рекламе", "Рекламные щиты уберут с проспекта Ленина."),
        item("ФАС оштрафовала застройщика за недостоверную рекламу", "Штраф составил 200 тысяч рублей."),
        item("Пожар на Гоголя", "Огонь охватил второй этаж.", categories=("Происшествия",)),
    ],
)
def test_news_about_advertising_is_not_advertising(news):
    assert not is_sponsored(news, RULES)
