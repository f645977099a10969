"""The JSON API in its fixed shapes, with paging that never repeats or skips."""

import pytest

from conftest import NEW_ITEM_TITLE, serve_a_new_vestnik_item


@pytest.fixture
def polled(service, client):
    service.poll(include_all=True)
    return client


def test_paging_returns_every_item_exactly_once_newest_first(polled):
    seen, cursor, pages = [], None, 0
    while True:
        page = polled.get("/api/items", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}).json
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5 and len(seen) == 9 == len({item["id"] for item in seen})
    published = [item["published"] for item in seen]
    assert published == sorted(published, reverse=True)


def test_an_item_has_the_contract_fields(polled):
    items = polled.get("/api/items?limit=100").json["items"]
    fire = next(i for i in items if i["title"] == "На Гоголя сгорел деревянный дом")
    assert fire["url"] == "https://gorod-t.example/2026/11/25/fire"
    assert fire["published"] == "2026-11-25T03:00:00+00:00"
    assert fire["feed"]["title"] == "Город-Т" and isinstance(fire["feed"]["id"], int)
    assert fire["topic"] == "incidents" and fire["topics"][0] == "incidents"
    assert isinstance(fire["story_id"], int)
    assert set(fire) >= {"id", "title", "url", "summary", "published", "feed", "topic", "topics", "story_id"}


def test_filters_by_topic_feed_and_time(polled):
    everything = polled.get("/api/items?limit=100").json["items"]
    incidents = polled.get("/api/items?topic=incidents").json["items"]
    assert "На Гоголя сгорел деревянный дом" in [i["title"] for i in incidents]
    assert [i["id"] for i in incidents] == [i["id"] for i in everything if "incidents" in i["topics"]]
    fire = next(i for i in incidents if i["title"] == "На Гоголя сгорел деревянный дом")
    feed_id = fire["feed"]["id"]
    assert {i["feed"]["title"] for i in polled.get(f"/api/items?feed={feed_id}").json["items"]} == {"Город-Т"}
    window = polled.get("/api/items", query_string={"since": "2026-11-25T02:30:00Z", "until": "2026-11-25T04:00:00+00:00"}).json
    assert [i["title"] for i in window["items"]] == ["На Гоголя сгорел деревянный дом"]


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "cursor=garbage!", "since=yesterday", "topic=astrology", "feed=x"])
def test_a_bad_request_gets_a_400_with_a_reason(polled, query):
    response = polled.get(f"/api/items?{query}")
    assert response.status_code == 400
    assert response.json["error"]


def test_topics_and_stories(polled, service):
    topics = polled.get("/api/topics").json["topics"]
    assert [t["slug"] for t in topics] == list(service.settings.topics)
    assert topics[0]["title"] == "Экономика и бизнес"
    stories = polled.get("/api/stories?limit=100").json
    assert stories["next_cursor"] is None
    assert all(story["items"] and story["title"] for story in stories["stories"])


def test_feeds_report_health_plainly(polled):
    feeds = polled.get("/api/feeds").json["feeds"]
    assert len(feeds) == 5
    assert all(f["status"] == "ok" and f["last_error"] is None and f["last_fetched"] and f["next_check"] for f in feeds)
    assert set(feeds[0]) >= {"id", "url", "title", "status", "last_error", "last_fetched", "next_check"}


def test_health_and_metrics(polled):
    assert polled.get("/healthz").json["status"] == "ok"
    metrics = polled.get("/metrics").data.decode()
    assert "aggregator_items_ingested_total" in metrics and "# TYPE" in metrics


def test_a_client_polling_the_api_gets_304_until_something_new_arrives(polled, service, feed_server):
    first = polled.get("/api/items?limit=100")
    unchanged = polled.get("/api/items?limit=100", headers={"If-None-Match": first.headers["ETag"]})
    assert first.status_code == 200 and first.mimetype == "application/json"
    assert unchanged.status_code == 304 and unchanged.data == b""
    serve_a_new_vestnik_item(feed_server)
    service.poll(include_all=True)
    fresh = polled.get("/api/items?limit=100", headers={"If-None-Match": first.headers["ETag"]})
    assert fresh.status_code == 200
    assert NEW_ITEM_TITLE in [item["title"] for item in fresh.json["items"]]
