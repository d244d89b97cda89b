"""Opening the call log's database and bringing its tables up to date.

SQLite (the default, a file in the instance folder) runs in WAL mode with
``synchronous=NORMAL``: a commit is in the database file's log before the call's answer
leaves, so killing a worker loses nothing, and no commit waits for the disk (only a crash
of the machine itself could lose the last commits). Writers begin with ``BEGIN IMMEDIATE``
so two of them queue instead of failing half-way. PostgreSQL is reached through psycopg 3.

Migrations run at start-up in one transaction that holds a lock (SQLite's write lock,
PostgreSQL's advisory lock), so workers starting together upgrade the database once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.sql.expression import Executable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 5.0  # a writer waits this long for another to finish
PG_MIGRATION_LOCK = 0x7765_6263  # any constant, the same in every process ("webc")
WRITE = "webcall_write"  # execution option: this connection will write (SQLite: BEGIN IMMEDIATE)
ALONE = "webcall_alone"  # execution option (SQLite): no BEGIN, each statement commits by itself


def driver_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` mean psycopg 3 (the driver we ship); SQLite as given."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _dumps(value: Any) -> str:
    """JSON with non-ASCII text kept as it is, so a search for "café" finds it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def open_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL), configured as described above."""
    url = driver_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(
        url,
        json_serializer=_dumps,
        pool_pre_ping=True,  # a database restart must not fail the next call's record
        pool_timeout=5,
        max_overflow=20,
        # A stuck database must not hold a caller's answer for long.
        connect_args={"connect_timeout": 5, "options": "-c statement_timeout=10000"},
    )


def _sqlite_engine(url: str) -> Engine:
    """SQLite in WAL mode; we say BEGIN ourselves (pysqlite's own transactions defer too much)."""
    database = url.split("///", 1)[1] if "///" in url else ""
    if database and not database.startswith(":"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    engine = create_engine(url, json_serializer=_dumps, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN: see begin() below
        cursor = dbapi_connection.cursor()
        _into_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's lower() (behind ILIKE) folds ASCII only: a search for "CAFÉ" must find "café".
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        # A writer takes the write lock up front: it waits for another writer instead of
        # failing when it upgrades a read lock half-way through.
        options = connection.get_execution_options()
        if options.get(ALONE):
            return  # the driver commits each statement by itself (isolation_level None)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE) else "BEGIN")

    return engine


def _into_wal(cursor: Any) -> None:
    """WAL mode, once per database file. Switching needs the file to itself, and SQLite answers
    "database is locked" at once (its busy timeout does not apply) when workers starting
    together all try: so each tries again for a while, until one of them has switched it."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _lower(value: Any) -> Any:
    """Unicode lower case for SQLite's ``lower()``."""
    return value.lower() if isinstance(value, str) else value


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed when the block ends."""
    with engine.connect() as connection:
        connection.execution_options(**{WRITE: True})
        with connection.begin():
            yield connection


def execute_alone(engine: Engine, statement: Executable, parameters: dict[str, Any]) -> None:
    """Run one statement as its own transaction: one round trip, committed when it returns.

    The hot path's single INSERT needs no BEGIN and COMMIT around it (three round trips to
    PostgreSQL instead of one); it is atomic and durable on its own.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.execution_options(**{ALONE: True})
        else:
            connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(statement, parameters)
        connection.commit()  # nothing left to commit: ends SQLAlchemy's own bookkeeping


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration: our migrations, run on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the tables to ``revision`` under a lock, in one transaction."""
    with writing(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
