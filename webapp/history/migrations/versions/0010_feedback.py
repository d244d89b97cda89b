"""What the caller said of a web call afterwards: a rating and a comment (``calls.feedback``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nullable columns: most calls get no feedback."""
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("feedback_rating", sa.String(8)))
        batch.add_column(sa.Column("feedback_comment", sa.Text()))
        batch.add_column(sa.Column("feedback_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("feedback_at")
        batch.drop_column("feedback_comment")
        batch.drop_column("feedback_rating")
