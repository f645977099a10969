"""Topic classification as an editor and a curator meet it: word forms, phrases, vetoes,
feed hints, confidence, a topic added in config, corrections, and the explanation."""

from __future__ import annotations

import json
import tomllib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from aggregator.pipeline.classify import LabelledText, TopicClassifier, TopicInput
from aggregator.pipeline.topic_rules import compile_rules
from aggregator.settings import REPO_ROOT, settings_from_dict


def repo_config() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "config.toml").read_text(encoding="utf-8"))


def small_config(**topics: dict[str, Any]) -> dict[str, Any]:
    """Two shipped topics (so the model has something to learn) plus the ones under test."""
    return {
        "topics": {
            "sport": {"title": "Спорт", "keywords": ["матч", "турнир"], "categories": ["Спорт"]},
            "culture": {"title": "Культура", "keywords": ["театр", "концерт"], "categories": ["Культура"]},
            **topics,
        }
    }


def classifier_for(config: dict[str, Any], corrections: list[LabelledText] | None = None) -> TopicClassifier:
    return TopicClassifier.from_settings(settings_from_dict(config), corrections or ())


# Items in our own wording, one clear topic each (not copied from the shipped or dev sets).
CLEAR_ITEMS = [
    ("economy", "Томский машзавод удвоил выпуск насосов", "Предприятие получило заказы от нефтяников и наняло 200 рабочих."),
    ("economy", "Цены на гречку в магазинах области выросли на 20%", "Торговые сети объясняют подорожание слабым урожаем."),
    ("city", "Во дворах Октябрьского района заменят старые качели", "Управляющие компании установят новые детские площадки до осени."),
    ("city", "Дома на Мокрушина останутся без горячей воды на десять дней", "Теплосеть меняет изношенные трубы на магистрали."),
    ("transport", "Трамваи пойдут по новой линии до Степановки", "Пассажиры смогут доехать от вокзала до микрорайона без пересадок."),
    ("transport", "Ремонт дороги на Иркутском тракте закончат в августе", "Дорожники укладывают второй слой асфальта."),
    ("politics", "Облдума приняла закон о статусе многодетных семей", "Депутаты поддержали законопроект губернатора во втором чтении."),
    ("politics", "Кандидаты в гордуму начали собирать подписи", "Избирательная комиссия примет документы до конца месяца."),
    ("incidents", "В Асино сгорел жилой дом", "Пожарные эвакуировали шесть человек, погибших нет."),
    ("incidents", "Мошенники выманили у пенсионерки 300 тысяч рублей", "Полиция возбудила уголовное дело и ищет злоумышленников."),
    ("science", "Физики ТГУ получили грант на изучение новых сплавов", "Исследование займёт три года, к работе привлекут студентов."),
    ("science", "Школьники Северска написали ЕГЭ по химии лучше всех в области", "Учителя гимназии готовили выпускников два года."),
    ("culture", "Драмтеатр покажет премьеру по пьесе Вампилова", "Спектакль поставил молодой режиссёр, билеты уже в продаже."),
    ("culture", "В краеведческом музее открылась выставка старинных икон", "Экспозиция будет работать до конца зимы."),
    ("sport", "Хоккеисты Томска обыграли соперников из Омска", "Решающую шайбу забросил капитан команды в овертайме."),
    ("sport", "Томская пловчиха выиграла первенство России", "Спортсменка стала первой на дистанции 200 метров."),
    ("health", "В поликлиниках Томска началась вакцинация от гриппа", "Прививку можно сделать бесплатно по полису ОМС."),
    ("health", "Хирурги областной больницы провели сложную операцию на сердце", "Пациент уже выписан домой."),
]


@pytest.mark.parametrize(("topic", "title", "summary"), CLEAR_ITEMS, ids=[f"{t}-{i}" for i, (t, *_) in enumerate(CLEAR_ITEMS)])
def test_clear_items_get_their_topic(classifier: TopicClassifier, topic: str, title: str, summary: str) -> None:
    decision = classifier.classify(TopicInput(title, summary))
    assert decision.primary == topic, classifier.explain(TopicInput(title, summary))["reasons"]


@pytest.mark.parametrize("form", ["трамвай", "трамваи", "трамваем", "трамваями", "трамвая"])
def test_keyword_matches_any_word_form(classifier: TopicClassifier, form: str) -> None:
    explanation = classifier.explain(TopicInput(f"Новости о том, что {form} ходят иначе", ""))
    assert "трамвай" in explanation["per_topic"]["transport"]["keywords"]


def test_phrase_matches_consecutive_words_in_any_form() -> None:
    classifier = classifier_for(small_config(utilities={"title": "ЖКХ", "keywords": ["горячая вода"]}))
    hit = classifier.explain(TopicInput("Дома на Южной остались без горячей воды", ""))
    apart = classifier.explain(TopicInput("Горячий чай и холодная вода", ""))
    assert hit["per_topic"]["utilities"]["keywords"] == ["горячая вода"]
    assert apart["per_topic"]["utilities"]["keywords"] == []


def test_negative_phrase_rules_the_topic_out() -> None:
    item = TopicInput("Лыжную трассу в Академгородке подготовили к сезону", "Трасса освещена до десяти вечера.")
    roads = {"title": "Дороги", "keywords": ["трасса", "освещение"]}
    without = classifier_for(small_config(roads=roads)).classify(item)
    vetoed = classifier_for(small_config(roads={**roads, "negative": ["лыжная трасса"]}))
    assert without.primary == "roads"
    assert "roads" not in vetoed.classify(item).slugs
    assert vetoed.explain(item)["per_topic"]["roads"]["negative"] == ["лыжная трасса"]


AMBIGUOUS = TopicInput("На улице Ленина откроется новый объект", "Строительство завершат к осени.")


@pytest.mark.parametrize(
    ("category", "topic"), [("Спорт", "sport"), ("КУЛЬТУРА", "culture"), ("health", "health"), ("Экономика", "economy")]
)
def test_feed_category_decides_an_ambiguous_item(classifier: TopicClassifier, category: str, topic: str) -> None:
    decision = classifier.classify(TopicInput(AMBIGUOUS.title, AMBIGUOUS.summary, categories=("Новости", category)))
    assert decision.primary == topic
    assert any(category in reason for reason in decision.reasons)


def test_unknown_category_changes_nothing(classifier: TopicClassifier) -> None:
    plain = classifier.classify(AMBIGUOUS)
    assert classifier.classify(TopicInput(AMBIGUOUS.title, AMBIGUOUS.summary, categories=("Разное",))) == plain


def test_feed_topic_hint_decides_an_ambiguous_item(classifier: TopicClassifier) -> None:
    decision = classifier.classify(TopicInput(AMBIGUOUS.title, AMBIGUOUS.summary, feed_topic="politics"))
    assert decision.primary == "politics"
    assert "politics: the feed's topic hint" in decision.reasons


def test_feed_hint_does_not_override_a_clear_item(classifier: TopicClassifier) -> None:
    item = TopicInput("Томские боксёры завоевали пять медалей", "Турнир прошёл в Кемерове.", feed_topic="politics")
    assert classifier.classify(item).primary == "sport"


def test_item_without_evidence_gets_no_primary(classifier: TopicClassifier) -> None:
    decision = classifier.classify(TopicInput("Что изменится с 1 марта", "Рассказываем о главных изменениях."))
    assert decision.primary is None
    assert decision.reasons[0].startswith("confidence below")


def test_confidence_floor_comes_from_config() -> None:
    config = repo_config()
    config["classifier"] = {"min_confidence": 0.9, "secondary_ratio": 0.5}
    strict = classifier_for(config)
    decision = strict.classify(TopicInput("В Томске открылся новый центр", "Посетителей ждут с понедельника."))
    assert decision.primary is None
    assert decision.topics, "candidates are still listed"


def test_topic_added_in_config_works_without_code() -> None:
    config = repo_config()
    config["topics"]["ecology"] = {
        "title": "Экология",
        "keywords": ["экология", "эколог", "загрязнение", "выброс", "вредные вещества", "Росприроднадзор"],
    }
    classifier = classifier_for(config)
    ecology = TopicInput("Экологи нашли загрязнение в Ушайке", "Росприроднадзор ищет источник выбросов нефтепродуктов.")
    assert classifier.classify(ecology).primary == "ecology"
    skiing = TopicInput("Лыжники Томска выиграли эстафету", "Команда опередила соперников на минуту.")
    assert classifier.classify(skiing).primary == "sport"
    assert classifier.classify(TopicInput("Новые новости", "", categories=("Экология",))).primary == "ecology"


def test_corrections_teach_the_model() -> None:
    item = TopicInput("В баре на Ленина прошёл квиз", "Команды отвечали на вопросы о кино.")
    corrections = [
        LabelledText("Квиз собрал двадцать команд", "Игроки отвечали на вопросы ведущего.", "culture"),
        LabelledText("Новый сезон квизов стартует в пятницу", "Знатоки соберутся в антикафе.", "culture"),
        LabelledText("Квиз для студентов прошёл в библиотеке", "Победители получили книги.", "culture"),
    ]
    before = classifier_for(small_config()).explain(item)["per_topic"]["culture"]["model"]
    after = classifier_for(small_config(), corrections).explain(item)["per_topic"]["culture"]["model"]
    assert after > before


def test_scores_are_confidences_sorted_with_primary_first(classifier: TopicClassifier) -> None:
    item = TopicInput("Пожар в больнице: пациентов эвакуировали", "Огонь повредил отделение хирургии.")
    decision = classifier.classify(item)
    scores = [topic.score for topic in decision.topics]
    assert decision.primary == decision.topics[0].slug
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= score <= 1.0 for score in scores)


def test_classify_is_deterministic_across_threads(classifier: TopicClassifier) -> None:
    items = [TopicInput(title, summary) for _, title, summary in CLEAR_ITEMS] * 5
    expected = [classifier.classify(item) for item in items]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(classifier.classify, items)) == expected


def test_explain_names_the_matching_keyword(classifier: TopicClassifier) -> None:
    item = TopicInput("На Каштаке горел гараж", "Пожар потушили за час.")
    explanation = classifier.explain(item)
    incidents = explanation["per_topic"]["incidents"]
    assert explanation["primary"] == "incidents"
    assert "пожар" in incidents["keywords"]
    assert incidents["terms"], "the strongest model terms are listed"
    assert any("«пожар»" in reason for reason in explanation["reasons"])
    json.dumps(explanation)  # the API can return it as it is


def test_explain_lists_model_terms_strongest_first(classifier: TopicClassifier) -> None:
    item = TopicInput("Мошенники выманили у пенсионерки 300 тысяч рублей", "Полиция возбудила уголовное дело.")
    for slug, topic in classifier.explain(item)["per_topic"].items():
        pushes = [push for _, push in topic["terms"]]
        assert pushes == sorted(pushes, reverse=True), slug
        assert len(pushes) <= 5 and all(push >= 0 for push in pushes), slug  # pushes are rounded


def test_keyword_weight_suffix() -> None:
    rules = compile_rules("incidents", ["ДТП^2", "пожар", "уголовное дело"])
    assert {rule.written: rule.weight for rule in rules} == {"ДТП": 2.0, "пожар": 1.0, "уголовное дело": 1.5}


def test_rules_alone_work_without_examples() -> None:
    classifier = classifier_for(
        {
            "topics": {
                "ecology": {"title": "Экология", "keywords": ["загрязнение"]},
                "birds": {"title": "Птицы", "keywords": ["снегирь"]},
            }
        }
    )
    assert classifier.models.words is None and classifier.models.meaning is None
    assert classifier.classify(TopicInput("Снегири прилетели в город", "")).primary == "birds"
