"""An index of the rated calls, by rating and time: the admin view's feedback filter (``bad``
above all) read every call to find the few rated ones (175 ms a list at 200,000 calls on SQLite,
ten times that at two million). Partial: a call's INSERT (never rated yet) leaves it alone.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

RATED = sa.text("feedback_rating IS NOT NULL")


def upgrade() -> None:
    """Index the calls rated so far."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL statement_timeout = 0")  # indexing a long call log takes its time
    op.create_index(
        "ix_calls_feedback_rating_created_at",
        "calls",
        ["feedback_rating", "created_at"],
        sqlite_where=RATED,
        postgresql_where=RATED,
    )


def downgrade() -> None:
    """Drop it (the feedback filter reads every call again)."""
    op.drop_index("ix_calls_feedback_rating_created_at", table_name="calls")
