"""Dedupe stage: decide which incoming items are new, changed or already stored.

Pure: it is handed the stored items that share a guid (same feed) or a canonical URL (any
feed) with the incoming ones, and returns a plan; `storage` carries it out. The same item
is never stored twice: a repeated guid within one document keeps its first entry, and an
article already stored from another feed under the same canonical URL is not stored again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aggregator.entities import ItemData, StoredItemRef


@dataclass(frozen=True)
class ItemChanges:
    new: tuple[ItemData, ...]
    updated: tuple[tuple[int, ItemData], ...]
    unchanged: int


def plan_item_changes(
    feed_id: int,
    incoming: Iterable[ItemData],
    by_guid: Mapping[str, StoredItemRef],
    by_url: Mapping[str, StoredItemRef],
) -> ItemChanges:
    new: list[ItemData] = []
    updated: list[tuple[int, ItemData]] = []
    unchanged = 0
    seen_guids: set[str] = set()
    seen_urls: set[str] = set()
    for item in incoming:
        if item.guid in seen_guids or (item.url and item.url in seen_urls):
            continue
        seen_guids.add(item.guid)
        seen_urls.add(item.url)
        stored = by_guid.get(item.guid) or (by_url.get(item.url) if item.url else None)
        if stored is None:
            new.append(item)
        elif stored.feed_id == feed_id and stored.content_hash != item.content_hash:
            updated.append((stored.id, item))
        else:
            unchanged += 1
    return ItemChanges(tuple(new), tuple(updated), unchanged)
