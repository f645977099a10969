"""News-list page sources and article full text; leases for several pollers; an index for
pinned stories (the page cache asks for them on every data-version check).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


FEED_COLUMNS = [
    sa.Column("claimed_until", sa.DateTime(), nullable=True),
    sa.Column("claimed_by", sa.String(length=300), nullable=True),
    sa.Column("kind", sa.String(length=16), nullable=True),
    sa.Column("selectors", sa.JSON(), nullable=True),
    sa.Column("full_text", sa.Boolean(), nullable=True),
    sa.Column("publish", sa.String(length=16), nullable=True),
]


# Plain ALTER TABLE (not Alembic's batch mode): recreating `items` on SQLite would drop the
# full-text search triggers that hang on it.
def upgrade() -> None:
    for column in FEED_COLUMNS:
        op.add_column("feeds", column)
    op.add_column("items", sa.Column("full_text", sa.Text(), nullable=True))
    op.create_index("ix_stories_pinned_until", "stories", ["pinned_until"])


def downgrade() -> None:
    op.drop_index("ix_stories_pinned_until", table_name="stories")
    op.drop_column("items", "full_text")
    for column in reversed(FEED_COLUMNS):
        op.drop_column("feeds", column.name)
