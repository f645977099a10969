"""Old stories go in batches; an editor's corrections and the editorial log stay."""

from datetime import timedelta

from sqlalchemy import func, select

from aggregator import editing
from aggregator.storage.models import EditorialAction, Item, Story
from conftest import NOW


def count(service, model) -> int:
    with service.storage.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_prune_removes_old_stories_but_keeps_corrected_items(service, client):
    service.poll(include_all=True)
    fire = next(i for i in client.get("/api/items?limit=100").json["items"] if i["title"].startswith("На Гоголя"))
    editing.apply(service, "editor", "set_topic", item_id=fire["id"], topic="city")
    assert count(service, Item) == 9

    nothing = service.storage.retention.prune(NOW - timedelta(days=90), batch=2)
    assert (nothing.stories, nothing.items) == (0, 0)

    done = service.storage.retention.prune(NOW + timedelta(days=1), batch=2)
    assert done.items == 8 and count(service, Item) == 1
    with service.storage.read() as session:
        assert session.scalar(select(Item.title)) == fire["title"]
        assert session.scalar(select(func.count()).select_from(Story)) == 1
        action = session.scalar(select(EditorialAction))
        assert action.action == "set_topic" and action.item_id == fire["id"]
    assert client.get("/search?q=трамвай").status_code == 200
    assert "Трамваи" not in client.get("/search?q=трамвай").data.decode()


def test_pages_cached_before_a_prune_are_not_served_after_it(service, client):
    service.poll(include_all=True)
    newest = max(client.get("/api/items?limit=100").json["items"], key=lambda item: item["id"])
    editing.apply(service, "editor", "set_topic", item_id=newest["id"], topic="city")  # kept by the prune
    before = client.get("/")
    assert before.status_code == 200 and "Трамваи" in before.data.decode()

    service.storage.retention.prune(NOW + timedelta(days=1))

    assert client.get("/", headers={"If-None-Match": before.headers["ETag"]}).status_code == 200
    assert "Трамваи" not in client.get("/").data.decode()
