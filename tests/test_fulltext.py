"""Sources that give only a teaser: the article page of each new item is fetched once, its
main text extracted without the clutter around it, stored, used for topics and stories, and
republished where the source allows it."""

import threading
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import feedparser
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from aggregator import create_app
from aggregator.cli import cli
from aggregator.cycle import poll_cycle
from aggregator.entities import Fetched
from aggregator.errors import ParseError
from aggregator.pipeline import fetch as fetch_module
from aggregator.pipeline.fetch import fetch_feed
from aggregator.pipeline.fulltext import article_text, clean_text
from aggregator.pipeline.text import decision_text
from aggregator.settings import settings_from_dict
from aggregator.storage.models import Item
from conftest import DATA, NOW, config_dict

PAGES = DATA / "pages"
SELECTORS = {"item": "article.news-item", "title": "h2 a", "link": "h2 a", "date": ".news-item__date", "summary": ".news-item__lead"}
ARTICLES = {  # path on the site -> sample page
    "/news/2026/11/25/most-cherez-tom/": "article_most.html",
    "/news/2026/11/25/pozhar-na-kirova/": "article_pozhar.html",
    "/news/2026/11/24/tgu-grant/": "article_tgu_cp1251.html",
}
SMALL_ARTICLE = (
    "<html><body><nav><a href='/'>Главная</a></nav><article><h1>{title}</h1><p>{text}</p></article><footer>18+</footer></body></html>"
)
TEXTS = {
    "Мост через Томь откроют для движения в понедельник": (
        "Новый мост через Томь в районе Коммунального моста откроют для движения в понедельник, 30 ноября. Об этом сообщили в пресс-службе мэрии Томска.\n"
        "Подрядчик завершил статические и динамические испытания: на пролёты одновременно выехали 24 гружёных самосвала. Комиссия не нашла отклонений от проекта.\n"
        "Строительство моста длиной 960 метров началось в 2023 году. Проект обошёлся областному и федеральному бюджетам в 12,4 миллиарда рублей.\n"
        "По словам мэра, новый мост разгрузит Коммунальный мост, по которому сейчас проходит до 80 тысяч машин в сутки."
    ),
    "На Кирова ночью горел склад стройматериалов": (
        "Ночью 25 ноября на проспекте Кирова загорелся склад строительных материалов. Сообщение о пожаре поступило в 02:15.\n"
        "На месте работали 32 пожарных и 9 единиц техники. Огонь охватил 400 квадратных метров, его потушили к шести утра.\n"
        "Пострадавших нет. Причину пожара установят специалисты испытательной пожарной лаборатории."
    ),
    "Учёные ТГУ получили грант на изучение болот Васюганья": (
        "Томский государственный университет получил грант Российского научного фонда на изучение Васюганских болот — крупнейшей болотной системы мира.\n"
        "Учёные проведут три полевых сезона и измерят, сколько углерода накапливают болота в разные годы. Размер гранта составляет 21 миллион рублей.\n"
        "В проекте участвуют биологи, почвоведы и климатологи университета, а также студенты магистратуры."
    ),
    "«Томскнефть» повысит зарплаты с января": "Компания «Томскнефть» с 1 января повысит зарплаты сотрудникам на 8 процентов, сообщили в пресс-службе предприятия.",
    "«Томич» обыграл соседей из Новосибирска": "Хоккеисты «Томича» обыграли «Сибирь-2» со счётом 4:2 в домашнем матче первенства ВХЛ.",
}
SMALL = {
    "/news/2026/11/25/tomskneft-zarplaty/": "«Томскнефть» повысит зарплаты с января",
    "/news/2026/11/25/hokkey-tomich/": "«Томич» обыграл соседей из Новосибирска",
}


def serve_site(feed_server, skip: tuple[str, ...] = ()) -> str:
    """The outlet's list page and its article pages; returns the list page's URL."""
    for path, name in ARTICLES.items():
        if path not in skip:
            feed_server.serve_file(path, PAGES / name, content_type="text/html")
    for path, title in SMALL.items():
        if path not in skip:
            feed_server.serve(path, SMALL_ARTICLE.format(title=title, text=TEXTS[title]), content_type="text/html; charset=utf-8")
    return feed_server.serve_file("/news/", PAGES / "news_list.html", content_type="text/html")


def source(url: str, **options) -> dict:
    return {"url": url, "name": "Томский обозреватель", "kind": "html", "selectors": SELECTORS, "full_text": True, **options}


def settings_for(tmp_path, sources: list[dict], **overrides):
    raw = config_dict(tmp_path, {}, **overrides)
    raw["feeds"] = sources
    return settings_from_dict(raw)


def stored(service) -> dict[str, Item]:
    with service.storage.read() as session:
        return {row.title: row for row in session.scalars(select(Item))}


def article_hits(feed_server) -> Counter:
    return Counter(path for path, _headers in feed_server.requests if path.startswith("/news/2026/"))


def rss(title: str, link: str, summary: str, guid: str = "teaser-1") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Томск сегодня</title><link>https://tomsk-segodnya.example/</link>'
        f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid><description>{summary}</description>"
        "<pubDate>Wed, 25 Nov 2026 15:30:00 +0700</pubDate></item></channel></rss>"
    )


# Extraction, on sample pages with the usual clutter around the text.


# TEXTS holds the sample pages' texts first, then those of the SMALL pages: zip pairs the former.
@pytest.mark.parametrize(("path", "title"), list(zip(ARTICLES, TEXTS, strict=False)))
def test_the_main_text_is_extracted_without_menus_ads_related_news_or_comments(path, title):
    page = Fetched(
        url="https://obozrevatel.example" + path, status=200, body=(PAGES / ARTICLES[path]).read_bytes(), content_type="text/html"
    )
    assert article_text(page, title) == TEXTS[title]


def test_another_outlets_page_with_other_clutter():
    page = Fetched(
        url="https://tomsk-segodnya.example/city/most/",
        status=200,
        body=(PAGES / "article_most_tomsk_segodnya.html").read_bytes(),
        content_type="text/html; charset=utf-8",
    )
    assert article_text(page, "Главное к понедельнику") == (
        "В понедельник, 30 ноября, в Томске откроют движение по новому мосту через Томь рядом с Коммунальным мостом.\n"
        "Мост длиной 960 метров строили с 2023 года, он обошёлся бюджетам в 12,4 миллиарда рублей. Испытания нагрузкой, "
        "в которых участвовали 24 самосвала, прошли успешно, сообщила мэрия.\n"
        "Ожидается, что новая переправа заметно сократит пробки на Коммунальном мосту."
    )


def test_clutter_inside_the_text_is_dropped_line_by_line():
    text = "\n".join(
        [
            "Заголовок новости",
            "Первый абзац.",
            "Реклама",
            "18+",
            "Реклама. ООО «Окна», ИНН 7017000000, erid: 2SDnjdXyZ1",
            "Реклама Курсы английского онлайн 18+",
            "Читайте также: Другая новость",
            "Смотрите также",
            "Ещё по теме",
            "Подписывайтесь на наш канал",
            "Реклама наружных щитов в центре города будет запрещена.",
            "Последний абзац.",
        ]
    )
    assert (
        clean_text(text, "Заголовок новости") == "Первый абзац.\nРеклама наружных щитов в центре города будет запрещена.\nПоследний абзац."
    )


def test_a_page_without_an_article_is_a_parse_error():
    page = Fetched(
        url="https://x.example/",
        status=200,
        body="<html><body><nav><a href='/'>Главная</a></nav></body></html>".encode(),
        content_type="text/html",
    )
    with pytest.raises(ParseError) as error:
        article_text(page)
    assert error.value.kind == "no_article_text"


def test_decisions_read_the_head_of_a_long_text():
    long = "Первое предложение о мосте. " * 30 + "\n" + "Хвост текста. " * 100
    head = decision_text("Тизер.", long)
    assert head.startswith("Первое предложение о мосте.") and head.endswith(".") and len(head) <= 1000
    assert decision_text("Тизер.", None) == "Тизер."


# Through the pipeline.


def test_each_new_item_gets_its_text_with_one_fetch_and_is_never_fetched_again(tmp_path, feed_server, make_service, clock):
    service = make_service(settings_for(tmp_path, [source(serve_site(feed_server))]))
    (outcome,) = service.poll(include_all=True).feeds
    assert outcome.ok and outcome.new == 5
    assert {title: row.full_text for title, row in stored(service).items()} == TEXTS
    assert set(article_hits(feed_server).values()) == {1} and len(article_hits(feed_server)) == 5
    page = (PAGES / "news_list.html").read_text(encoding="utf-8")
    fresh = (
        '<div class="news-list"><article class="news-item"><h2><a href="/news/2026/11/25/katok/">В Лагерном саду открылся каток</a></h2>'
        '<span class="news-item__date">только что</span></article>'
    )
    katok = SMALL_ARTICLE.format(
        title="Каток в Лагерном саду", text="Каток открыт с 10 до 22 часов."
    )  # the page words its headline its own way
    feed_server.serve("/news/2026/11/25/katok/", katok, content_type="text/html")
    feed_server.serve("/news/", page.replace('<div class="news-list">', fresh), content_type="text/html")
    clock[0] = NOW + timedelta(hours=1)
    (outcome,) = service.poll(include_all=True).feeds
    assert (outcome.new, outcome.unchanged) == (1, 5)
    assert stored(service)["В Лагерном саду открылся каток"].full_text == "Каток открыт с 10 до 22 часов."
    assert set(article_hits(feed_server).values()) == {1} and len(article_hits(feed_server)) == 6
    service.poll(include_all=True)
    assert len(article_hits(feed_server)) == 6 and set(article_hits(feed_server).values()) == {1}
    assert service.storage.feeds.list()[0].status == "ok"


def test_an_article_that_cannot_be_had_leaves_the_item_and_a_note(tmp_path, feed_server, make_service):
    service = make_service(settings_for(tmp_path, [source(serve_site(feed_server, skip=("/news/2026/11/25/hokkey-tomich/",)))]))
    (outcome,) = service.poll(include_all=True).feeds
    assert outcome.ok and outcome.new == 5
    assert stored(service)["«Томич» обыграл соседей из Новосибирска"].full_text is None
    (feed,) = service.storage.feeds.list()
    assert feed.status == "full_text_failed"
    assert feed.last_error == (
        f"the article text of 1 of 5 new items could not be had (first: {feed_server.base}"
        "/news/2026/11/25/hokkey-tomich/: HTTP 404 Not Found)"
    )


def test_an_article_redirecting_to_a_private_address_is_refused_unless_allowed(tmp_path, feed_server, make_service, monkeypatch):
    real_check = fetch_module.check_address

    def public_test_server(url: str, allow_private: bool):
        """Treat the local test server as a public site; judge everything else for real."""
        return () if url.startswith(feed_server.base) else real_check(url, allow_private)

    monkeypatch.setattr(fetch_module, "check_address", public_test_server)
    url = serve_site(feed_server)
    port = feed_server.base.rsplit(":", 1)[1]
    feed_server.serve("/inside/pozhar/", (PAGES / "article_pozhar.html").read_bytes(), content_type="text/html")
    feed_server.serve("/news/2026/11/25/pozhar-na-kirova/", "", status=302, headers={"Location": f"http://localhost:{port}/inside/pozhar/"})
    feed_server.serve("/news/2026/11/24/tgu-grant/", "", status=301, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    refused = make_service(settings_for(tmp_path, [source(url)], polling={"allow_private_addresses": False}))
    refused.poll(include_all=True)
    rows = stored(refused)
    assert rows["На Кирова ночью горел склад стройматериалов"].full_text is None
    assert rows["Учёные ТГУ получили грант на изучение болот Васюганья"].full_text is None
    assert (
        rows["Мост через Томь откроют для движения в понедельник"].full_text == TEXTS["Мост через Томь откроют для движения в понедельник"]
    )
    (feed,) = refused.storage.feeds.list()
    assert feed.status == "full_text_failed" and "2 of 5 new items" in feed.last_error
    assert "resolves to the non-public address" in feed.last_error and "allow_private_addresses" in feed.last_error
    assert len(feed_server.hits("/inside/pozhar/")) == 0


def test_a_redirect_to_a_private_address_is_followed_when_allowed(tmp_path, feed_server, make_service):
    url = serve_site(feed_server)
    port = feed_server.base.rsplit(":", 1)[1]
    feed_server.serve("/inside/pozhar/", (PAGES / "article_pozhar.html").read_bytes(), content_type="text/html")
    feed_server.serve("/news/2026/11/25/pozhar-na-kirova/", "", status=302, headers={"Location": f"http://localhost:{port}/inside/pozhar/"})
    service = make_service(settings_for(tmp_path, [source(url)]))  # the tests' config allows private addresses
    service.poll(include_all=True)
    assert stored(service)["На Кирова ночью горел склад стройматериалов"].full_text == TEXTS["На Кирова ночью горел склад стройматериалов"]


def test_article_pages_keep_to_the_per_host_limit(tmp_path, feed_server, make_service, classifier):
    url = serve_site(feed_server)
    settings = settings_for(tmp_path, [source(url)], polling={"per_host_concurrency": 2, "concurrency": 8})
    service = make_service(settings)
    lock, now_running, most = threading.Lock(), Counter(), Counter()

    def counting(feed, policy, client):
        host = urlsplit(feed.url).netloc
        with lock:
            now_running[host] += 1
            most[host] = max(most[host], now_running[host])
        try:
            time.sleep(0.2)
            return fetch_feed(feed, policy, client)
        finally:
            with lock:
                now_running[host] -= 1

    outcome = poll_cycle(service.storage, settings, classifier, NOW, fetcher=counting)  # the new source is due
    assert outcome.new == 5 and len(article_hits(feed_server)) == 5
    assert most == {urlsplit(url).netloc: 2}


def test_the_text_decides_the_topic_of_a_teaser(tmp_path, feed_server, make_service):
    article = SMALL_ARTICLE.format(
        title="Новость дня",
        text=(
            "В областной клинической больнице открыли отделение для лечения инсульта: в нём 60 коек и новый ангиограф. "
            "Врачи смогут оказывать помощь пациентам в первые часы после инсульта, когда лечение наиболее эффективно."
        ),
    )
    link = feed_server.serve("/city/insult/", article, content_type="text/html")
    feed = feed_server.serve("/rss.xml", rss("Новость дня", link, "Подробности по ссылке."))
    teaser = make_service(settings_for(tmp_path / "a", [{"url": feed, "name": "Томск сегодня"}]))
    teaser.poll(include_all=True)
    assert stored(teaser)["Новость дня"].topic != "health"
    full = make_service(settings_for(tmp_path / "b", [{"url": feed, "name": "Томск сегодня", "full_text": True}]))
    full.poll(include_all=True)
    assert stored(full)["Новость дня"].topic == "health"


def test_the_text_joins_a_teaser_to_the_story_it_tells(tmp_path, feed_server, make_service):
    site = serve_site(feed_server)
    link = feed_server.serve_file("/city/most/", PAGES / "article_most_tomsk_segodnya.html", content_type="text/html")
    feed = feed_server.serve("/rss.xml", rss("Главное к понедельнику", link, "Коротко о том, что ждёт город."))

    def story_of_the_teaser(folder: str, full_text: bool) -> tuple[int, int]:
        sources = [source(site), {"url": feed, "name": "Томск сегодня", "full_text": full_text}]
        service = make_service(settings_for(tmp_path / folder, sources))
        service.poll(include_all=True)
        rows = stored(service)
        return rows["Главное к понедельнику"].story_id, rows["Мост через Томь откроют для движения в понедельник"].story_id

    teaser, bridge = story_of_the_teaser("teaser", full_text=False)
    assert teaser != bridge
    teaser, bridge = story_of_the_teaser("full", full_text=True)
    assert teaser == bridge


@pytest.mark.parametrize(("publish", "offered"), [("summary", False), ("full_text", True)])
def test_the_atom_entry_offers_the_text_only_where_the_source_allows(tmp_path, feed_server, make_service, publish, offered):
    service = make_service(settings_for(tmp_path, [source(serve_site(feed_server), publish=publish)]))
    service.poll(include_all=True)
    app = create_app(service=service)
    app.config["TESTING"] = True
    body = app.test_client().get("/feeds/all.atom").data
    entries = {entry.title: entry for entry in feedparser.parse(body).entries}
    content = entries["На Кирова ночью горел склад стройматериалов"].content[0].value
    paragraphs = TEXTS["На Кирова ночью горел склад стройматериалов"].splitlines()
    assert all((f"<p>{line}</p>" in content) is offered for line in paragraphs)
    assert ("Огонь тушили четыре часа, пострадавших нет." in content) is not offered


def test_feeds_test_with_full_text_prints_the_texts(feed_server, config_file):
    url = serve_site(feed_server)
    args = ["--item", "article.news-item", "--title", "h2 a", "--link", "h2 a", "--full-text", "--limit", "2"]
    result = CliRunner().invoke(cli, ["--config", str(config_file), "feeds", "test", url, *args])
    assert result.exit_code == 0, result.output
    for title in list(TEXTS)[:2]:
        assert title in result.output
        assert "\n".join(f"     {line}" for line in TEXTS[title].splitlines()) in result.output
    assert len(article_hits(feed_server)) == 2
