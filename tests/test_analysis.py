"""One reading of an item's text serves topics and search: the same words, lemmas and features
as each read for itself before, and a text read once however many stages ask."""

from __future__ import annotations

import json

import pytest

from aggregator.pipeline import analysis
from aggregator.pipeline.analysis import analyse, passage, search_lemmas
from aggregator.pipeline.lemmas import analyse as lemma_of
from aggregator.pipeline.lemmas import content_lemmas, words
from aggregator.pipeline.topic_model import load_examples
from aggregator.pipeline.topic_text import item_text, lemmatise
from conftest import SHARED

AWKWARD = [
    "Томь-ТГУ победил «Енисей» 3:1, а ХК «Томск» уступил",
    "В 14,5 км от Томска ёлки. COVID-19, 5G и Wi-Fi — ЁЖ ёж; ещё 2-3 раза",
    "А. С. Пушкин и И.И. Иванов в Санкт-Петербурге",
    "- -- a-b-c 1-2 ё-ё",
    "",
    "   ",
    "Улица 79-й Гвардейской дивизии: ремонт до 1 сентября!",
]


def old_lemmatise(text: str) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """How topic_text read a text before the shared reading: its own pass over every word."""
    tokens, content = [], []
    for word in words(text):
        for part in word.split("-"):
            lemma, function_word = lemma_of(part)
            tokens.append((lemma, part))
            if not function_word and len(lemma) > 1 and not lemma[0].isdigit():
                content.append(lemma)
    return tuple(tokens), content


def texts() -> list[str]:
    shipped = [text for example in load_examples() for text in (example.title, example.summary)]
    return AWKWARD + shipped


def dev_texts() -> list[str]:
    path = SHARED / "data" / "topics_dev.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [text for row in rows for text in (row["title"], row["summary"])]


def test_topic_words_are_what_topics_read_before_on_every_shipped_example():
    for text in texts():
        assert lemmatise(text) == old_lemmatise(text), text


@pytest.mark.corpus
@pytest.mark.skipif(not (SHARED / "data" / "topics_dev.jsonl").exists(), reason="../shared/data is absent")
def test_topic_words_and_search_lemmas_are_unchanged_on_the_dev_set():
    for text in dev_texts():
        assert lemmatise(text) == old_lemmatise(text), text
        assert search_lemmas(text) == content_lemmas(text), text


@pytest.mark.parametrize("text", AWKWARD)
def test_search_lemmas_are_what_search_indexed_before(text):
    assert search_lemmas(text) == content_lemmas(text)
    assert search_lemmas("Заголовок про Томь-ТГУ", text, "Полный текст") == content_lemmas(f"Заголовок про Томь-ТГУ\n{text}\nПолный текст")


def test_features_count_headline_lemmas_twice_and_hyphenated_words_as_their_parts():
    text = item_text("Томь-ТГУ выиграла", "Команда выиграла матч")
    assert ("томь", "томь") in text.title and ("тгу", "тгу") in text.title
    assert "t:выиграть" in text.features and "выиграть матч" in text.features
    assert search_lemmas("Томь-ТГУ выиграла") == ["томь-тгу", "выиграть"]  # search keeps the word whole


def test_a_text_is_read_once_however_many_stages_ask():
    text = "Новая уникальная фраза для проверки памяти анализа, 2026"
    first = analyse("Заголовок", text)
    assert analyse("Другой заголовок", text).text is first.text
    assert passage(text) is first.text
    assert analysis.passage.cache_info().maxsize == analysis.PASSAGES


def test_story_tokens_mark_names_numbers_and_sentence_starts():
    tokens = passage("«Томь» обыграла «Енисей» 3:1. Матч прошёл в Томске, забил Иванов. ФСБ молчит").tokens
    by_form = {t.form: t for t in tokens}
    assert by_form["томь"].name and by_form["енисей"].name  # in quotes
    assert by_form["томске"].name and by_form["иванов"].name  # capitalised inside a sentence
    assert not by_form["матч"].name  # capitalised only because a sentence starts
    assert by_form["фсб"].name  # all capitals
    assert by_form["3:1"].number and by_form["3:1"].written == "3:1"
    assert by_form["обыграла"].lemma == "обыграть" and by_form["в"].function


@pytest.mark.parametrize(
    ("text", "value"), [("14,5 км", "#14.5"), ("14.5 км", "#14.5"), ("счёт 3:1", "#3:1"), ("1,000,000 рублей", "#1.000.000")]
)
def test_a_figure_reads_as_one_value_however_its_decimal_point_is_written(text, value):
    (number,) = [t for t in passage(text).tokens if t.number]
    assert number.lemma == value and not number.name and not number.function


def test_one_word_is_one_object_wherever_it_appears():
    first, second = passage("Трамваи пошли по новой линии").words, passage("Новые трамваи пошли в депо").words
    assert first[0] is second[1] and first[1] is second[2]
