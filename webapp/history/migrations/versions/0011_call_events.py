"""The events sent to the site's own URL (``WEBCALL_EVENTS_URL``), kept until they are sent.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """A new table, empty: calls made before it have no events."""
    op.create_table(
        "call_events",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN),
        sa.Column("sent_at", WHEN),
        sa.Column("last_error", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_call_events"),
        sa.UniqueConstraint("event_id", name="uq_call_events_event_id"),
    )
    op.create_index("ix_call_events_next_attempt_at", "call_events", ["next_attempt_at"])
    op.create_index("ix_call_events_occurred_at", "call_events", ["occurred_at"])
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])


def downgrade() -> None:
    """Drop it again."""
    op.drop_table("call_events")
