"""The topic model is fitted once for its inputs and kept: a restart reads it, a changed input
(correction, keyword, features) or a broken file means a fit, never a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.pipeline import classify, topic_cache
from aggregator.pipeline.classify import LabelledText, TopicClassifier, TopicInput
from aggregator.pipeline.encoder import NoEncoder
from aggregator.settings import Settings, settings_from_dict

EXAMPLES = [
    LabelledText("Хоккеисты выиграли матч у гостей", "Команда забросила три шайбы в третьем периоде.", "sport"),
    LabelledText("Футбольный клуб сыграл вничью", "Матч прошёл на стадионе при полных трибунах.", "sport"),
    LabelledText("Лыжники открыли сезон гонкой", "Спортсмены пробежали десять километров.", "sport"),
    LabelledText("Театр показал премьеру спектакля", "Зрители аплодировали актёрам стоя.", "culture"),
    LabelledText("В музее открылась выставка картин", "Экспозиция продлится до весны.", "culture"),
    LabelledText("Оркестр филармонии дал концерт", "Прозвучали произведения Чайковского.", "culture"),
]
MATCH = TopicInput("Хоккейный матч закончился победой хозяев", "Шайбу забросили в овертайме.")


def settings(sport_keywords: tuple[str, ...] = ("матч",)) -> Settings:
    topics = {
        "sport": {"title": "Спорт", "keywords": list(sport_keywords)},
        "culture": {"title": "Культура", "keywords": ["театр"]},
    }
    return settings_from_dict({"topics": topics})


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the model was fitted (one entry a fit)."""
    done: list[int] = []
    real = classify.fit_topics

    def counting(*args):
        done.append(1)
        return real(*args)

    monkeypatch.setattr(classify, "fit_topics", counting)
    return done


def build(folder: Path, config: Settings | None = None, corrections: list[LabelledText] | None = None, **options) -> TopicClassifier:
    return TopicClassifier.from_settings(config or settings(), corrections or [], shipped=EXAMPLES, model_folder=folder, **options)


def test_a_second_start_reads_the_kept_model_instead_of_fitting(tmp_path, fits):
    first = build(tmp_path)
    second = build(tmp_path)
    assert len(fits) == 1
    assert (tmp_path / "topic-model.npz").exists()
    assert second.classify(MATCH) == first.classify(MATCH)
    assert second.explain(MATCH) == first.explain(MATCH)


def test_a_kept_model_is_the_fitted_one_array_for_array(tmp_path):
    fitted, kept = build(tmp_path).models, build(tmp_path).models
    for a, b in ((fitted.words, kept.words), (fitted.meaning, kept.meaning)):
        assert a is not None and b is not None
        assert b.topics == a.topics and b.names == a.names and b.idf == a.idf
        assert b.vocabulary == a.vocabulary
        assert (b.coef == a.coef).all() and (b.intercept == a.intercept).all()
    assert (kept.meaning.meaning_coef == fitted.meaning.meaning_coef).all()
    assert (kept.meaning.meaning_centre == fitted.meaning.meaning_centre).all()
    assert kept.words is not None and kept.words.meaning_coef is None


def test_another_encoder_refits(tmp_path, fits):
    build(tmp_path)
    words_only = build(tmp_path, encoder=NoEncoder())
    build(tmp_path)
    assert len(fits) == 3
    assert words_only.models.meaning is None


def test_a_new_correction_refits(tmp_path, fits):
    build(tmp_path)
    correction = LabelledText("Шахматный турнир собрал сто участников", "Победил гроссмейстер из Омска.", "sport")
    build(tmp_path, corrections=[correction])
    build(tmp_path, corrections=[correction])
    assert len(fits) == 2
    build(tmp_path, corrections=[LabelledText(correction.title, correction.summary, "culture")])
    assert len(fits) == 3


def test_a_changed_keyword_refits(tmp_path, fits):
    build(tmp_path)
    build(tmp_path, settings(("матч", "турнир")))
    assert len(fits) == 2


def test_other_features_refit(tmp_path, fits):
    build(tmp_path)
    build(tmp_path, features="lemma-ngrams-and-vectors-1")
    assert len(fits) == 2


@pytest.mark.parametrize("garbage", [b"", b"not a zip file", b"PK\x03\x04 truncated zip"], ids=["empty", "text", "truncated"])
def test_a_corrupt_file_is_fitted_again_and_replaced(tmp_path, fits, garbage):
    expected = build(tmp_path).classify(MATCH)
    (tmp_path / "topic-model.npz").write_bytes(garbage)
    assert build(tmp_path).classify(MATCH) == expected
    assert len(fits) == 2
    build(tmp_path)
    assert len(fits) == 2  # the file written by the refit is whole


def test_a_folder_that_cannot_be_written_still_gives_a_classifier(tmp_path, fits):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    classifier = build(blocker / "cache")
    assert classifier.classify(MATCH).primary == "sport"
    assert len(fits) == 1
    assert not list(tmp_path.glob("**/.topic-model-*"))  # no temporary file left behind


def test_the_model_is_kept_beside_a_sqlite_database_else_in_the_users_cache(tmp_path, monkeypatch):
    beside = settings_from_dict({"database": {"url": f"sqlite:///{tmp_path / 'db' / 'news.db'}"}})
    assert topic_cache.model_folder(beside) == tmp_path / "db" / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    postgres = settings_from_dict({"database": {"url": "postgresql+psycopg://user@db.internal/news"}})
    assert topic_cache.model_folder(postgres) == tmp_path / "xdg" / "aggregator"
    memory = settings_from_dict({"database": {"url": "sqlite:///:memory:"}})
    assert topic_cache.model_folder(memory) == tmp_path / "xdg" / "aggregator"


def test_by_default_the_model_goes_beside_the_database(tmp_path, fits):
    config = settings_from_dict({"topics": settings().model_dump()["topics"], "database": {"url": f"sqlite:///{tmp_path / 'news.db'}"}})
    TopicClassifier.from_settings(config, shipped=EXAMPLES)
    TopicClassifier.from_settings(config, shipped=EXAMPLES)
    assert (tmp_path / "cache" / "topic-model.npz").exists()
    assert len(fits) == 1
