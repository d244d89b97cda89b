"""The signed demo link a call came through: its id and label (``calls.demo_link_*``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

WITH_LINK = sa.text("demo_link_id IS NOT NULL")


def upgrade() -> None:
    """Nullable columns (calls made before had no link recorded), and an index of the calls
    that have one."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL statement_timeout = 0")  # indexing a long call log takes its time
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("demo_link_id", sa.String(40)))
        batch.add_column(sa.Column("demo_link_label", sa.String(200)))
    op.create_index(
        "ix_calls_demo_link_id_created_at",
        "calls",
        ["demo_link_id", "created_at"],
        sqlite_where=WITH_LINK,
        postgresql_where=WITH_LINK,
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_calls_demo_link_id_created_at", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("demo_link_label")
        batch.drop_column("demo_link_id")
