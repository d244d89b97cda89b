"""Where an unfinished listing stopped: a provider whose cursors last is listed on from there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A nullable column: an unfinished listing without one is listed again from the top."""
    with op.batch_alter_table("unfinished_listings") as batch:
        batch.add_column(sa.Column("resume_cursor", sa.String(255)))


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("unfinished_listings") as batch:
        batch.drop_column("resume_cursor")
