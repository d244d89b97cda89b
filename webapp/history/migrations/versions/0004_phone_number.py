"""A phone call's destination, masked: the call log never holds a whole number.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A nullable column: web calls have no number."""
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("phone_number", sa.String(40)))


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("phone_number")
