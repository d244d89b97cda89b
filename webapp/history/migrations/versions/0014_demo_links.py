"""The sales-demo links made here, so those not used yet are listed too (``demo_links``).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """A new table, empty: links made before it are known by their calls alone."""
    op.create_table(
        "demo_links",
        sa.Column("link_id", sa.String(40), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("max_calls", sa.Integer()),
        sa.Column("made_at", WHEN, nullable=False),
        sa.Column("made_by", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("link_id", name="pk_demo_links"),
    )
    op.create_index("ix_demo_links_made_at", "demo_links", ["made_at"])


def downgrade() -> None:
    """Drop it again."""
    op.drop_table("demo_links")
