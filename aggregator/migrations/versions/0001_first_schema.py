"""The first schema: feeds, stories, items with their topics, the editorial log, and
full-text search over item lemmas (FTS5 on SQLite, a GIN index on PostgreSQL).

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE items_fts USING fts5(search_lemmas, content='items', content_rowid='id')",
    """CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
         INSERT INTO items_fts(rowid, search_lemmas) VALUES (new.id, new.search_lemmas); END""",
    """CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
         INSERT INTO items_fts(items_fts, rowid, search_lemmas) VALUES ('delete', old.id, old.search_lemmas); END""",
    """CREATE TRIGGER items_fts_update AFTER UPDATE OF search_lemmas ON items BEGIN
         INSERT INTO items_fts(items_fts, rowid, search_lemmas) VALUES ('delete', old.id, old.search_lemmas);
         INSERT INTO items_fts(rowid, search_lemmas) VALUES (new.id, new.search_lemmas); END""",
]
POSTGRES_SEARCH = ["CREATE INDEX ix_items_search ON items USING gin (to_tsvector('simple', search_lemmas))"]


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("config_url", sa.String(length=2000), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("site_url", sa.String(length=2000), nullable=True),
        sa.Column("from_config", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("topic_hint", sa.String(length=64), nullable=True),
        sa.Column("interval_minutes", sa.Integer(), nullable=True),
        sa.Column("etag", sa.String(length=500), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("body_hash", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_errors", sa.Integer(), nullable=False),
        sa.Column("last_fetched_at", sa.DateTime(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("next_check_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feeds_next_check_at"), ["next_check_at"], unique=False)

    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("lead_item_id", sa.Integer(), nullable=True),
        sa.Column("first_published_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("pinned_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stories_first_published_at"), ["first_published_at"], unique=False)
        batch_op.create_index("ix_stories_topic_updated", ["topic", "updated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_stories_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=True),
        sa.Column("guid", sa.String(length=2000), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("canonical_url", sa.String(length=2000), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content_html", sa.Text(), nullable=False),
        sa.Column("image_url", sa.String(length=2000), nullable=True),
        sa.Column("author", sa.String(length=300), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("topic_confidence", sa.Float(), nullable=False),
        sa.Column("search_lemmas", sa.Text(), nullable=False),
        sa.Column("sponsored", sa.Boolean(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("topic_locked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feed_id", "guid", name="uq_items_feed_guid"),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_items_canonical_url"), ["canonical_url"], unique=False)
        batch_op.create_index("ix_items_feed_published", ["feed_id", "published_at"], unique=False)
        batch_op.create_index("ix_items_published", ["published_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_items_story_id"), ["story_id"], unique=False)
        batch_op.create_index("ix_items_topic_published", ["topic", "published_at"], unique=False)
        batch_op.create_index("ix_items_updated", ["updated_at"], unique=False)

    op.create_table(
        "editorial_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("who", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("story_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("undone_at", sa.DateTime(), nullable=True),
        sa.Column("undone_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("editorial_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_editorial_actions_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_editorial_actions_item_id"), ["item_id"], unique=False)

    op.create_table(
        "item_topics",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", "topic"),
    )
    with op.batch_alter_table("item_topics", schema=None) as batch_op:
        batch_op.create_index("ix_item_topics_topic_published", ["topic", "published_at"], unique=False)
    for statement in SQLITE_SEARCH if op.get_bind().dialect.name == "sqlite" else POSTGRES_SEARCH:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("items_fts_insert", "items_fts_delete", "items_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS items_fts")
    with op.batch_alter_table("item_topics", schema=None) as batch_op:
        batch_op.drop_index("ix_item_topics_topic_published")

    op.drop_table("item_topics")
    with op.batch_alter_table("editorial_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_editorial_actions_item_id"))
        batch_op.drop_index(batch_op.f("ix_editorial_actions_at"))

    op.drop_table("editorial_actions")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_updated")
        batch_op.drop_index("ix_items_topic_published")
        batch_op.drop_index(batch_op.f("ix_items_story_id"))
        batch_op.drop_index("ix_items_published")
        batch_op.drop_index("ix_items_feed_published")
        batch_op.drop_index(batch_op.f("ix_items_canonical_url"))

    op.drop_table("items")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stories_updated_at"))
        batch_op.drop_index("ix_stories_topic_updated")
        batch_op.drop_index(batch_op.f("ix_stories_first_published_at"))

    op.drop_table("stories")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feeds_next_check_at"))

    op.drop_table("feeds")
