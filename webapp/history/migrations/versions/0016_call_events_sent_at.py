"""An index on ``call_events.sent_at``: the Events page's counts read only the events they count.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The events sent since a moment, and those not sent (waiting or given up), by the index."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL statement_timeout = 0")  # indexing a long call log takes its time
    op.create_index("ix_call_events_sent_at", "call_events", ["sent_at"])


def downgrade() -> None:
    """Drop it: the counts read the whole table again."""
    op.drop_index("ix_call_events_sent_at", "call_events")
