"""Provider history: status, times, cost, summary, recording and transcript; webhooks; leases.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add what providers report; calls recorded so far were created or failed, as their outcome says."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL statement_timeout = 0")  # indexing a long call log takes its time
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("provider_agent_id", sa.String(255)))
        batch.add_column(sa.Column("status", sa.String(16)))
        batch.add_column(sa.Column("provider_status", sa.String(64)))
        batch.add_column(sa.Column("started_at", WHEN))
        batch.add_column(sa.Column("ended_at", WHEN))
        batch.add_column(sa.Column("duration_s", sa.Float()))
        batch.add_column(sa.Column("cost", sa.Float()))
        batch.add_column(sa.Column("cost_currency", sa.String(8)))
        batch.add_column(sa.Column("summary", sa.Text()))
        batch.add_column(sa.Column("recording_url", sa.Text()))
        batch.add_column(sa.Column("transcript", sa.JSON()))
        batch.add_column(sa.Column("transcript_text", sa.Text()))
        batch.add_column(sa.Column("detail_at", WHEN))
        batch.add_column(sa.Column("updated_at", WHEN))
    calls = sa.table(
        "calls", sa.column("outcome", sa.String), sa.column("status", sa.String),
        sa.column("created_at", WHEN), sa.column("updated_at", WHEN),
    )  # fmt: skip
    op.execute(
        calls.update().values(
            status=sa.case((calls.c.outcome == "created", "created"), else_="failed"),
            updated_at=calls.c.created_at,
        )
    )
    with op.batch_alter_table("calls") as batch:
        batch.alter_column("status", existing_type=sa.String(16), nullable=False)
        batch.alter_column("updated_at", existing_type=WHEN, nullable=False)
        batch.create_index("ix_calls_status_created_at", ["status", "created_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("delivery_key", sa.String(255), nullable=False),
        sa.Column("call_id", sa.String(40), nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint(
            "provider", "event", "delivery_key", name="uq_webhook_deliveries_provider_event_delivery_key"
        ),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    """Back to the call log alone."""
    op.drop_table("leases")
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_status_created_at")
        for column in (
            "updated_at", "detail_at", "transcript_text", "transcript", "recording_url", "summary",
            "cost_currency", "cost", "duration_s", "ended_at", "started_at", "provider_status", "status",
            "provider_agent_id",
        ):  # fmt: skip
            batch.drop_column(column)
