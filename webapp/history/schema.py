"""The call log's tables: one row per call, the webhook deliveries applied, named leases, where
the history sync must list again from, where each agent's last complete listing reached, the
events waiting to be sent to the site's own URL, and the demo links made and taken back.

Plain SQLAlchemy Core tables on one ``MetaData``; Alembic's migrations in ``migrations/``
create the same shape (a test compares the two). Every text column is one of the ``Stored``
types below, so both databases keep the same row, and every write and lookup goes through them.
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
    literal_column,
    text,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import DateTime, TypeDecorator

from ..json_input import each_string

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


def storable(text: str, length: int | None = None) -> str:
    """``text`` as every database here keeps it, its first ``length`` characters without NUL.

    PostgreSQL refuses both a NUL in text and a string longer than its column, where SQLite
    keeps either: so a NUL becomes U+FFFD and a long text is clipped. A provider's stray NUL
    or overlong id must not fail a record on one database (on every retry of its webhook) that
    the other keeps, nor a lookup; and a clipped id is found again by its full length.
    """
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text[:length] if length is not None and len(text) > length else text


class StoredString(TypeDecorator[str]):
    """``String(length)`` whose values, written or compared, are :func:`storable`."""

    impl = String
    cache_ok = True

    def __init__(self, length: int | None = None) -> None:
        super().__init__(length)
        self.length = length

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """The value as the column keeps it."""
        return value if value is None else storable(value, self.length)


class StoredText(StoredString):
    """``Text`` whose values, written or compared, hold no NUL (no length: never clipped)."""

    impl = Text
    cache_ok = True


class StoredJSON(TypeDecorator[Any]):
    """``JSON`` whose strings hold no NUL, so a transcript reads back the same on both databases."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """The value with each NUL in each of its strings (keys too) as U+FFFD."""
        return each_string(value, storable)


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
    Column("call_id", StoredString(40), nullable=False, unique=True),  # ours: wc_…
    Column("provider", StoredString(32), nullable=False),
    Column("provider_call_id", StoredString(255)),  # the provider's (None when the call was never created)
    Column("agent", StoredString(64)),  # our slug
    Column("provider_agent_id", StoredString(255)),
    Column("channel", StoredString(8), nullable=False),  # web | phone
    Column("room", StoredString(255)),
    Column("origin", StoredString(255)),  # the page that asked for the call
    Column("client_ref", StoredString(32)),  # keyed hash of the caller's address, never the address
    Column("request_id", StoredString(128)),  # the asking request's X-Request-ID: log lines ↔ record
    Column("phone_number", StoredString(40)),  # a phone call's destination, masked (+1 415 ***-**71)
    Column("demo_link_id", StoredString(40)),  # the signed demo link it came through: dl_…
    Column("demo_link_label", StoredString(200)),  # that link's label, or its variables written out
    Column("outcome", StoredString(64)),  # created, or our error code; None if seen only at the provider
    Column("status", StoredString(16), nullable=False),  # providers.CALL_STATUSES
    Column("provider_status", StoredString(64)),
    Column("started_at", UtcDateTime()),
    Column("ended_at", UtcDateTime()),
    Column("duration_s", Float()),
    Column("cost", Float()),
    Column("cost_currency", StoredString(8)),
    Column("summary", StoredText()),
    Column("recording_url", StoredText()),
    Column("transcript", StoredJSON()),  # [{role, text, at}]
    Column("transcript_text", StoredText()),  # the same as plain text, for search
    Column("feedback_rating", StoredString(8)),  # the caller's: good | bad (see calls.feedback)
    Column("feedback_comment", StoredText()),  # what the caller added, if anything
    Column("feedback_at", UtcDateTime()),  # when the caller last gave it
    Column("detail_at", UtcDateTime()),  # when the provider's full record was last read
    Column("detail_asked_at", UtcDateTime()),  # when the sync last asked for it, whatever the answer
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("provider", "provider_call_id"),
    # find() by the provider's id alone (the admin view, the API), the newest first: the unique
    # key above, led by the provider, cannot serve it, and a scan of a long log blocks the worker.
    Index(None, "provider_call_id", "created_at"),
    Index(None, "created_at"),
    Index(None, "agent", "created_at"),
    Index(None, "status", "created_at"),
    Index(None, "provider", "detail_asked_at", "detail_at"),  # the calls the sync never asked about
    # The rated calls, by rating (the admin view's feedback filter): few of many, so only those.
    Index(
        None,
        "feedback_rating",
        "created_at",
        sqlite_where=text("feedback_rating IS NOT NULL"),
        postgresql_where=text("feedback_rating IS NOT NULL"),
    ),
    # The calls of one demo link (or of any): few of many, so only theirs are indexed.
    Index(
        None,
        "demo_link_id",
        "created_at",
        sqlite_where=text("demo_link_id IS NOT NULL"),
        postgresql_where=text("demo_link_id IS NOT NULL"),
    ),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("provider", StoredString(32), nullable=False),
    Column("event", StoredString(64), nullable=False),
    Column("delivery_key", StoredString(255), nullable=False),  # what makes a repeat a repeat (session id)
    Column("call_id", StoredString(40), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    UniqueConstraint("provider", "event", "delivery_key"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", StoredString(64), primary_key=True),
    Column("holder", StoredString(64), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

# One row per provider whose call list has not been read in full since ``since``: written before
# a sync run lists, removed by a run that read every page from there. The next run starts here.
unfinished_listings = Table(
    "unfinished_listings",
    metadata,
    Column("provider", StoredString(32), primary_key=True),
    Column("since", UtcDateTime()),  # where that listing started (NULL: from the beginning)
    Column("recorded_at", UtcDateTime(), nullable=False),
    # The next page of that listing, for providers whose cursors last (a call id: Convoi's)
    Column("resume_cursor", StoredString(255)),
    # For lists by start time cut at a run's last page: every call started from here up to
    # recorded_at is listed, those before it (since ``since``) are not yet.
    Column("resume_before", UtcDateTime()),
    Column("agent_ids", StoredText()),  # the provider's agent ids that listing is of, one a line
)

# One row per provider agent whose calls a run listed, every page, from the beginning or from
# within what was listed before: the next run lists that agent from a little before ``through``.
# (Not the newest call stored: a webhook or a status poll stores calls no list gave.)
complete_listings = Table(
    "complete_listings",
    metadata,
    Column("provider", StoredString(32), primary_key=True),
    Column("agent_id", StoredString(255), primary_key=True),  # the provider's
    Column("through", UtcDateTime(), nullable=False),  # every call started (Convoi: made) before it is listed
)

# The events for the site's own URL (``WEBCALL_EVENTS_URL``, see ``history.events``): written in
# the transaction that changed the call, so none is lost, and sent from here, retried until done.
call_events = Table(
    "call_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("event_id", StoredString(40), nullable=False, unique=True),  # evt_…: the webhook-id
    Column(
        "type", StoredString(32), nullable=False
    ),  # call.created | call.started | call.ended | call.rated | demo_link.opened
    Column("call_id", StoredString(40), nullable=False),  # ours: wc_…; a demo link's dl_… (demo_link.*)
    Column("body", StoredText(), nullable=False),  # the JSON sent, the same bytes on every attempt
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", UtcDateTime()),  # NULL once sent, or given up
    Column("sent_at", UtcDateTime()),
    Column("last_error", StoredString(200)),  # why the last attempt failed ("HTTP 503", "timed out")
    # While an attempt is under way (its claim's end): the call's later events wait for it.
    Column("claimed_until", UtcDateTime()),
    Index(None, "next_attempt_at"),
    Index(None, "occurred_at"),
    Index(None, "call_id"),  # a call's events, on its admin page
    Index(None, "sent_at"),  # the events sent lately, and those not sent: the Events page's counts
)

# The sales-demo links made here (the admin view, the CLI), so those nobody has used yet are listed.
demo_links = Table(
    "demo_links",
    metadata,
    Column("link_id", StoredString(40), primary_key=True),  # dl_…
    Column("agent", StoredString(64), nullable=False),
    Column("label", StoredString(200)),  # its label, or its variables written out
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("max_calls", Integer()),  # None: any number
    Column("made_at", UtcDateTime(), nullable=False),
    Column("made_by", StoredString(16), nullable=False),  # admin | cli
    Index(None, "made_at"),
)

# Sales-demo links taken back before they expire: their page and their calls are refused.
revoked_demo_links = Table(
    "revoked_demo_links",
    metadata,
    Column("link_id", StoredString(40), primary_key=True),  # dl_…
    Column("revoked_at", UtcDateTime(), nullable=False),
)

# How often each demo link's page was opened in a browser (a link preview's fetch is not counted).
demo_link_opens = Table(
    "demo_link_opens",
    metadata,
    Column("link_id", StoredString(40), primary_key=True),  # dl_…
    Column("opens", Integer(), nullable=False),
    Column("first_opened_at", UtcDateTime(), nullable=False),
    Column("last_opened_at", UtcDateTime(), nullable=False),
)

# What the admin view's search (``q``) looks in, one field a line. Migration 0018 indexes it: on
# SQLite the FTS5 table ``calls_search`` (trigrams, no content of its own), filled a batch of new
# calls at a time and kept by triggers on ``calls``; on PostgreSQL ``ix_calls_search`` (pg_trgm)
# on this very expression, which the planner has to find written the same way. Neither is in
# ``metadata``: SQLAlchemy cannot say either, and a migration recreating ``calls`` (SQLite's batch
# mode) would drop the triggers, as tests/history/test_migrations.py checks.
SEARCHED = (
    "call_id", "provider_call_id", "agent", "room", "origin", "outcome", "summary", "transcript_text",
    "request_id", "feedback_comment", "demo_link_id", "demo_link_label",
)  # fmt: skip
# and FTS5's own tables (calls_search_*); SQLite's search_progress is the last call indexed
SEARCH_INDEXES = frozenset({"calls_search", "ix_calls_search", "search_progress"})


def searched_text(dialect: str) -> ColumnElement[str]:
    """A call's searched text, in SQL for ``dialect`` (``postgresql`` or ``sqlite``)."""
    line_break = " || chr(10) || " if dialect == "postgresql" else " || char(10) || "
    return literal_column(line_break.join(f"coalesce(calls.{name}, '')" for name in SEARCHED), Text)
