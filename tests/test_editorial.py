"""Editorial control: only editors get in, every correction applies at once, is recorded,
and can be undone."""

import re

import pytest

from aggregator import create_app
from aggregator.pipeline.classify import TopicClassifier
from aggregator.settings import settings_from_dict
from conftest import config_dict

PASSWORD, TOKEN = "correct horse battery staple", "s3cret-token-for-tests"
FIRE = "На Гоголя сгорел деревянный дом"


@pytest.fixture
def editor_service(tmp_path, sample_feeds, make_service):
    raw = config_dict(tmp_path, sample_feeds, admin={"password": PASSWORD, "token": TOKEN, "secret_key": "x" * 32})
    service = make_service(settings_from_dict(raw))
    service.poll(include_all=True)
    return service


@pytest.fixture
def site(editor_service):
    return create_app(service=editor_service).test_client()


def csrf_token(client, path="/admin/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).data.decode()).group(1)


@pytest.fixture
def editor(site):
    token = csrf_token(site)
    response = site.post("/admin/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return site


def item_by_title(client, title):
    return next(i for i in client.get("/api/items?limit=100").json["items"] if i["title"] == title)


def test_admin_pages_need_a_login(site):
    response = site.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_a_wrong_password_is_refused_and_repeated_failures_are_throttled(site):
    token = csrf_token(site)
    for _ in range(5):
        assert site.post("/admin/login", data={"username": "admin", "password": "guess", "csrf_token": token}).status_code == 401
    blocked = site.post("/admin/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert blocked.status_code == 429


def test_forms_without_a_csrf_token_are_rejected(editor):
    item = item_by_title(editor, FIRE)
    response = editor.post(f"/admin/items/{item['id']}/hide_item")
    assert response.status_code == 400 and "CSRF" in response.data.decode()


def test_admin_is_off_without_a_password_or_token_and_its_paths_do_not_exist(client):
    for path in ("/admin/", "/admin/login", "/admin", "/admin/actions/1/undo"):
        page = client.get(path, follow_redirects=True)
        assert page.status_code == 404 and "Страница не найдена" in page.data.decode(), path
    assert client.post("/admin/login", data={"username": "admin", "password": "guess"}).status_code == 404  # not a CSRF 400
    assert client.post("/admin/logout").status_code == 404
    for method, path in (("get", "/api/admin/actions"), ("post", "/api/admin/actions"), ("post", "/api/admin/actions/1/undo")):
        api = getattr(client, method)(path, json={"action": "hide_item", "item_id": 1}, headers={"Authorization": "Bearer guess"})
        assert api.status_code == 404 and api.json["status"] == 404, path


def test_setting_a_topic_applies_at_once_and_can_be_undone(editor):
    item = item_by_title(editor, FIRE)
    token = csrf_token(editor, "/admin/")
    editor.post(f"/admin/items/{item['id']}/set_topic", data={"topic": "city", "csrf_token": token})
    assert item_by_title(editor, FIRE)["topic"] == "city"
    assert FIRE in editor.get("/feeds/city.atom").data.decode()
    dashboard = editor.get("/admin/").data.decode()
    action_id = re.search(r"/admin/actions/(\d+)/undo", dashboard).group(1)
    editor.post(f"/admin/actions/{action_id}/undo", data={"csrf_token": token})
    assert item_by_title(editor, FIRE)["topic"] == "incidents"


def test_hiding_an_item_takes_it_out_of_feeds_and_pages(editor):
    item = item_by_title(editor, FIRE)
    editor.post(f"/admin/items/{item['id']}/hide_item", data={"csrf_token": csrf_token(editor, "/admin/")})
    assert FIRE not in editor.get("/feeds/all.atom").data.decode()
    assert FIRE not in editor.get("/").data.decode()
    assert all(i["title"] != FIRE for i in editor.get("/api/items?limit=100").json["items"])
    assert "Гоголя" not in editor.get("/search?q=Гоголь").data.decode()


def test_the_editorial_api_needs_the_token(site):
    assert site.post("/api/admin/actions", json={"action": "hide_item", "item_id": 1}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert site.post("/api/admin/actions", json={"action": "hide_item", "item_id": 1}, headers=wrong).status_code == 401


def test_pin_move_and_split_through_the_api_are_recorded(site):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    fire, hockey = item_by_title(site, FIRE), item_by_title(site, "Хоккеисты «Томи» выиграли домашний матч")
    moved = site.post(
        "/api/admin/actions", json={"action": "move_item", "item_id": hockey["id"], "story_id": fire["story_id"]}, headers=auth
    )
    assert moved.status_code == 201
    story = site.get(f"/stories/{fire['story_id']}").data.decode()
    assert "Хоккеисты" in story
    split = site.post("/api/admin/actions", json={"action": "split_item", "item_id": hockey["id"]}, headers=auth)
    assert item_by_title(site, "Хоккеисты «Томи» выиграли домашний матч")["story_id"] not in (fire["story_id"], hockey["story_id"])
    site.post(f"/api/admin/actions/{split.json['action']['id']}/undo", headers=auth)
    assert item_by_title(site, "Хоккеисты «Томи» выиграли домашний матч")["story_id"] == fire["story_id"]
    pin = site.post("/api/admin/actions", json={"action": "pin_story", "story_id": hockey["story_id"]}, headers=auth)
    assert pin.status_code == 201
    log = site.get("/api/admin/actions", headers=auth).json["actions"]
    assert [a["action"] for a in log] == ["pin_story", "split_item", "move_item"]
    assert log[1]["undone_at"] and all(a["who"] == "admin (token)" for a in log)


def test_a_pinned_story_leads_its_topic(tmp_path, feed_server, make_service):
    rss = """<rss version="2.0"><channel><title>Т</title>
    <item><title>Хоккеисты выиграли матч</title><link>https://t.example/1</link><pubDate>Wed, 25 Nov 2026 08:00:00 +0000</pubDate><description>Матч турнира.</description></item>
    <item><title>Лыжники открыли сезон</title><link>https://t.example/2</link><pubDate>Wed, 25 Nov 2026 02:00:00 +0000</pubDate><description>Соревнования спортсменов.</description></item>
    </channel></rss>"""
    raw = config_dict(tmp_path, {"Т": feed_server.serve("/t.xml", rss)}, admin={"token": TOKEN})
    service = make_service(settings_from_dict(raw))
    service.poll(include_all=True)
    site = create_app(service=service).test_client()
    older = item_by_title(site, "Лыжники открыли сезон")
    site.post(
        "/api/admin/actions", json={"action": "pin_story", "story_id": older["story_id"]}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    page = site.get("/topics/sport").data.decode()
    assert page.index("Лыжники") < page.index("Хоккеисты")
    digest = site.get("/").data.decode()
    assert digest.index("Лыжники") < digest.index("Хоккеисты")


def test_unknown_actions_and_topics_are_400s(site):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert site.post("/api/admin/actions", json={"action": "delete_everything"}, headers=auth).status_code == 400
    fire = item_by_title(site, FIRE)
    bad = site.post("/api/admin/actions", json={"action": "set_topic", "item_id": fire["id"], "topic": "astrology"}, headers=auth)
    assert bad.status_code == 400 and "astrology" in bad.json["error"]
    assert site.post("/api/admin/actions", data="nonsense", headers=auth).status_code == 400


def test_a_correction_survives_reclassify_and_teaches_the_model(editor_service, site, monkeypatch):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    fire = item_by_title(site, FIRE)
    site.post("/api/admin/actions", json={"action": "set_topic", "item_id": fire["id"], "topic": "city"}, headers=auth)
    fitted_with = []
    real_fit = TopicClassifier.from_settings.__func__

    def spy(cls, settings, corrections=(), **kwargs):
        fitted_with.extend(corrections)
        return real_fit(cls, settings, corrections, **kwargs)

    monkeypatch.setattr(TopicClassifier, "from_settings", classmethod(spy))
    assert editor_service.reclassify() == 8  # every item but the corrected one
    assert item_by_title(site, FIRE)["topic"] == "city"
    assert [(c.title, c.topic) for c in fitted_with] == [(FIRE, "city")]


def test_explain_names_what_decided_the_topic(site):
    fire = item_by_title(site, FIRE)
    body = site.get(f"/api/items/{fire['id']}/explain").json
    assert body["item"]["topic"] == "incidents" and body["set_by_editor"] is False
    assert "сгореть" in str(body["explanation"]) or "пожар" in str(body["explanation"])
    assert site.get("/api/items/999999/explain").status_code == 404
