"""The digest and other pages through the test client, as a reader sees them: content,
Russian wording, navigation, accessibility basics on every page, escaping, and caching."""

import itertools
import json
import re
import threading
import time
from datetime import timedelta
from itertools import pairwise

import lxml.html
import pytest
from flask import template_rendered

from aggregator import create_app, digest, editing
from aggregator.settings import REPO_ROOT, settings_from_dict
from aggregator.storage import Storage
from aggregator.web import caching, formatting, pages
from conftest import NEW_ITEM_TITLE, NOW, config_dict, serve_a_new_vestnik_item
from demo.render import FEEDS_DIR, render_feed

EXPECTED = json.loads((FEEDS_DIR / "expected.json").read_text(encoding="utf-8"))
MIME = {"rss2": "application/rss+xml", "atom": "application/atom+xml", "rss1": "application/rdf+xml"}
LANDMARKS = ("header", "nav", "main", "footer")


@pytest.fixture
def polled(service, client):
    service.poll(include_all=True)
    return client


@pytest.fixture
def demo(tmp_path, feed_server, make_service):
    """The bundled regional sample feeds, polled at NOW: two days of stories from six outlets."""
    return polled_demo(tmp_path, feed_server, make_service)


def polled_demo(tmp_path, feed_server, make_service, **overrides: dict):
    feeds = {
        spec["outlet"]: feed_server.serve("/" + spec["file"], render_feed(FEEDS_DIR / spec["file"], NOW), content_type=MIME[spec["format"]])
        for spec in EXPECTED["feeds"]
    }
    feeds["Сломанная лента"] = feed_server.serve("/broken.rss", "oops", status=500, content_type="text/plain")
    service = make_service(settings_from_dict(config_dict(tmp_path, feeds, **overrides)))
    service.poll(include_all=True)
    return service


@pytest.fixture
def reader(demo):
    return create_app(service=demo).test_client()


def html_of(client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, path
    return response.data.decode()


def sections(html: str) -> dict[str, str]:
    parts = re.split(r'<section class="topic" aria-labelledby="topic-([\w-]+)">', html)[1:]
    return dict(zip(parts[::2], parts[1::2], strict=True))


def story_id(service, words: str) -> int:
    return next(s.id for s in service.storage.reads.stories_page(500).rows if words in s.title)


def renders(client) -> int:
    return client.application.extensions["page_cache"].renders


# --- The digest ---------------------------------------------------------------------------


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


def test_sections_follow_the_configured_topic_order(reader, demo):
    shown = list(sections(html_of(reader, "/")))
    configured = [slug for slug in demo.topic_titles if slug in shown]
    assert shown[: len(configured)] == configured


def test_a_story_shows_lead_sentence_time_thumbnail_and_other_outlets(reader):
    """The story is led by the report whose headline tells it best (of four outlets, the one
    naming the surgeons, the region's first, the liver), with that report's sentence, time and picture."""
    story = sections(html_of(reader, "/"))["health"].split("</article>")[0]
    assert "Томские хирурги провели первую в регионе трансплантацию печени" in story
    assert '<p class="lead">Девятичасовую операцию в областной клинической больнице провела бригада из 12 врачей.</p>' in story
    assert ">15:00</time>" in story  # first reported two hours before 17:00 in Tomsk
    image = 'src="https://tom-express.example/upload/iblock/2461/cover.jpg" alt="Иллюстрация: Томские хирурги провели первую в регионе трансплантацию печени"'
    assert image in story and 'loading="lazy"' in story and 'width="96" height="72"' in story
    assert "ещё 3 источника" in story


def test_a_section_shows_its_most_widely_reported_stories_and_a_hidden_report_no_longer_counts(tmp_path, feed_server, make_service):
    """With one story a section, incidents shows the warehouse fire told by three outlets; once
    two of its reports are hidden, the day's best other incident takes its place."""
    demo = polled_demo(tmp_path, feed_server, make_service, digest={"max_items_per_topic": 1})
    reader = create_app(service=demo).test_client()
    fire = demo.storage.reads.story(story_id(demo, "Склад мебели"))
    assert len(fire.outlets) == 3
    incidents = sections(html_of(reader, "/"))["incidents"]
    assert incidents.count("<article") == 1 and fire.title in incidents

    for report in fire.others:
        editing.apply(demo, "editor", "hide_item", item_id=report.id)
    tz = demo.settings.service.tz
    day = [
        s
        for s in demo.storage.reads.stories_page(500).rows
        if s.topic == "incidents" and digest.today(s.first_published, tz) == digest.today(NOW, tz)
    ]
    best = min(day, key=lambda story: digest.rank(story, NOW))
    assert best.id != fire.id and len(best.outlets) == 2
    incidents = sections(html_of(reader, "/"))["incidents"]
    assert incidents.count("<article") == 1 and best.title in incidents and fire.title not in incidents


def test_pinned_stories_lead_their_topic(reader, demo):
    salary = story_id(demo, "Средняя зарплата")
    assert "Средняя зарплата" not in sections(html_of(reader, "/"))["economy"].split("</article>")[0]
    editing.apply(demo, "editor", "pin_story", story_id=salary)
    first = sections(html_of(reader, "/"))["economy"].split("</article>")[0]
    assert "Средняя зарплата" in first and "Закреплено" in first


def test_every_page_offers_every_topic_feed_and_the_opml_for_autodiscovery(polled, service):
    html = polled.get("/").data.decode()
    for kind in ("application/atom+xml", "application/feed+json"):
        assert html.count(f'type="{kind}"') == len(service.settings.topics) + 3  # all, top, digest and each topic
    for slug in service.settings.topics:
        assert f'href="/feeds/{slug}.atom"' in html and f'href="/feeds/{slug}.json"' in html
    for name in ("all", "top", "digest"):
        assert re.search(rf'<link rel="alternate" type="application/feed\+json" title="[^"]+" href="/feeds/{name}\.json">', html), name
    assert '<link rel="alternate" type="text/x-opml"' in html and 'href="/feeds.opml"' in html


def test_a_past_day_has_its_own_page_and_navigation(polled, clock):
    clock[0] = NOW + timedelta(days=1)
    today = polled.get("/").data.decode()
    assert "На Гоголя сгорел" not in today
    assert 'href="/digest/2026-11-25"' in today
    past = polled.get("/digest/2026-11-25").data.decode()
    assert "На Гоголя сгорел деревянный дом" in past
    assert '<a rel="next" href="/">26 ноября →</a>' in past
    assert '<a rel="prev" href="/digest/2026-11-24">' in past


def test_the_calendar_links_the_days_that_have_news(reader):
    html = html_of(reader, "/digest/2026-11-24")
    calendar = html.split('<table class="calendar">')[1].split("</table>")[0]
    assert re.search(r'<a href="/digest/2026-11-24" aria-current="date">.*?24 ноября: \d+ сюжет', calendar)
    assert 'href="/"' in calendar  # today, 25 November
    assert "/digest/2026-11-23" not in calendar  # no news that day
    assert calendar.count("<tr>") == 6  # the weekday row and five weeks
    assert "<caption>октябрь — ноябрь 2026</caption>" in calendar


def test_a_bad_or_future_date_and_unknown_things_are_errors(polled):
    assert polled.get("/digest/2026-13-45").status_code == 400
    assert polled.get("/digest/2026-11-26").status_code == 404
    assert polled.get("/stories/999999").status_code == 404
    assert polled.get("/topics/astrology").status_code == 404


def test_russian_plurals_and_dates(app):
    plural = app.jinja_env.filters["plural"]
    assert [plural(n, "источник") for n in (1, 3, 5, 11, 21, 22)] == [
        "1 источник",
        "3 источника",
        "5 источников",
        "11 источников",
        "21 источник",
        "22 источника",
    ]
    assert plural(2, "публикация") == "2 публикации"
    assert app.jinja_env.filters["day"](NOW) == "25 ноября 2026"


@pytest.mark.parametrize(
    ("summary", "lead"),
    [
        ("На ул. Ленина открыли сквер. Он большой.", "На ул. Ленина открыли сквер."),
        ("Приехал А. С. Пушкин! Встречали все.", "Приехал А. С. Пушкин!"),
        ("Одно предложение без точки", "Одно предложение без точки"),
        ("слово " * 60, ("слово " * 40).strip() + "…"),
    ],
)
def test_the_lead_sentence_is_the_first_sentence(summary, lead):
    assert formatting.lead_sentence(summary, limit=len("слово " * 40)) == lead


# --- Topic, story, search and feed health -------------------------------------------------


def test_a_topic_page_has_stories_by_day_a_subscribe_box_and_an_activity_chart(reader):
    html = html_of(reader, "/topics/transport")
    assert '<h2 id="day-2026-11-25">25 ноября 2026</h2>' in html
    assert "троллейбус" in html
    assert 'value="http://news.test/feeds/transport.atom" readonly' in html
    page = lxml.html.fromstring(html)
    svg = page.xpath("//svg")[0]
    assert svg.get("role") == "img"
    assert [page.get_element_by_id(i).tag for i in svg.get("aria-labelledby").split()] == ["title", "desc"]
    assert svg.xpath(".//title")[0].text_content().startswith("Публикации по теме «Транспорт и дороги» по дням")
    assert "Всего " in svg.xpath(".//desc")[0].text_content()
    assert len(svg.xpath('.//rect[@class="bar"]')) >= 1
    assert len(page.xpath('//details[@class="chart-data"]//tbody/tr')) == 30


def test_a_topic_is_paged_without_repeats(reader, monkeypatch):
    monkeypatch.setattr(pages, "TOPIC_PAGE_STORIES", 2)
    seen, path = [], "/topics/city"
    while path:
        html = html_of(reader, path)
        seen += re.findall(r"<h3><a [^>]*>([^<]+)</a></h3>", html)
        found = re.search(r'<a rel="next" href="([^"]+)">', html)
        path = found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == len(set(seen)) >= 4
    assert reader.get("/topics/city?after=garbage").status_code == 400


def test_a_story_page_puts_every_outlets_version_side_by_side(reader, demo):
    html = html_of(reader, f"/stories/{story_id(demo, 'печени')}")
    versions = lxml.html.fromstring(html).xpath('//div[@class="versions"]/article')
    outlets = [v.xpath('.//p[@class="outlet"]')[0].text_content() for v in versions]
    assert outlets == ["Томск сегодня первым", "Томь-Экспресс", "Областные вести", "Сибирское время"]  # oldest first
    assert "Сообщили 4 источника" in html
    assert 'href="/digest/2026-11-25"' in html


def test_search_understands_russian_word_forms(polled):
    html = polled.get("/search?q=трамвай").data.decode()
    assert "<mark>Трамваи</mark> вернутся на проспект Ленина" in html
    assert "Губернатор" not in html
    found = polled.get("/search?q=учёных+грантом").data.decode()
    assert "вечной мерзлоты" in found
    assert "Ничего не нашлось" in polled.get("/search?q=марсоход").data.decode()


def test_search_is_ranked_and_paged(reader, monkeypatch):
    monkeypatch.setattr(pages, "SEARCH_PAGE", 1)
    first = html_of(reader, "/search?q=троллейбус")
    second = html_of(reader, "/search?q=троллейбус&page=2")
    titles = [re.search(r"<h2><a [^>]*>(.*?)</a></h2>", page).group(1) for page in (first, second)]
    assert titles[0] != titles[1] and all("<mark>" in title for title in titles)
    assert 'rel="next" href="/search?q=%D1%82%D1%80%D0%BE%D0%BB%D0%BB%D0%B5%D0%B9%D0%B1%D1%83%D1%81&amp;page=2"' in first
    assert 'rel="prev"' in second and '<ol class="results" start="2">' in second


def test_search_leaves_out_hidden_items_and_advertising(reader, demo):
    assert "Южный берег" not in html_of(reader, "/search?q=ипотека")
    item = next(i for i in demo.storage.reads.items_page(500).rows if "троллейбусов" in i.title)
    editing.apply(demo, "editor", "hide_item", item_id=item.id)
    assert item.title not in html_of(reader, "/search?q=троллейбус")


def test_search_escapes_the_query_and_rejects_a_bad_page(polled):
    html = polled.get("/search?q=<script>alert(1)</script>").data.decode()
    assert "<script>alert(1)" not in html
    assert polled.get("/search?q=трамвай&page=0").status_code == 400
    assert polled.get("/search?q=трамвай&page=x").status_code == 400


def test_feed_health_puts_broken_feeds_first_and_says_what_is_wrong(reader):
    html = html_of(reader, "/feeds")
    rows = lxml.html.fromstring(html).xpath('//table[contains(@class, "health")]/tbody/tr')
    assert rows[0].get("class") == "bad" and "Сломанная лента" in rows[0].text_content()
    assert "ошибка на сайте издателя (HTTP 500)" in rows[0].text_content()
    assert "HTTP 500" in rows[0].xpath('.//span[@class="error-text"]')[0].text_content()
    assert all(row.get("class") == "ok" for row in rows[1:])
    assert "С ошибками: 1 из 7." in html
    assert "14 публикаций" in html or "13 публикаций" in html


# --- Safety --------------------------------------------------------------------------------


def test_text_and_links_from_feeds_are_escaped_or_dropped(tmp_path, feed_server, make_service):
    evil = """<rss version="2.0"><channel><title>x</title>
    <item><title>&lt;script&gt;alert(1)&lt;/script&gt;Пожар</title>
      <link>https://e.example/1</link><description>&lt;img src=x onerror=alert(2)&gt;</description></item>
    <item><title>&amp;lt;script&amp;gt;alert(3)&amp;lt;/script&amp;gt;Потоп</title><link>javascript:alert(4)</link>
      <enclosure url="javascript:alert(5)" type="image/png" length="0"/></item></channel></rss>"""
    url = feed_server.serve("/evil.xml", evil)
    service = make_service(settings_from_dict(config_dict(tmp_path, {"Злая лента": url})))
    service.poll(include_all=True)
    client = create_app(service=service).test_client()
    story = story_id(service, "Потоп")
    for path in ("/", f"/stories/{story}", "/search?q=потоп", "/topics/incidents"):
        html = html_of(client, path)
        assert "<script>alert" not in html and "onerror=alert" not in html, path
        assert "javascript:" not in html, path
    assert "&lt;script&gt;alert(3)&lt;/script&gt;Потоп" in html_of(client, "/")


# --- Accessibility basics, on every page -----------------------------------------------------


def every_page(client, service) -> list[tuple[str, int]]:
    paths = [
        ("/", 200),
        ("/digest/2026-11-24", 200),
        ("/digest/2026-10-01", 200),
        ("/feeds", 200),
        ("/search", 200),
        ("/search?q=троллейбус", 200),
        ("/search?q=марсоход", 200),
        (f"/stories/{story_id(service, 'печени')}", 200),
        ("/stories/999999", 404),
        ("/digest/x", 400),
    ]
    return paths + [(f"/topics/{slug}", 200) for slug in service.topic_titles]


def accessibility_problems(html: str) -> list[str]:
    parser = lxml.html.HTMLParser(recover=True)
    doc = lxml.html.document_fromstring(html, parser=parser)
    problems = [f"markup error: {e.message}" for e in parser.error_log if "invalid" not in e.message]  # HTML5 tags are "invalid" to libxml2
    if doc.get("lang") != "ru":
        problems.append("<html> has no lang=ru")
    if len(doc.xpath("//h1")) != 1:
        problems.append(f"{len(doc.xpath('//h1'))} h1 elements")
    levels = [int(h.tag[1]) for h in doc.iter("h1", "h2", "h3", "h4", "h5", "h6")]
    problems += [f"h{b} follows h{a}" for a, b in pairwise([0, *levels]) if b > a + 1]
    problems += [f"img without alt: {img.get('src')}" for img in doc.iter("img") if img.get("alt") is None]
    problems += [f"unlabelled {c.tag} {c.get('name')}" for c in _form_controls(doc) if not _labelled(doc, c)]
    problems += [f"no <{landmark}>" for landmark in LANDMARKS if not doc.xpath(f"//{landmark}")]
    ids = [e.get("id") for e in doc.iter() if isinstance(e.tag, str) and e.get("id")]
    problems += [f"duplicate id {i}" for i in set(ids) if ids.count(i) > 1]
    for element in doc.xpath("//*[@aria-labelledby or @aria-describedby] | //label[@for]"):
        refs = " ".join(element.get(a, "") for a in ("aria-labelledby", "aria-describedby", "for")).split()
        problems += [f"reference to missing id {r}" for r in refs if r not in ids]
    problems += [f"link without text: {a.get('href')}" for a in doc.iter("a") if not a.text_content().strip() and not a.get("aria-label")]
    problems += ["script on the page" for _ in doc.iter("script")]
    problems += [
        f"external asset {link.get('href')}" for link in doc.xpath('//link[@rel="stylesheet"]') if not link.get("href", "").startswith("/")
    ]
    return problems


def _form_controls(doc):
    for control in doc.iter("input", "select", "textarea"):
        if control.get("type") not in ("hidden", "submit", "button", "reset"):
            yield control


def _labelled(doc, control) -> bool:
    if control.get("aria-label") or control.get("aria-labelledby"):
        return True
    if any(label.tag == "label" for label in control.iterancestors()):
        return True
    return bool(control.get("id")) and bool(doc.xpath("//label[@for=$id]", id=control.get("id")))


def test_every_page_has_the_accessibility_basics(reader, demo):
    problems = {}
    for path, status in every_page(reader, demo):
        found = accessibility_problems(html_of(reader, path, status))
        if found:
            problems[path] = found
    assert problems == {}


def contrast(foreground: str, background: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_text_colours_have_enough_contrast():
    css = (REPO_ROOT / "static" / "style.css").read_text(encoding="utf-8")
    colour = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-f]{6})", css)) | {"white": "#ffffff", "day-link": "#e8f0fa"}
    pairs = [
        ("ink", "white"),
        ("muted", "white"),
        ("faint", "white"),
        ("accent", "white"),
        ("white", "accent"),
        ("bad", "bad-bg"),
        ("good", "good-bg"),
        ("accent", "day-link"),
        ("ink", "mark"),
        ("muted", "bad-bg"),
    ]
    assert {(f, b): round(contrast(colour[f], colour[b]), 2) for f, b in pairs if contrast(colour[f], colour[b]) < 4.5} == {}
    assert "background: #e8f0fa" in css  # the calendar's day links, checked above as day-link


def test_the_checker_notices_what_it_checks():
    bad = """<html><body><h1>a</h1><h1>b</h1><h3>c</h3><img src="x"><input name="q" id="a"><p id="a"></p>
             <a href="/"></a><script>1</script></div></body></html>"""
    found = " | ".join(accessibility_problems(bad))
    for words in (
        "lang=ru",
        "2 h1",
        "h3 follows h1",
        "img without alt",
        "unlabelled input",
        "no <main>",
        "duplicate id a",
        "link without text",
        "script",
        "markup error",
    ):
        assert words in found


# --- Caching --------------------------------------------------------------------------------


def test_a_page_is_rendered_once_per_change_of_the_data(polled, service, feed_server):
    rendered = []

    def record(sender, template, context, **extra) -> None:
        rendered.append(template.name)

    with template_rendered.connected_to(record, polled.application):
        _render_twice_then_poll(polled, service, feed_server, rendered)


def _render_twice_then_poll(polled, service, feed_server, rendered: list[str]) -> None:
    first = polled.get("/")
    again = polled.get("/")
    assert rendered.count("digest.html") == 1
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    assert polled.get("/", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert polled.get("/", headers={"If-Modified-Since": first.headers["Last-Modified"]}).status_code == 304
    serve_a_new_vestnik_item(feed_server)
    service.poll(include_all=True)
    fresh = polled.get("/", headers={"If-None-Match": first.headers["ETag"]})
    assert fresh.status_code == 200 and NEW_ITEM_TITLE in fresh.data.decode()
    assert rendered.count("digest.html") == 2


def test_a_poll_that_brings_nothing_new_keeps_the_validators(polled, service):
    first = polled.get("/topics/incidents")
    service.poll(include_all=True)  # every feed answers 304: the data version moves, the page does not
    assert polled.get("/topics/incidents", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert polled.get("/topics/incidents").headers["Last-Modified"] == first.headers["Last-Modified"]


def test_editorial_actions_and_a_new_day_change_the_pages(reader, demo, clock):
    before = renders(reader)
    html_of(reader, "/")
    html_of(reader, "/")
    assert renders(reader) == before + 1
    action = editing.apply(demo, "editor", "hide_story", story_id=story_id(demo, "печени"))
    assert "печени" not in html_of(reader, "/")
    editing.undo(demo, "editor", action.id)
    assert "печени" in html_of(reader, "/")
    clock[0] = NOW + timedelta(days=1)
    assert "Главное сегодня, 26 ноября 2026" in html_of(reader, "/")


def test_curated_feeds_are_cached_too(reader):
    before = renders(reader)
    first = reader.get("/feeds/all.atom")
    second = reader.get("/feeds/all.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert first.status_code == 200 and second.status_code == 304
    assert first.mimetype == "application/atom+xml"
    assert renders(reader) == before + 1


def test_a_page_from_the_cache_is_the_page_as_rendered(reader):
    """The first request renders; later ones are answered from the cache in front of Flask,
    with the same body and headers, and 304s that keep the validators and security headers."""
    for path in ("/feeds/all.atom", "/topics/city?page=1", "/search?q=%D1%82%D1%80%D0%B0%D0%BC%D0%B2%D0%B0%D0%B9"):
        before = renders(reader)
        rendered, cached, head = reader.get(path), reader.get(path), reader.head(path)
        assert renders(reader) == before + 1
        assert cached.status_code == head.status_code == 200 and cached.data == rendered.data and head.data == b""
        assert sorted(cached.headers.items()) == sorted(rendered.headers.items()) == sorted(head.headers.items())
        unchanged = reader.get(path, headers={"If-None-Match": rendered.headers["ETag"]})
        assert unchanged.status_code == 304 and unchanged.data == b""
        for name in ("ETag", "Last-Modified", "Cache-Control", "Content-Security-Policy", "X-Frame-Options"):
            assert unchanged.headers[name] == rendered.headers[name]


def test_many_threads_get_the_same_page(reader):
    app, results = reader.application, []

    def fetch() -> None:
        response = app.test_client().get("/topics/city")
        results.append((response.status_code, response.headers["ETag"]))

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1 and results[0][0] == 200
    before = renders(reader)
    html_of(reader, "/topics/city")
    assert renders(reader) == before


def test_while_the_data_moves_one_thread_renders_and_the_others_get_the_page_as_it_was(reader, monkeypatch):
    """During a poll the data version moves every second: readers keep getting the digest at
    once (the one rendered before) while a single thread renders it afresh."""
    app = reader.application
    first = reader.get("/")
    before = renders(reader)
    versions = itertools.count()
    monkeypatch.setattr(app.extensions["page_cache"], "stamp", lambda: ("moving", next(versions)))
    rendering, release = threading.Event(), threading.Event()

    def hold_the_first_render(sender, template, context, **extra) -> None:
        if template.name == "digest.html" and not rendering.is_set():
            rendering.set()
            release.wait(10)

    with template_rendered.connected_to(hold_the_first_render, app):
        renderer = threading.Thread(target=lambda: app.test_client().get("/"))
        renderer.start()
        assert rendering.wait(10)
        meanwhile = [app.test_client().get("/") for _ in range(3)]
        release.set()
        renderer.join(10)
    assert [(r.status_code, r.data) for r in meanwhile] == [(200, first.data)] * 3
    assert renders(reader) == before + 1
    reader.get("/")  # nobody is rendering now: the data moved, so this request renders
    assert renders(reader) == before + 2


def test_a_write_by_another_process_shows_within_a_second(reader, demo):
    assert "печени" in html_of(reader, "/")
    worker = Storage(demo.storage.url)  # its own engine and connections, as a worker process has
    worker.editorial.set_story_hidden(story_id(demo, "печени"), True, "editor", NOW)
    worker.close()
    time.sleep(1.1)
    assert "печени" not in html_of(reader, "/")


def test_the_data_version_is_read_at_most_once_a_second_and_after_each_commit():
    reads, now = [], [0.0]
    version = caching.DataVersion(lambda: reads.append(now[0]) or len(reads), ttl=1.0, monotonic=lambda: now[0])
    assert (version(), version()) == (1, 1)
    version.changed()
    assert version() == 2
    now[0] = 0.5
    assert version() == 2
    now[0] = 2.0
    assert version() == 3
