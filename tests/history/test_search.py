"""The admin view's search (``q``) through the call log's full-text index (migration 0018): the
same calls as reading every call finds, by the index, kept up to date with each call's text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.history.test_store import T0, attempt, seed
from tests.support.services import PostgresServer
from webapp.history import store as store_module
from webapp.history.database import open_engine, upgrade, writing
from webapp.history.store import CallQuery, CallStore
from webapp.providers import ProviderCall, TranscriptLine


@pytest.fixture
def store(call_log_url: str) -> Iterator[CallStore]:
    """A migrated, empty call log."""
    store = CallStore(call_log_url)
    yield store
    store.close()


def statements(store: CallStore) -> list[tuple[str, Any]]:
    """The statements ``store`` runs from now on, with their parameters (as the driver gets them)."""
    seen: list[tuple[str, Any]] = []
    sa.event.listen(
        store.engine, "before_cursor_execute", lambda _c, _u, sql, params, *_: seen.append((sql, params))
    )
    return seen


def plan(store: CallStore, sql: str, params: Any) -> str:
    """The database's plan for ``sql``, with sequential scans off on PostgreSQL (a table this
    small is read whole, index or not: what matters is that the index can serve the query)."""
    with store.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        if store.engine.dialect.name == "postgresql":
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(row[3] for row in cursor.fetchall())


def searched(store: CallStore, text: str) -> list[str]:
    """The ids of the calls a search for ``text`` lists (newest first; the total checked to agree)."""
    records, total = store.search(CallQuery(text=text, page_size=100))
    assert total == len(records)
    return [record.call_id for record in records]


def test_a_search_is_answered_by_the_index(store: CallStore) -> None:
    ids = seed(store)
    store.index_new_calls()
    seen = statements(store)
    assert searched(store, "café") == [ids["e"]]
    counted = next((sql, params) for sql, params in seen if "count(" in sql.lower())
    if store.engine.dialect.name == "postgresql":
        assert "ix_calls_search" in plan(store, *counted)
    else:
        assert "calls_search VIRTUAL TABLE" in plan(store, *counted)


def test_the_index_follows_each_calls_text(store: CallStore) -> None:
    ours = store.record_created(attempt(at=T0), "sess-77", "room-blue")
    store.index_new_calls()  # from here on, SQLite's triggers keep the index
    assert searched(store, "ROOM-BL") == searched(store, "sess-7") == [ours]
    said = (TranscriptLine("user", "I would like a refund"),)
    store.upsert_provider_call("ravan", ProviderCall(call_id="sess-77", status="completed", transcript=said))
    assert searched(store, "a refund") == [ours]
    store.upsert_provider_call(
        "ravan",
        ProviderCall(call_id="sess-77", status="completed", transcript=(TranscriptLine("user", "Thanks"),)),
    )
    assert searched(store, "refund") == [] and searched(store, "user: thanks") == [ours]
    assert store.record_feedback(ours, "bad", "Too slow to answer", T0)
    assert searched(store, "slow to") == [ours]
    other = store.record_failed(attempt(at=T0 + timedelta(days=2)), "origin_not_allowed")
    store.index_new_calls()
    assert searched(store, "not_allowed") == [other]
    assert store.prune(T0 + timedelta(days=1)) == 1
    assert searched(store, "slow to") == [] and searched(store, "not_allowed") == [other]
    if store.engine.dialect.name == "sqlite":  # FTS5's own check that the index matches its rows
        with writing(store.engine) as connection:
            connection.exec_driver_sql("INSERT INTO calls_search(calls_search) VALUES ('integrity-check')")


@pytest.mark.parametrize(
    "text", ["CAFÉ", "café", "100%", "room_", "provider_err", "z-1", "sales", 'said "hi"', "z-"]
)
def test_the_index_and_a_walk_through_the_calls_find_the_same(
    store: CallStore, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """Which way a page is read (through the index, or walking the calls newest first, as
    SEARCH_WALK_COST chooses) changes nothing in what it lists."""
    seed(store)
    store.index_new_calls()
    store.upsert_provider_call(
        "zudu",
        ProviderCall(call_id="q-1", status="completed", created_at=T0, summary='She said "hi" and left'),
    )  # and one the index has not taken yet
    monkeypatch.setattr(store_module, "SEARCH_WALK_COST", 10**9)  # never walk
    indexed = searched(store, text)
    monkeypatch.setattr(store_module, "SEARCH_WALK_COST", 0)  # always walk
    walked = searched(store, text)
    exported = [record.call_id for record in store.iter_search(CallQuery(text=text))]
    assert indexed == walked == exported
    assert indexed  # each is in one call at least


def test_postgresql_reads_a_word_in_most_calls_in_the_columns(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads each call its trigram index finds again, in one process: a word in most
    calls is counted sooner by a parallel scan of the columns. A sample of the calls tells which
    (here all of them), and either way finds the same calls."""
    store = CallStore(str(postgres.create_database(migrated=True)))
    try:
        for n in range(8):
            store.record_created(
                attempt(at=T0 + timedelta(minutes=n)), f"sess-{n}", "room-red" if n < 2 else None
            )
        monkeypatch.setattr(store_module, "SEARCH_SAMPLED_FROM", 0)
        monkeypatch.setattr(store_module, "SEARCH_SAMPLE", 10**6)  # the whole log
        seen = statements(store)
        assert len(searched(store, "sess-")) == 8  # in all: the columns
        assert len(searched(store, "room-red")) == 2  # in a quarter: the index
        counts = [(sql, params) for sql, params in seen if sql.lstrip().startswith("SELECT count(*) AS")]
        assert ["ix_calls_search" in plan(store, *counted) for counted in counts] == [False, True]
        assert "TABLESAMPLE" in "".join(sql for sql, _ in seen)
        monkeypatch.setattr(store_module, "SEARCH_SAMPLED_FROM", 9)  # a log this small: no sample
        seen.clear()
        assert len(searched(store, "sess-")) == 8
        assert "TABLESAMPLE" not in "".join(sql for sql, _ in seen)
    finally:
        store.close()


def test_a_search_with_a_line_break_reads_each_field_on_its_own(store: CallStore) -> None:
    """The index holds a call's fields one a line: a line break must not join two of them."""
    ours = store.record_created(attempt(at=T0), "sess-1", "room-1")
    lines = (TranscriptLine("user", "hello"), TranscriptLine("agent", "hi there"))
    store.upsert_provider_call("ravan", ProviderCall(call_id="sess-1", status="completed", transcript=lines))
    assert searched(store, "hello\nagent: hi") == [ours]  # within the transcript
    assert searched(store, "sess-1\nsales") == []  # the provider's id, then the agent: two fields


def test_an_older_log_is_indexed_by_the_migration(database_url: str) -> None:
    engine = open_engine(database_url)
    upgrade(engine, "0017")
    stored_at = T0 if engine.dialect.name == "postgresql" else T0.replace(tzinfo=None)
    row = {
        "call_id": "wc_before", "provider": "ravan", "provider_call_id": "sess-old", "agent": "sales",
        "channel": "web", "status": "completed", "outcome": "created", "created_at": stored_at,
        "updated_at": stored_at, "transcript_text": "user: Where is my parcel?",
    }  # fmt: skip
    with writing(engine) as connection:
        connection.execute(sa.table("calls", *(sa.column(name) for name in row)).insert(), [row])
    engine.dispose()
    store = CallStore(database_url)
    store.migrate()
    seen = statements(store)
    assert searched(store, "my parcel") == ["wc_before"]
    counted = next((sql, params) for sql, params in seen if "count(" in sql.lower())
    assert ("ix_calls_search" if engine.dialect.name == "postgresql" else "VIRTUAL TABLE") in plan(
        store, *counted
    )
    store.close()


def test_new_calls_are_found_before_and_after_their_batch_is_indexed(
    store: CallStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite indexes new calls SEARCH_BATCH at a time (the call that makes a batch does it);
    a search finds the calls since the last batch by reading them, and a call indexed already
    is kept up to date."""
    monkeypatch.setattr(store_module, "SEARCH_BATCH", 3)
    first = store.record_created(attempt(at=T0), "sess-1", "room-1")
    second = store.record_failed(attempt(at=T0 + timedelta(minutes=1)), "provider_timeout")
    assert searched(store, "sess-1") == [first] and searched(store, "provider_time") == [second]
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT through FROM search_progress").scalar() == 0
    third = store.record_created(attempt(at=T0 + timedelta(minutes=2)), "sess-3", "room-3")  # the third row
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT through FROM search_progress").scalar() == 3
            held = connection.exec_driver_sql("""SELECT count(*) FROM calls_search('"roo" "oom" "om-"')""")
            assert held.scalar() == 2  # the index has both rooms
    assert searched(store, "room-") == [third, first]
    store.upsert_provider_call("ravan", ProviderCall(call_id="sess-3", status="completed", summary="Booked"))
    assert searched(store, "booked") == [third]
    assert store.index_new_calls() == 0  # nothing new


def test_a_call_given_the_id_of_one_deleted_is_indexed(store: CallStore) -> None:
    """SQLite gives a new row the highest id there is plus one: once the last call is deleted, a
    new call can have an id indexed before, and the index must hold its text, not the old one's."""
    old = store.record_created(attempt(at=T0), "sess-1", None)
    store.record_created(attempt(at=T0 - timedelta(days=400)), "sess-gone", None)  # the last id, old
    store.index_new_calls()
    assert store.prune(T0 - timedelta(days=1)) == 1
    new = store.record_created(attempt(at=T0 + timedelta(hours=1)), "sess-new", None)
    assert searched(store, "sess-") == [new, old] and searched(store, "sess-gone") == []
    if store.engine.dialect.name == "sqlite":
        with writing(store.engine) as connection:
            connection.exec_driver_sql("INSERT INTO calls_search(calls_search) VALUES ('integrity-check')")


def test_the_feedback_filter_reads_the_rated_calls_only(store: CallStore) -> None:
    """The caller's rating is on few calls: the list, its total and its summary by rating are read
    through an index of the rated ones (migration 0019), not by reading every call."""
    rated = store.record_created(attempt(at=T0), "sess-1", None)
    store.record_created(attempt(at=T0 + timedelta(minutes=1)), "sess-2", None)
    assert store.record_feedback(rated, "bad", None, T0)
    seen = statements(store)
    records, total = store.search(CallQuery(feedback="bad"))
    assert ([record.call_id for record in records], total) == ([rated], 1)
    assert store.summarize(CallQuery(feedback="bad")).ratings == {"bad": 1}
    reads = [(sql, params) for sql, params in seen if sql.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 3  # the total, the page, the summary
    for sql, params in reads:
        assert "ix_calls_feedback_rating_created_at" in plan(store, sql, params), sql


def test_calls_the_sync_adds_are_indexed_by_the_next_search(
    store: CallStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only our own calls complete a batch: calls the provider's history adds (or a webhook's) are
    indexed by a search that finds more than a batch of them waiting, before it reads."""
    monkeypatch.setattr(store_module, "SEARCH_BATCH", 2)
    for n in range(5):
        store.upsert_provider_call(
            "ravan", ProviderCall(call_id=f"listed-{n}", status="completed", created_at=T0)
        )
    assert len(searched(store, "listed-")) == 5
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT through FROM search_progress").scalar() == 5
    assert store.index_new_calls() == 0
