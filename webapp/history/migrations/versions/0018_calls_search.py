"""A full-text index of what the admin view's search looks in (``q``): a scan of a long call log
reads every call's transcript (4 s a search at 200,000 calls on SQLite).

SQLite: ``calls_search``, an FTS5 table of trigrams without content of its own (the calls hold
it) or positions, filled a batch of new calls at a time and kept by triggers on ``calls`` (below).
PostgreSQL: a GIN index of trigrams (``pg_trgm``) on the same text, which ILIKE uses. Either is
left out where the database cannot have it (SQLite built without FTS5, ``pg_trgm`` not
installable by this user): the search then reads every call, as before.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)
# What the search looks in, one field a line (a search holds no line break: see store.py).
COLUMNS = (
    "call_id", "provider_call_id", "agent", "room", "origin", "outcome", "summary", "transcript_text",
    "request_id", "feedback_comment", "demo_link_id", "demo_link_label",
)  # fmt: skip


# Which calls hold each trigram (three characters in a row, in any case), not where: a search asks
# for the calls holding all of its trigrams and reads those to be sure (a sixth of the size a
# phrase query's positions would take, and half the CPU per call).
FTS = "body, content='', tokenize='trigram', detail='none', columnsize=0"


def text_of(row: str, line_break: str) -> str:
    """The SQL of a call's searched text, its columns read from ``row`` (new, old or none)."""
    return f" || {line_break} || ".join(f"coalesce({row}{name}, '')" for name in COLUMNS)


def upgrade() -> None:
    """Build the index over the calls kept (a long log takes minutes: once, at this start-up)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL statement_timeout = 0")
        if _created("CREATE EXTENSION IF NOT EXISTS pg_trgm"):
            trigrams = f"({text_of('', 'chr(10)')}) gin_trgm_ops"
            op.execute(f"CREATE INDEX ix_calls_search ON calls USING gin ({trigrams})")
        return
    if not _created(f"CREATE VIRTUAL TABLE calls_search USING fts5({FTS})"):
        return
    # FTS5 writes out its index at each commit: a call's own INSERT would cost twice as much CPU.
    # New calls are indexed a batch at a time instead (CallStore.index_new_calls), and a search
    # reads the few since the last batch itself; a call indexed already is kept up to date here.
    op.execute("CREATE TABLE search_progress (through INTEGER NOT NULL)")  # the last call indexed
    indexed = "(SELECT through FROM search_progress)"
    new, old = text_of("new.", "char(10)"), text_of("old.", "char(10)")
    add = f"INSERT INTO calls_search(rowid, body) VALUES (new.id, {new});"
    remove = f"INSERT INTO calls_search(calls_search, rowid, body) VALUES ('delete', old.id, {old});"
    # A new call with an id indexed before: SQLite gives the last one's again once it is deleted.
    for name, when, then in (
        ("insert", f"INSERT ON calls WHEN new.id <= {indexed}", add),
        ("delete", f"DELETE ON calls WHEN old.id <= {indexed}", remove),
        ("update", f"UPDATE OF {', '.join(COLUMNS)} ON calls WHEN old.id <= {indexed}", f"{remove} {add}"),
    ):
        op.execute(f"CREATE TRIGGER calls_search_{name} AFTER {when} BEGIN {then} END")
    op.execute(f"INSERT INTO calls_search(rowid, body) SELECT id, {text_of('', 'char(10)')} FROM calls")
    op.execute("INSERT INTO search_progress (through) SELECT coalesce(max(id), 0) FROM calls")


def downgrade() -> None:
    """Drop the index (the search reads every call again)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_calls_search")
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS calls_search_{trigger}")
    op.execute("DROP TABLE IF EXISTS calls_search")
    op.execute("DROP TABLE IF EXISTS search_progress")


def _created(statement: str) -> bool:
    """Run ``statement``; False (and a warning) where this database cannot, its work rolled back."""
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.exec_driver_sql(statement)
    except DBAPIError as exc:
        log.warning("the call log's search stays unindexed (it reads every call): %s", str(exc.orig)[:200])
        return False
    return True
