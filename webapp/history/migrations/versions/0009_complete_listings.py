"""Where each agent's last complete listing reached, and where a listing cut by time goes on.

The sync listed from a day before the newest call stored, which webhooks and status polls move
too: calls only the provider knew, older than that, were never listed. A call log upgraded here
has no complete listing yet, so its next sync lists every agent's calls from the beginning once.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """A new table, empty, and two nullable columns: an unfinished listing without them is listed
    again from the top."""
    op.create_table(
        "complete_listings",
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("agent_id", sa.String(255), nullable=False),
        sa.Column("through", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("provider", "agent_id", name="pk_complete_listings"),
    )
    with op.batch_alter_table("unfinished_listings") as batch:
        batch.add_column(sa.Column("resume_before", WHEN))
        batch.add_column(sa.Column("agent_ids", sa.Text()))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("unfinished_listings") as batch:
        batch.drop_column("agent_ids")
        batch.drop_column("resume_before")
    op.drop_table("complete_listings")
