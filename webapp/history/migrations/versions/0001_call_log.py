"""The call log: one row per request for a web call, recorded before the answer is sent.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``calls`` with what the web-call API knows."""
    op.create_table(
        "calls",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(40), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_call_id", sa.String(255)),
        sa.Column("agent", sa.String(64)),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("room", sa.String(255)),
        sa.Column("origin", sa.String(255)),
        sa.Column("client_ref", sa.String(32)),
        sa.Column("outcome", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.UniqueConstraint("call_id", name="uq_calls_call_id"),
        sa.UniqueConstraint("provider", "provider_call_id", name="uq_calls_provider_provider_call_id"),
    )
    op.create_index("ix_calls_created_at", "calls", ["created_at"])
    op.create_index("ix_calls_agent_created_at", "calls", ["agent", "created_at"])


def downgrade() -> None:
    """Drop the call log."""
    op.drop_table("calls")
