"""``call_events.claimed_until``: an event whose attempt is under way, told from one waiting for a retry.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Empty: an attempt of a process still on the code before is not seen as under way (one
    call's events may go out together until that process is replaced, as they could before)."""
    with op.batch_alter_table("call_events") as batch:
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    """Drop it: one call's events may then be sent by two processes at once again."""
    with op.batch_alter_table("call_events") as batch:
        batch.drop_column("claimed_until")
