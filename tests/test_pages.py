"""The digest and other pages through the test client, as a reader sees them."""

import re
from datetime import timedelta

import pytest

from aggregator import create_app
from aggregator.settings import settings_from_dict
from conftest import NOW, config_dict


@pytest.fixture
def polled(service, client):
    service.poll(include_all=True)
    return client


def sections(html: str) -> dict[str, str]:
    parts = re.split(r'<section class="topic" aria-labelledby="topic-([\w-]+)">', html)[1:]
    return dict(zip(parts[::2], parts[1::2], strict=True))


def test_the_digest_groups_todays_stories_by_topic(polled):
    response = polled.get("/")
    html = response.data.decode()
    assert response.status_code == 200
    assert '<html lang="ru">' in html
    assert "25 ноября 2026" in html
    found = sections(html)
    assert "На Гоголя сгорел деревянный дом" in found["incidents"]
    assert "Хоккеисты «Томи» выиграли домашний матч" in found["sport"]
    assert list(found)[-1] == "other" or "other" not in found
    assert 'href="https://gorod-t.example/2026/11/25/fire"' in html
    assert "Город-Т" in html


def test_every_page_offers_every_topic_feed_for_autodiscovery(polled, service):
    html = polled.get("/").data.decode()
    assert html.count('type="application/atom+xml"') == len(service.settings.topics) + 2
    for slug in service.settings.topics:
        assert f'href="/feeds/{slug}.atom"' in html


def test_a_past_day_has_its_own_page_and_navigation(polled, clock):
    clock[0] = NOW + timedelta(days=1)
    today = polled.get("/").data.decode()
    assert "На Гоголя сгорел" not in today
    assert 'href="/digest/2026-11-25"' in today
    past = polled.get("/digest/2026-11-25").data.decode()
    assert "На Гоголя сгорел деревянный дом" in past
    assert 'href="/digest/2026-11-26"' in past


def test_a_bad_date_is_a_400_and_an_unknown_story_a_404(polled):
    assert polled.get("/digest/2026-13-45").status_code == 400
    assert polled.get("/stories/999999").status_code == 404
    assert polled.get("/topics/astrology").status_code == 404


def test_story_topic_and_feed_health_pages(polled):
    story_id = polled.get("/api/items?topic=incidents").json["items"][0]["story_id"]
    assert "Город-Т" in polled.get(f"/stories/{story_id}").data.decode()
    assert "На Гоголя сгорел" in polled.get("/topics/incidents").data.decode()
    health = polled.get("/feeds").data.decode()
    assert "Томский вестник" in health and "ok" in health


def test_pages_answer_conditional_requests(polled):
    first = polled.get("/")
    assert polled.get("/", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304


def test_text_from_feeds_is_escaped(tmp_path, feed_server, make_service):
    evil = """<rss version="2.0"><channel><title>x</title><item><title>&lt;script&gt;alert(1)&lt;/script&gt;Пожар</title>
    <link>https://e.example/1</link><description>&lt;img src=x onerror=alert(2)&gt;</description></item></channel></rss>"""
    url = feed_server.serve("/evil.xml", evil)
    service = make_service(settings_from_dict(config_dict(tmp_path, {"Злая лента": url})))
    service.poll(include_all=True)
    html = create_app(service=service).test_client().get("/").data.decode()
    assert "<script>alert" not in html and "onerror=alert" not in html
    assert "Пожар" in html


def test_search_understands_russian_word_forms(polled):
    html = polled.get("/search?q=трамвай").data.decode()
    assert "<mark>Трамваи</mark> вернутся на проспект Ленина" in html
    assert "Губернатор" not in html
    found = polled.get("/search?q=учёных+грантом").data.decode()
    assert "вечной мерзлоты" in found
    assert "Ничего не нашлось" in polled.get("/search?q=марсоход").data.decode()


def test_search_escapes_the_query_and_rejects_a_bad_page(polled):
    html = polled.get("/search?q=<script>alert(1)</script>").data.decode()
    assert "<script>alert(1)" not in html
    assert polled.get("/search?q=трамвай&page=0").status_code == 400
