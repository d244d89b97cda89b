"""The call log's migrations: an empty database and an older one reach the same, current shape."""

from __future__ import annotations

import inspect
import re
import threading
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from webapp.history.database import alembic_config, current_revision, open_engine, upgrade, writing
from webapp.history.schema import SEARCH_INDEXES, metadata
from webapp.history.store import CallAttempt, CallQuery, CallStore, UnfinishedListing
from webapp.providers import ProviderCall

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def differences(engine: sa.Engine) -> list[object]:
    """What autogenerate would change to make the database match the tables in ``schema`` (the
    search's index aside: not in ``metadata``, see SEARCHED)."""

    def described(_object: object, name: str | None, *_: object) -> bool:
        return name not in SEARCH_INDEXES and not (name or "").startswith("calls_search_")

    with engine.connect() as connection:
        opts = {"compare_type": True, "include_object": described}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, metadata))


def test_an_index_on_a_table_kept_before_is_built_past_the_statement_timeout() -> None:
    """PostgreSQL's statement_timeout (10 s, the engine's) holds for the migrations run at
    start-up too: an index built on a long call log outlasts it, and the migration is rolled
    back at every start. Each migration indexing a table it did not create lifts it (LOCAL: for
    its own transaction)."""
    lifted = []
    for script in ScriptDirectory.from_config(alembic_config()).walk_revisions():
        source = inspect.getsource(script.module.upgrade)
        created = set(re.findall(r'create_table\(\s*"(\w+)"', source))
        indexed = set(re.findall(r'create_index\(\s*\w+,\s*"(\w+)"', source))
        indexed |= set(re.findall(r'create_index\(\s*"\w+",\s*"(\w+)"', source))
        indexed |= set(re.findall(r"CREATE INDEX \w+ ON (\w+)", source))
        if "batch.create_index" in source:
            indexed |= set(re.findall(r'batch_alter_table\("(\w+)"\)', source))
        if indexed - created:
            assert 'op.execute("SET LOCAL statement_timeout = 0")' in source, script.revision
            lifted.append(script.revision)
    assert sorted(lifted) == ["0002", "0007", "0008", "0012", "0016", "0018", "0019"]


def test_an_empty_database_is_created_at_head_matching_the_tables(database_url: str) -> None:
    store = CallStore(database_url)
    assert current_revision(store.engine) is None
    store.migrate()
    assert current_revision(store.engine) == HEAD
    assert differences(store.engine) == []
    if store.engine.dialect.name == "sqlite":  # the search's index is kept by these (schema.SEARCHED)
        with store.engine.connect() as connection:
            triggers = connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            assert sorted(triggers.scalars()) == [
                f"calls_search_{name}" for name in ("delete", "insert", "update")
            ]
    store.migrate()  # again: nothing to do
    assert current_revision(store.engine) == HEAD
    store.close()


def test_an_older_database_keeps_its_calls(database_url: str) -> None:
    engine = open_engine(database_url)
    upgrade(engine, "0001")  # the first call log: no status, no provider history
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    old_calls = sa.table(
        "calls", *(sa.column(name) for name in ("call_id", "provider", "provider_call_id", "agent", "channel",
                                                 "origin", "client_ref", "outcome", "created_at")),
    )  # fmt: skip
    stored_at = at if engine.dialect.name == "postgresql" else at.replace(tzinfo=None)
    with writing(engine) as connection:
        connection.execute(
            old_calls.insert(),
            [
                {"call_id": "wc_old_created", "provider": "ravan", "provider_call_id": "sess-old",
                 "agent": "sales", "channel": "web", "origin": "https://shop.example", "client_ref": "ab12",
                 "outcome": "created", "created_at": stored_at},
                {"call_id": "wc_old_failed", "provider": "convoi", "provider_call_id": None, "agent": "sales",
                 "channel": "web", "origin": None, "client_ref": "ab12", "outcome": "provider_timeout",
                 "created_at": stored_at},
            ],
        )  # fmt: skip
    engine.dispose()

    store = CallStore(database_url)
    store.migrate()
    assert current_revision(store.engine) == HEAD and differences(store.engine) == []
    created, failed = store.find("wc_old_created"), store.find("wc_old_failed")
    assert created is not None and failed is not None
    assert (created.status, created.outcome, created.created_at, created.updated_at) == (
        "created",
        "created",
        at,
        at,
    )
    assert (failed.status, failed.outcome) == ("failed", "provider_timeout")
    # The new columns work on the old rows.
    store.upsert_provider_call("ravan", ProviderCall(call_id="sess-old", status="completed", duration_s=42))
    assert store.find("sess-old").duration_s == 42  # type: ignore[union-attr]
    assert store.search(CallQuery(status="completed"))[1] == 1
    store.close()


def test_the_providers_id_is_indexed_in_a_log_with_calls_and_unindexed_going_down(database_url: str) -> None:
    engine = open_engine(database_url)
    upgrade(engine, "0007")
    store = CallStore(database_url)
    store.record_created(CallAttempt("sales", "ravan"), "sess-1", None)
    store.close()

    def indexes() -> set[str]:
        return {str(index["name"]) for index in sa.inspect(engine).get_indexes("calls")}

    upgrade(engine, "0008")
    assert "ix_calls_provider_call_id_created_at" in indexes()
    with writing(engine) as connection:
        command.downgrade(alembic_config(connection), "0007")
    assert "ix_calls_provider_call_id_created_at" not in indexes()
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT provider_call_id FROM calls")).scalars().all() == ["sess-1"]
    engine.dispose()


def test_where_listings_reached_is_kept_from_0009_and_dropped_going_down(database_url: str) -> None:
    engine = open_engine(database_url)
    upgrade(engine, "0008")
    store = CallStore(database_url)
    with writing(engine) as connection:  # a run of the sync before 0009 left a listing unfinished
        began = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        stored = began if engine.dialect.name == "postgresql" else began.replace(tzinfo=None)
        connection.execute(
            sa.text("INSERT INTO unfinished_listings (provider, since, recorded_at, resume_cursor) "
                    "VALUES ('convoi', NULL, :began, 'call_100')"),
            {"began": stored},
        )  # fmt: skip

    def columns() -> set[str]:
        return {str(column["name"]) for column in sa.inspect(engine).get_columns("unfinished_listings")}

    upgrade(engine, "0009")
    assert {"resume_before", "agent_ids"} <= columns()
    assert store.unfinished_listing("convoi") == UnfinishedListing(None, began_at=began, cursor="call_100")
    assert store.listed_through("convoi", ["agt_1"]) == {}
    store.note_listed("convoi", {"agt_1": None}, began)
    assert store.listed_through("convoi", ["agt_1"]) == {"agt_1": began}
    # Its agents are not known: where it stopped may not hold for them, so it goes on from the top.
    again = store.begin_listing("convoi", None, ["agt_1"])
    assert again > began and store.unfinished_listing("convoi") == UnfinishedListing(None, began_at=again)
    store.close()
    with writing(engine) as connection:
        command.downgrade(alembic_config(connection), "0008")
    assert "complete_listings" not in sa.inspect(engine).get_table_names()
    assert not {"resume_before", "agent_ids"} & columns()
    with engine.connect() as connection:
        kept = connection.execute(sa.text("SELECT provider FROM unfinished_listings")).scalars().all()
    assert kept == ["convoi"]
    engine.dispose()


def test_workers_starting_together_migrate_once(database_url: str) -> None:
    stores = [CallStore(database_url) for _ in range(4)]
    errors: list[BaseException] = []

    def migrate(store: CallStore) -> None:
        try:
            store.migrate()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=migrate, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert current_revision(stores[0].engine) == HEAD and differences(stores[0].engine) == []
    for store in stores:
        store.close()


def test_every_migration_goes_down_and_up_again(database_url: str) -> None:
    engine = open_engine(database_url)
    upgrade(engine)
    with writing(engine) as connection:
        command.downgrade(alembic_config(connection), "base")
    assert current_revision(engine) is None
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert differences(engine) == []
    engine.dispose()
