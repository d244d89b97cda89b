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
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, Table, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 5.0  # a writer waits this long for another to finish
PG_MIGRATION_LOCK = 0x7765_6263  # any constant, the same in every process ("webc")
WRITE = "webcall_write"  # execution option: this connection will write (SQLite: BEGIN IMMEDIATE)


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
    # A stuck database must not hold a caller's answer for long; the URL's own ``options`` (a
    # search_path, say) come after, so what it sets wins.
    given = make_url(url).query.get("options", ())  # a string, or a tuple when given more than once
    options = " ".join(["-c statement_timeout=10000", *([given] if isinstance(given, str) else given)])
    return create_engine(
        url,
        json_serializer=_dumps,
        pool_pre_ping=True,  # a database restart must not fail the next call's record
        pool_timeout=5,
        max_overflow=20,
        connect_args={"connect_timeout": 5, "options": options},
    )


def _sqlite_engine(url: str) -> Engine:
    """SQLite in WAL mode; we say BEGIN ourselves (pysqlite's own transactions defer too much)."""
    database = url.split("///", 1)[1] if "///" in url else ""
    if database and not database.startswith(":") and "?" not in database:
        # Transcripts, comments and numbers: readable by the app's own user only (SQLite gives its
        # -wal and -shm files the database file's mode). A folder or file made before keeps its own.
        Path(database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(database, os.O_CREAT | os.O_RDWR, 0o600))
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


class RowInserter:
    """One row into ``table``, at the driver's level and committed by itself: the call log's
    hot path, one INSERT per call and one round trip.

    SQLAlchemy's way to the same INSERT (the statement's cache key, its compiled form, an
    execution context and a result) cost more than the database did: 0.20 ms of CPU a row
    against 0.08 ms here, on SQLite (×0.94 of the worker's CPU per call, bench/README.md).
    The SQL is written once per set of columns in the driver's own parameter style, each
    value goes through its column type's bind processor for this database (``UtcDateTime``
    included, so the row is the one SQLAlchemy would write), and a driver error (connecting
    included) comes back as SQLAlchemy's own (``IntegrityError`` for a duplicate), so callers
    handle it as before.
    """

    def __init__(self, engine: Engine, table: Table) -> None:
        self.engine = engine
        self.table = table
        dialect = engine.dialect
        self.dbapi_error: Any = dialect.loaded_dbapi.Error  # the driver's own exception tree
        self.named = dialect.paramstyle in ("named", "pyformat")
        self.processors = {c.key: c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.c}
        self.autocommit = dialect.name == "postgresql"  # pysqlite's is on already (see above)
        self.statements: dict[tuple[str, ...], str] = {}

    def __call__(self, values: Mapping[str, Any]) -> int | None:
        """Insert ``values`` (column keys to Python values) and commit; the row's id on SQLite."""
        keys = tuple(values)
        sql = self.statements.get(keys) or self._statement(keys)
        converted = {key: self._bind(key, value) for key, value in values.items()}
        params: Any = converted if self.named else [converted[key] for key in keys]
        dialect = self.engine.dialect
        try:
            connection = self.engine.raw_connection()
        except self.dbapi_error as exc:
            # The pool passes on the driver's own error when it cannot connect (the database is
            # down): it must reach callers as SQLAlchemy's, like every other failure here.
            raise DBAPIError.instance(None, None, exc, self.dbapi_error, dialect=dialect) from exc
        driver: Any = connection.driver_connection
        autocommit = self.autocommit
        cursor = None
        try:
            if autocommit:
                driver.autocommit = True  # psycopg: no BEGIN, no COMMIT
            cursor = connection.cursor()
            cursor.execute(sql, params)
            return None if autocommit else cursor.lastrowid
        except self.dbapi_error as exc:
            if dialect.is_disconnect(exc, driver, cursor):
                connection.invalidate(exc)
            raise DBAPIError.instance(sql, params, exc, self.dbapi_error, dialect=dialect) from exc
        finally:
            if cursor is not None:
                cursor.close()
            if autocommit and connection.is_valid:
                driver.autocommit = False
            connection.close()

    def _bind(self, key: str, value: Any) -> Any:
        """``value`` as the driver takes it for column ``key``."""
        processor = self.processors[key]
        return processor(value) if processor is not None else value

    def _statement(self, keys: tuple[str, ...]) -> str:
        """The INSERT for these columns, in the driver's parameter style (made once)."""
        marks = {
            "qmark": lambda key, _: "?",
            "format": lambda key, _: "%s",
            "numeric": lambda key, index: f":{index}",
            "named": lambda key, _: f":{key}",
            "pyformat": lambda key, _: f"%({key})s",
        }[self.engine.dialect.paramstyle]
        preparer = self.engine.dialect.identifier_preparer
        columns = ", ".join(preparer.quote(self.table.c[key].name) for key in keys)
        placeholders = ", ".join(marks(key, index) for index, key in enumerate(keys, 1))
        sql = f"INSERT INTO {preparer.format_table(self.table)} ({columns}) VALUES ({placeholders})"
        self.statements[keys] = sql
        return sql


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
