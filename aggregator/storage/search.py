"""Full-text search over lemmas, so «трамвай» finds «трамваи» and «трамваев».

Each item stores the lemmas of its title and summary (`items.search_lemmas`). On SQLite an
FTS5 table mirrors that column through triggers and ranks with bm25; on PostgreSQL a GIN
index over `to_tsvector('simple', search_lemmas)` does the same with ts_rank. Both are made
by the first migration (aggregator/migrations). The query is
lemmatised the same way; every word must match. Readers reach it as `Storage.reads.search`,
which gives it its session.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from aggregator.pipeline.lemmas import content_lemmas
from aggregator.storage.models import Item
from aggregator.storage.views import ItemView, item_view

READER_VISIBLE = "NOT items.hidden AND NOT items.sponsored"
NEWEST_MATCHES = 1000
# Ranking looks at the newest NEWEST_MATCHES items that match, not every match in the archive:
# a word in one item of a hundred matches ten thousand items at a million stored, and ranking
# them all made search ten times slower there than on a young database. On a news site the
# best of the newest thousand is what a reader is after; older ones are one more word away.
# (The newest matches come cheaply from the full-text index: FTS5 rowids and item ids are
# the same, and both walk them in descending order.)
SQLITE_QUERY = f"""SELECT items.id FROM
                     (SELECT rowid, rank FROM items_fts WHERE items_fts MATCH :query ORDER BY rowid DESC LIMIT {NEWEST_MATCHES}) AS hits
                   JOIN items ON items.id = hits.rowid WHERE {READER_VISIBLE}
                   ORDER BY hits.rank, items.id DESC LIMIT :limit OFFSET :offset"""
POSTGRES_QUERY = f"""SELECT id FROM
                       (SELECT id, search_lemmas FROM items WHERE to_tsvector('simple', search_lemmas) @@ to_tsquery('simple', :query)
                          AND {READER_VISIBLE} ORDER BY id DESC LIMIT {NEWEST_MATCHES}) AS hits
                     ORDER BY ts_rank(to_tsvector('simple', search_lemmas), to_tsquery('simple', :query)) DESC, id DESC
                     LIMIT :limit OFFSET :offset"""

# A search as a feed wants the newest matches, not the best: what a subscriber has not seen yet.
SQLITE_NEWEST = f"""SELECT items.id FROM
                      (SELECT rowid FROM items_fts WHERE items_fts MATCH :query ORDER BY rowid DESC LIMIT {NEWEST_MATCHES}) AS hits
                    JOIN items ON items.id = hits.rowid WHERE {READER_VISIBLE}
                    ORDER BY items.published_at DESC, items.id DESC LIMIT :limit OFFSET :offset"""
POSTGRES_NEWEST = f"""SELECT id FROM
                        (SELECT id, published_at FROM items WHERE to_tsvector('simple', search_lemmas) @@ to_tsquery('simple', :query)
                           AND {READER_VISIBLE} ORDER BY id DESC LIMIT {NEWEST_MATCHES}) AS hits
                      ORDER BY published_at DESC, id DESC LIMIT :limit OFFSET :offset"""


@dataclass(frozen=True)
class SearchResults:
    query_lemmas: tuple[str, ...]
    items: list[ItemView]
    has_more: bool


def matching_items(session: Session, query: str, limit: int = 20, offset: int = 0, newest_first: bool = False) -> SearchResults:
    """Items a reader may see (not hidden, not advertising) matching every word of `query`
    in some form, best first among the newest NEWEST_MATCHES that match (or, with
    `newest_first`, the newest of those first)."""
    wanted = tuple(dict.fromkeys(lemma for lemma in content_lemmas(query) if lemma.isalnum()))
    if not wanted:
        return SearchResults(wanted, [], False)
    sqlite = session.get_bind().dialect.name == "sqlite"
    expression = " ".join(f'"{lemma}"' for lemma in wanted) if sqlite else " & ".join(wanted)
    sql = (SQLITE_NEWEST if sqlite else POSTGRES_NEWEST) if newest_first else (SQLITE_QUERY if sqlite else POSTGRES_QUERY)
    ids = list(session.scalars(text(sql), {"query": expression, "limit": limit + 1, "offset": offset}))
    found = select(Item).options(selectinload(Item.feed), selectinload(Item.topics)).where(Item.id.in_(ids[:limit]))
    rows = {row.id: row for row in session.scalars(found)}
    return SearchResults(wanted, [item_view(rows[i]) for i in ids[:limit] if i in rows], len(ids) > limit)
