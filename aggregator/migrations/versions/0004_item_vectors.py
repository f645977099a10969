"""Each item's meaning as the sentence encoder reads it (`pipeline/encoder`): a float16 unit
vector, computed once when the item is stored, so that a restart, another poller's story
window and `reclassify` never compute it again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("vector", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("items", "vector")
