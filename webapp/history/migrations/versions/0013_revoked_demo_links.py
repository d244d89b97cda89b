"""Demo links taken back before they expire (``revoked_demo_links``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A new table, empty: no link was revoked before it."""
    op.create_table(
        "revoked_demo_links",
        sa.Column("link_id", sa.String(40), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("link_id", name="pk_revoked_demo_links"),
    )


def downgrade() -> None:
    """Drop it again: every link works until it expires."""
    op.drop_table("revoked_demo_links")
