"""Where the history sync must list again from: a run that missed a page must not be skipped past.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """A new table, empty: the runs before it resumed from the newest call each provider reported."""
    op.create_table(
        "unfinished_listings",
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("since", WHEN),
        sa.Column("recorded_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("provider", name="pk_unfinished_listings"),
    )


def downgrade() -> None:
    """Drop it again."""
    op.drop_table("unfinished_listings")
