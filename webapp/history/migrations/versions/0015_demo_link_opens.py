"""How often each demo link's page was opened (``demo_link_opens``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A new table, empty: no open was counted before it."""
    op.create_table(
        "demo_link_opens",
        sa.Column("link_id", sa.String(40), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column("first_opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("link_id", name="pk_demo_link_opens"),
    )


def downgrade() -> None:
    """Drop it again: the counts are lost."""
    op.drop_table("demo_link_opens")
