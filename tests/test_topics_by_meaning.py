"""Topics by meaning: the sentence encoder's vector of an item counts beside its words, so a
headline that names no keyword still finds its topic; with `[stories] encoder = "none"` topics
come from words as before; the examples' vectors kept in the repository are checked against the
examples they were computed from."""

from __future__ import annotations

import json
import logging
import tomllib
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from aggregator import create_app
from aggregator.pipeline import logistic, topic_vectors
from aggregator.pipeline.classify import LabelledText, TopicClassifier, TopicInput
from aggregator.pipeline.encoder import E5Encoder, item_text
from aggregator.settings import REPO_ROOT, settings_from_dict
from conftest import config_dict

ENCODER = E5Encoder()

# Our own wording: no configured keyword, and few lemmas the examples use for the topic.
PARAPHRASES = [
    ("sport", "Биатлонистка из Томска взяла серебро", ""),
    ("science", "Томские астрономы открыли новую комету", ""),
]


def read(title: str, summary: str = "", **hints: object) -> TopicInput:
    """The item as `decide` gives it to the classifier: with the encoder's vector."""
    return TopicInput(title, summary, vector=ENCODER.encode([item_text(title, summary)])[0], **hints)


@pytest.mark.parametrize(("topic", "title", "summary"), PARAPHRASES, ids=[topic for topic, *_ in PARAPHRASES])
def test_a_headline_naming_no_keyword_finds_its_topic_by_meaning(classifier, topic, title, summary):
    item = read(title, summary)
    explanation = classifier.explain(item)
    assert not any(reasons["keywords"] for reasons in explanation["per_topic"].values())
    assert explanation["primary"] == topic, explanation["reasons"]
    assert explanation["per_topic"][topic]["meaning"] > 0  # the vector pushed towards it


@pytest.mark.parametrize("title", ["Фото без подписи", "Видео без подписи", "Читайте также"])
def test_a_headline_of_a_word_or_two_gets_no_topic_from_its_vector(classifier, title):
    """A caption-less photo post and the like: too few words for meaning to tell a topic."""
    assert classifier.classify(read(title)).primary is None
    assert classifier.classify(read(title)) == classifier.classify(TopicInput(title, ""))


def test_an_item_without_a_vector_is_read_by_words_as_before(classifier, tmp_path):
    config = tomllib.loads((REPO_ROOT / "config.toml").read_text(encoding="utf-8"))
    words_only = TopicClassifier.from_settings(
        settings_from_dict({"topics": config["topics"], "stories": {"encoder": "none"}}), model_folder=tmp_path
    )
    assert words_only.models.meaning is None
    for _, title, summary in PARAPHRASES:
        plain = TopicInput(title, summary)
        assert words_only.classify(plain) == classifier.classify(plain)  # the e5 classifier's words-only model
        assert words_only.classify(read(title, summary)) == words_only.classify(plain)  # a stored vector is ignored
    assert (
        words_only.classify(TopicInput("Хоккеисты Томска обыграли соперников из Омска", "Шайбу забросили в овертайме.")).primary == "sport"
    )


def test_the_kept_vectors_are_those_of_the_shipped_examples():
    kept = topic_vectors.shipped_vectors(topic_vectors.SHIPPED_VECTORS, topic_vectors.SHIPPED_EXAMPLES, topic_vectors.identity(ENCODER))
    examples = topic_vectors.load_examples()
    assert len(kept) == len({item_text(e.title, e.summary) for e in examples}), "run `python -m aggregator.pipeline.topic_vectors`"
    first = examples[0]
    fresh = ENCODER.encode([item_text(first.title, first.summary)])[0]
    assert float(kept[item_text(first.title, first.summary)] @ fresh) > 0.999


def paraphrase_feed(lead: str = "") -> str:
    items = "".join(
        f"<item><title>{title}</title><link>https://meaning.example/{n}</link><description>{lead}</description>"
        f"<pubDate>Wed, 25 Nov 2026 0{n}:00:00 +0000</pubDate></item>"
        for n, (_, title, _) in enumerate(PARAPHRASES)
    )
    return f'<rss version="2.0"><channel><title>Смысл</title>{items}</channel></rss>'


def test_topics_by_meaning_survive_an_edited_item_and_reclassify(tmp_path, feed_server, make_service, clock):
    service = make_service(settings_from_dict(config_dict(tmp_path, {"Смысл": feed_server.serve("/meaning.xml", paraphrase_feed())})))
    site = create_app(service=service).test_client()
    expected = {title: topic for topic, title, _ in PARAPHRASES}

    def topics() -> dict[str, str]:
        return {item["title"]: item["topic"] for item in site.get("/api/items").json["items"]}

    service.poll(include_all=True)
    assert topics() == expected
    feed_server.serve("/meaning.xml", paraphrase_feed("Подробности позже."))  # the outlet edits both items
    clock[0] += timedelta(minutes=30)
    assert service.poll(include_all=True).feeds[0].updated == len(PARAPHRASES)
    assert topics() == expected  # decided again with the vector stored when they were new
    clock[0] += timedelta(minutes=30)
    service.reclassify()
    assert topics() == expected


def test_the_explanation_of_an_item_reads_the_meaning_its_topic_came_from(tmp_path, feed_server, make_service):
    """An editor asking why an item has its topic is shown the model that gave it, vector included."""
    service = make_service(settings_from_dict(config_dict(tmp_path, {"Смысл": feed_server.serve("/meaning.xml", paraphrase_feed())})))
    site = create_app(service=service).test_client()
    service.poll(include_all=True)
    for item in site.get("/api/items").json["items"]:
        why = site.get(f"/api/items/{item['id']}/explain").json["explanation"]
        assert why["primary"] == item["topic"]
        assert why["per_topic"][item["topic"]]["meaning"] is not None, why


EXAMPLES = [
    LabelledText("Хоккеисты выиграли матч у гостей", "Команда забросила три шайбы.", "sport"),
    LabelledText("Театр показал премьеру спектакля", "Зрители аплодировали стоя.", "culture"),
]


@pytest.fixture
def examples_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny shipped set, with its vectors kept beside it, standing in for the repository's."""
    path = tmp_path / "labelled_topics.jsonl"
    path.write_text("".join(json.dumps({"title": e.title, "summary": e.summary, "topic": e.topic}) + "\n" for e in EXAMPLES))
    monkeypatch.setattr(topic_vectors, "SHIPPED_EXAMPLES", path)
    monkeypatch.setattr(topic_vectors, "SHIPPED_VECTORS", path.with_suffix(".e5.npz"))
    topic_vectors.write_shipped_vectors(ENCODER, path.with_suffix(".e5.npz"), path)
    return path


def test_current_kept_vectors_are_read_not_encoded(examples_file, monkeypatch, caplog):
    monkeypatch.setattr(ENCODER, "encode", lambda texts: pytest.fail(f"encoded {texts}"))
    with caplog.at_level(logging.WARNING):
        vectors = topic_vectors.example_vectors(EXAMPLES, ENCODER)
    assert vectors is not None and vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert not caplog.records


def test_a_stale_vectors_file_is_noticed_once_and_the_examples_encoded(examples_file, caplog):
    edited = [LabelledText(EXAMPLES[0].title + " в овертайме", EXAMPLES[0].summary, "sport"), EXAMPLES[1]]
    examples_file.write_text("".join(json.dumps({"title": e.title, "summary": e.summary, "topic": e.topic}) + "\n" for e in edited))
    with caplog.at_level(logging.WARNING):
        first = topic_vectors.example_vectors(edited, ENCODER)
        again = topic_vectors.example_vectors(edited, ENCODER)
    assert len(caplog.records) == 1  # once per process, however many fits
    assert "is stale" in caplog.messages[0] and "python -m aggregator.pipeline.topic_vectors" in caplog.messages[0]
    expected = ENCODER.encode(topic_vectors.texts_of(edited))
    assert first is not None and again is not None
    assert np.allclose(first, expected) and np.allclose(again, expected)


def test_a_missing_vectors_file_is_noticed_and_the_classifier_still_reads_meaning(examples_file, tmp_path, caplog):
    examples_file.with_suffix(".e5.npz").unlink()
    config = settings_from_dict({"topics": {"sport": {"title": "Спорт"}, "culture": {"title": "Культура"}}})
    with caplog.at_level(logging.WARNING):
        classifier = TopicClassifier.from_settings(config, shipped=EXAMPLES, model_folder=tmp_path / "cache", encoder=ENCODER)
    assert any("is missing" in message for message in caplog.messages)
    assert classifier.models.meaning is not None
    assert classifier.classify(read("Футболисты сыграли вничью", "")).primary == "sport"


def test_vectors_beside_the_words_are_fitted_as_ordinary_columns():
    rng = np.random.default_rng(7)
    sparse = [{0: 1.0}, {1: 0.5, 2: 0.5}, {0: 0.3, 2: 0.7}, {1: 1.0}, {2: 1.0}, {0: 0.6, 1: 0.4}]
    dense = rng.normal(size=(len(sparse), 4))
    labels, weights = np.array([0, 1, 2, 0, 1, 2]), np.ones(len(sparse))
    together = logistic.SparseRows.from_dicts(
        [row | {3 + j: float(x) for j, x in enumerate(d)} for row, d in zip(sparse, dense, strict=True)], 7
    )
    beside = logistic.SparseBesideDense(logistic.SparseRows.from_dicts(sparse, 3), dense)
    assert beside.shape == together.shape
    expected, got = logistic.fit(together, labels, weights, 3, 1.0), logistic.fit(beside, labels, weights, 3, 1.0)
    assert np.allclose(got[0], expected[0], atol=1e-6) and np.allclose(got[1], expected[1], atol=1e-6)
