"""A poll cycle against a local server: what lands, what is asked again, what fails alone."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select

from aggregator.cycle import StoryPlacer
from aggregator.entities import FeedData, FeedForUpdate, Fetched, ItemData, StoredForUpdate
from aggregator.pipeline.decide import Judges, decide
from aggregator.pipeline.retrieve import Retrieved, _HostJobs
from aggregator.pipeline.sponsored import SponsoredRules
from aggregator.settings import settings_from_dict
from aggregator.storage.models import Item
from conftest import NOW, config_dict
from test_operations import delta, scrape

EXPECTED_TITLES = {
    "Трамваи вернутся на проспект Ленина в понедельник",
    "Губернатор подписал указ о поддержке малого бизнеса",
    "Новость без даты и без guid",
    "Новость из будущего",
    "На Гоголя сгорел деревянный дом",
    "Хоккеисты «Томи» выиграли домашний матч",
    "Учёные ТГУ получили грант на исследование вечной мерзлоты",
    "В областной больнице открыли центр лечения инсульта",
    "Филармония открыла сезон премьерой",
}


def stored_titles(service) -> list[str]:
    with service.storage.read() as session:
        return list(session.scalars(select(Item.title)))


def test_a_poll_stores_exactly_the_items_of_every_format_and_encoding(service):
    outcome = service.poll(include_all=True)
    assert outcome.failed == 0
    assert sorted(stored_titles(service)) == sorted(EXPECTED_TITLES)
    assert {f.name: f.new for f in outcome.feeds} == {
        "Томский вестник": 4,
        "Город-Т": 2,
        "Сибирский курьер": 1,
        "Обь-Томь": 1,
        "Томская неделя": 1,
    }


def test_a_second_poll_asks_conditionally_and_stores_nothing_new(service, feed_server, clock):
    service.poll(include_all=True)
    clock[0] = NOW + timedelta(hours=1)
    second = service.poll()
    assert second.new == 0 and second.failed == 0
    assert all(f.not_modified for f in second.feeds)
    for path in ("/vestnik.xml", "/gorod.atom", "/kurier.rdf"):
        assert feed_server.hits(path)[-1].get("If-None-Match"), path
    assert len(stored_titles(service)) == len(EXPECTED_TITLES)


def test_feeds_are_polled_only_when_due(service, feed_server, clock):
    service.poll()
    clock[0] = NOW + timedelta(minutes=5)
    assert service.poll().feeds == ()
    clock[0] = NOW + timedelta(minutes=20)
    assert len(service.poll().feeds) == 5


def test_a_body_identical_to_the_last_one_is_not_parsed_again(service, feed_server, clock):
    service.poll(include_all=True)
    route = feed_server.routes["/vestnik.xml"]
    route.headers["ETag"] = "ignored"  # a server whose validators never match
    feed_server.routes["/vestnik.xml"] = type(route)(route.body + b"\n", route.content_type)
    service.poll(include_all=True)
    feed_server.routes["/vestnik.xml"].body = route.body + b"\n"
    outcome = {f.name: f for f in service.poll(include_all=True).feeds}
    assert outcome["Томский вестник"].not_modified and outcome["Томский вестник"].new == 0


def test_a_changed_item_is_updated_in_place(service, feed_server):
    service.poll(include_all=True)
    route = feed_server.routes["/gorod.atom"]
    route.body = route.body.replace("14 жильцов".encode(), "16 жильцов".encode())
    outcome = {f.name: f for f in service.poll(include_all=True).feeds}
    assert outcome["Город-Т"].updated == 1 and outcome["Город-Т"].new == 0
    with service.storage.read() as session:
        summaries = list(session.scalars(select(Item.summary).where(Item.title == "На Гоголя сгорел деревянный дом")))
    assert summaries == ["Пожарные тушили огонь два часа, 16 жильцов эвакуированы."]


def test_a_failing_feed_is_reported_and_the_others_still_land(tmp_path, sample_feeds, feed_server, make_service):
    feeds = dict(sample_feeds)
    feeds["Пропавшая лента"] = feed_server.base + "/gone.xml"
    feeds["Медленная лента"] = feed_server.serve("/slow.xml", "<rss/>", delay=4)
    settings = settings_from_dict(config_dict(tmp_path, feeds, polling={"read_timeout_seconds": 0.5}))
    service = make_service(settings)
    outcome = {f.name: f for f in service.poll(include_all=True).feeds}
    assert outcome["Пропавшая лента"].error == "HTTP 404 Not Found"
    assert "timed out" in outcome["Медленная лента"].error
    assert len(stored_titles(service)) == len(EXPECTED_TITLES)
    health = {f.name: f for f in service.storage.feeds.list(NOW)}
    assert health["Пропавшая лента"].status == "http_404"
    assert health["Пропавшая лента"].next_check > NOW + timedelta(minutes=15)  # backs off
    assert health["Томский вестник"].status == "ok" and health["Томский вестник"].last_error is None


def test_an_html_page_instead_of_a_feed_is_an_error_not_an_empty_feed(tmp_path, feed_server, make_service):
    url = feed_server.serve("/page.html", "<html><body><h1>Новости</h1></body></html>", content_type="text/html")
    service = make_service(settings_from_dict(config_dict(tmp_path, {"Сайт": url})))
    (outcome,) = service.poll(include_all=True).feeds
    assert outcome.error and "not a feed" in outcome.error


def test_private_addresses_are_refused_unless_allowed(tmp_path, sample_feeds, make_service):
    raw = config_dict(tmp_path, sample_feeds, polling={"allow_private_addresses": False})
    service = make_service(settings_from_dict(raw))
    outcome = service.poll(include_all=True)
    assert outcome.failed == 5
    assert all(f.status == "refused_address" for f in outcome.feeds)
    assert "allow_private_addresses" in outcome.feeds[0].error


def test_the_same_article_in_two_feeds_is_stored_once(tmp_path, feed_server, sample_feeds, make_service):
    feeds = dict(sample_feeds)
    feeds["Зеркало"] = feed_server.serve("/mirror.xml", feed_server.routes["/vestnik.xml"].body.replace(b"vestnik-10", b"mirror-10"))
    service = make_service(settings_from_dict(config_dict(tmp_path, feeds)))
    service.poll(include_all=True)
    with service.storage.read() as session:
        count = session.scalar(select(func.count()).select_from(Item).where(Item.url == "https://vestnik.example/news/102"))
    assert count == 1


def test_a_cycle_over_many_feeds_fetches_only_a_little_ahead_of_what_it_has_stored(tmp_path, feed_server, make_service):
    """Storing a feed costs more than fetching it; a cold cycle must not fetch and hold every
    feed while the first ones are stored (500 feeds would mean 500 parsed feeds in memory)."""
    rss = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Лента {n}</title>'
        "<item><title>Новость {n}</title><link>http://news.test/{n}</link><guid>n{n}</guid>"
        "<pubDate>Tue, 24 Nov 2026 10:00:00 +0000</pubDate></item></channel></rss>"
    )
    feeds = {f"Лента {n}": feed_server.serve(f"/many/{n}.xml", rss.format(n=n)) for n in range(40)}
    settings = settings_from_dict(config_dict(tmp_path, feeds, polling={"concurrency": 2, "per_host_concurrency": 40}))
    service = make_service(settings)
    ahead = []

    def stored(outcome):
        ahead.append(len(feed_server.requests) - len(ahead) - 1)  # fetched but not yet stored
        time.sleep(0.02)  # a slow store

    outcome = service.poll(include_all=True, on_feed=stored)
    assert outcome.new == 40
    assert max(ahead) <= 8  # 2 workers x 2 jobs running, and as many finished, waiting to be stored (not 39)


def test_a_cycle_cut_short_by_the_process_exiting_ends_quietly_with_what_it_fetched():
    """At exit the thread pool refuses new jobs; the cycle keeps what is running, starts
    nothing more and raises nothing (it used to log a traceback as a failed cycle)."""
    pool = ThreadPoolExecutor(1)
    jobs = _HostJobs(pool, per_host=1, in_flight=1)
    for number in range(5):
        jobs.add(f"http://host{number}.test/feed.xml", lambda number=number: number)
    got = []
    for result in jobs.results():
        got.append(result)
        pool.shutdown(wait=False)  # what the interpreter's exit does to every pool
    assert got == [0, 1]  # 1 was already running when the exit began; 2, 3 and 4 never start


def test_a_bug_of_ours_on_one_feed_is_shown_as_ours_and_the_feed_is_not_backed_off(service, client, monkeypatch):
    classify = service.classifier.classify

    def buggy(item):  # a bug that only one outlet's items meet
        if "Трамваи" in item.title:
            raise KeyError("tram")
        return classify(item)

    monkeypatch.setattr(service.classifier, "classify", buggy)
    before = scrape(client)
    outcome = {f.name: f for f in service.poll(include_all=True).feeds}
    assert outcome["Томский вестник"].status == "internal_error" and "KeyError" in outcome["Томский вестник"].error
    assert outcome["Город-Т"].ok and outcome["Город-Т"].new == 2, "the other feeds land"
    assert delta(before, scrape(client), "aggregator_internal_errors_total", step="decide") == 1
    health = {f["title"]: f for f in client.get("/api/feeds").json["feeds"]}["Томский вестник"]
    assert health["status"] == "internal_error"
    vestnik = {f.name: f for f in service.storage.feeds.list(NOW)}["Томский вестник"]
    assert vestnik.consecutive_errors == 0 and vestnik.next_check <= NOW + timedelta(minutes=17), "its usual interval"
    assert "ошибка сервиса" in client.get("/feeds").get_data(as_text=True)
    monkeypatch.setattr(service.classifier, "classify", classify)
    assert {f.name: f for f in service.poll(include_all=True).feeds}["Томский вестник"].new == 4, "fixed, it is read in full"


def test_stories_stored_by_another_poller_meanwhile_are_joined_not_doubled(service, sample_feeds):
    """Two pollers decide about two outlets' reports of one event at the same time; the one
    that writes second finds the other's story under the lock and joins it."""
    first, second = StoryPlacer(timedelta(hours=48)), StoryPlacer(timedelta(hours=48))
    feeds = {f.name: FeedForUpdate(f.id, f.url, f.name) for f in service.storage.feeds.list()}
    judges = {}
    for placer in (first, second):
        placer.catch_up(service.storage, NOW)
        judges[placer] = Judges(
            service.classifier, SponsoredRules.build([], [], []), placer.index, timedelta(hours=24), placer.seen_item_id
        )
    report = {
        "Томский вестник": ("На Черемошниках сгорел жилой дом", "Ночью в Черемошниках сгорел жилой дом, погибших нет."),
        "Город-Т": ("В Черемошниках ночью сгорел дом", "Жилой дом в Черемошниках сгорел ночью; пострадавших нет."),
    }
    intents = {}
    for placer, name in ((first, "Томский вестник"), (second, "Город-Т")):
        title, summary = report[name]
        item = ItemData(f"{name}-1", f"https://{len(name)}.example/1", title, summary, "", NOW - timedelta(hours=1), name)
        got = Retrieved(feeds[name], Fetched(feeds[name].url, 200, b"<rss/>"), "hash", FeedData(feeds[name].url, None, None, ()), (item,))
        intents[name] = decide(got, StoredForUpdate(), NOW, judges[placer])
    assert intents["Город-Т"].new[0].story_id is None, "neither poller has seen the other's report"
    service.storage.items.ingest(intents["Томский вестник"], first.reviser(feeds["Томский вестник"]))
    assert service.storage.items.ingest(intents["Город-Т"], second.reviser(feeds["Город-Т"])) > 0
    with service.storage.read() as session:
        stories = set(session.scalars(select(Item.story_id)))
    assert len(stories) == 1
