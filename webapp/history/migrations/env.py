"""Alembic's entry point: migrations run on the connection ``database.upgrade`` hands over."""

from __future__ import annotations

from alembic import context

from webapp.history.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through webapp.history.database
    raise RuntimeError("run migrations through webapp.history.database.upgrade()")
# Batch mode: SQLite changes a column by copying its table; PostgreSQL alters in place.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
