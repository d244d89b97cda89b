"""When the history sync last asked a provider for a call's full record: each call is asked once
however old, and asked again only while it is recent.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)
INDEX = "ix_calls_provider_detail_asked_at_detail_at"


def upgrade() -> None:
    """A nullable column (no call asked about yet) and the index that finds those never asked."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL statement_timeout = 0")  # indexing a long call log takes its time
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("detail_asked_at", WHEN))
        batch.create_index(INDEX, ["provider", "detail_asked_at", "detail_at"])


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("calls") as batch:
        batch.drop_index(INDEX)
        batch.drop_column("detail_asked_at")
