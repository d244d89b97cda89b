"""The call log's tables: one row per call, the webhook deliveries applied, and named leases.

Plain SQLAlchemy Core tables on one ``MetaData``; Alembic's migrations in ``migrations/``
create the same shape (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import DateTime, TypeDecorator

# Constraint names Alembic can find again on every database.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)
# SQLite only numbers rows by itself for a column declared exactly INTEGER PRIMARY KEY.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out on every database (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store UTC; a naive datetime is a bug (whose clock would it be?)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the call log stores aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


calls = Table(
    "calls",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("call_id", String(40), nullable=False, unique=True),  # ours: wc_…
    Column("provider", String(32), nullable=False),
    Column("provider_call_id", String(255)),  # the provider's (None when the call was never created)
    Column("agent", String(64)),  # our slug
    Column("provider_agent_id", String(255)),
    Column("channel", String(8), nullable=False),  # web | phone
    Column("room", String(255)),
    Column("origin", String(255)),  # the page that asked for the call
    Column("client_ref", String(32)),  # keyed hash of the caller's address, never the address
    Column("request_id", String(128)),  # the request that asked for it (X-Request-ID): log lines ↔ record
    Column("phone_number", String(40)),  # a phone call's destination, masked (+1 415 ***-**71)
    Column("outcome", String(64)),  # created, or our error code; None for calls seen only at the provider
    Column("status", String(16), nullable=False),  # providers.CALL_STATUSES
    Column("provider_status", String(64)),
    Column("started_at", UtcDateTime()),
    Column("ended_at", UtcDateTime()),
    Column("duration_s", Float()),
    Column("cost", Float()),
    Column("cost_currency", String(8)),
    Column("summary", Text()),
    Column("recording_url", Text()),
    Column("transcript", JSON()),  # [{role, text, at}]
    Column("transcript_text", Text()),  # the same as plain text, for search
    Column("detail_at", UtcDateTime()),  # when the provider's full record was last read
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("provider", "provider_call_id"),
    Index(None, "created_at"),
    Index(None, "agent", "created_at"),
    Index(None, "status", "created_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("provider", String(32), nullable=False),
    Column("event", String(64), nullable=False),
    Column("delivery_key", String(255), nullable=False),  # what makes a repeat a repeat (session id)
    Column("call_id", String(40), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    UniqueConstraint("provider", "event", "delivery_key"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)
