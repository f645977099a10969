"""A source's own picture: a Telegram channel's avatar, a feed's image or logo, shown on
/feeds and in /api/feeds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, as in 0002: a nullable column needs no table rebuild on SQLite.
def upgrade() -> None:
    op.add_column("feeds", sa.Column("image_url", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    op.drop_column("feeds", "image_url")
