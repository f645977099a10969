"""Which incoming items are new, changed or already stored: a pure decision."""

from datetime import UTC, datetime

from aggregator.entities import ItemData, StoredItemRef
from aggregator.pipeline.dedupe import plan_item_changes


def item(guid: str, url: str, content_hash: str = "h1") -> ItemData:
    return ItemData(
        guid=guid, url=url, title="т", summary="", content_html="", published=datetime(2026, 11, 25, tzinfo=UTC), content_hash=content_hash
    )


def test_new_changed_and_unchanged_items_are_told_apart():
    stored = StoredItemRef(id=7, feed_id=1, guid="a", canonical_url="https://s.example/a", content_hash="h1")
    plan = plan_item_changes(1, [item("a", "https://s.example/a"), item("b", "https://s.example/b")], {"a": stored}, {})
    assert [i.guid for i in plan.new] == ["b"] and plan.unchanged == 1 and plan.updated == ()
    changed = plan_item_changes(1, [item("a", "https://s.example/a", "h2")], {"a": stored}, {})
    assert changed.updated[0][0] == 7


def test_a_guid_repeated_within_one_document_is_stored_once():
    plan = plan_item_changes(1, [item("a", "https://s.example/1"), item("a", "https://s.example/2")], {}, {})
    assert len(plan.new) == 1


def test_an_article_stored_from_another_feed_is_not_stored_again_nor_changed():
    elsewhere = StoredItemRef(id=3, feed_id=2, guid="x", canonical_url="https://s.example/a", content_hash="other")
    plan = plan_item_changes(1, [item("a", "https://s.example/a")], {}, {"https://s.example/a": elsewhere})
    assert plan.new == () and plan.updated == () and plan.unchanged == 1
