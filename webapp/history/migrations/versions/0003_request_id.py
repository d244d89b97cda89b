"""The request id of the request that asked for each call (``X-Request-ID``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A nullable column: calls recorded before it have none."""
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("request_id", sa.String(128)))


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("request_id")
