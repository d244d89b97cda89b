"""The call log's repository API, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError

from webapp.history.schema import call_events, calls, webhook_deliveries
from webapp.history.store import CallAttempt, CallQuery, CallStore, UnfinishedListing, client_reference
from webapp.providers import ProviderCall, TranscriptLine

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(call_log_url: str) -> Iterator[CallStore]:
    """A migrated, empty call log."""
    store = CallStore(call_log_url)
    yield store
    store.close()


def attempt(agent: str = "sales", provider: str = "ravan", at: datetime = T0, **fields: str) -> CallAttempt:
    """A request for a call, received at ``at``."""
    return CallAttempt(
        agent=agent,
        provider=provider,
        provider_agent_id="agent-1",
        origin="https://shop.example",
        client_ref=client_reference("key", "203.0.113.9"),
        received_at=at,
        **fields,  # type: ignore[arg-type]
    )


def test_a_created_call_is_found_by_our_id_and_the_providers(store: CallStore) -> None:
    ours = store.record_created(attempt(), "sess-1", "room-1")
    record = store.find(ours)
    assert record is not None and store.find("sess-1") == record
    assert ours.startswith("wc_") and record.call_id == ours
    assert (record.agent, record.provider, record.provider_call_id, record.room) == (
        "sales",
        "ravan",
        "sess-1",
        "room-1",
    )
    assert (record.outcome, record.status, record.channel) == ("created", "created", "web")
    assert record.origin == "https://shop.example" and record.created_at == T0
    assert record.created_at.tzinfo is not None and record.transcript == ()
    assert store.find("nope") is None


def test_a_providers_call_is_found_by_its_id_there_and_only_there(store: CallStore) -> None:
    hosted = store.record_created(attempt(), "room-1", None)
    ours = store.record_created(attempt(provider="livekit", at=T0 + timedelta(hours=1)), "room-1", "room-1")
    found = [store.find_provider_call(provider, "room-1") for provider in ("ravan", "livekit", "retell")]
    assert [record and record.call_id for record in found] == [hosted, ours, None]
    assert found[1] is not None and found[1].transcript == ()  # the whole record, as find() reads it
    newest = store.find("room-1")  # by the id alone: the newest call with it
    assert newest is not None and newest.call_id == ours


def test_a_call_is_looked_up_by_the_providers_id_through_an_index(tmp_path: Path) -> None:
    """Webhooks, the admin view and the API find calls by the provider's id: each read the whole
    log (0.55 s at 500,000 calls on SQLite), and every call in flight in the worker waited."""
    store = CallStore(f"sqlite:///{tmp_path / 'calls.db'}")
    store.migrate()
    store.record_created(attempt(), "sess-1", None)
    lookups: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            lookups.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", keep)
    assert store.find("sess-1") is not None  # our id first (no such call), then the provider's
    assert store.find_provider_call("ravan", "sess-1") is not None
    event.remove(store.engine, "before_cursor_execute", keep)
    with store.engine.connect() as connection:
        plans = [connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", args).all() for sql, args in lookups]
    store.close()
    steps = [step.detail for plan in plans for step in plan]
    assert len(plans) == 3 and all(step.startswith("SEARCH calls USING ") for step in steps), steps


def test_a_refused_call_keeps_its_error_code_and_no_provider_id(store: CallStore) -> None:
    ours = store.record_failed(attempt(), "provider_timeout")
    record = store.find(ours)
    assert record is not None
    assert (record.status, record.outcome, record.provider_call_id) == ("failed", "provider_timeout", None)
    # Failures have no provider id: many of them never collide.
    store.record_failed(attempt(), "provider_timeout")
    assert store.search(CallQuery())[1] == 2


def test_the_client_reference_is_a_keyed_hash_not_the_address() -> None:
    reference = client_reference("key-1", "203.0.113.9")
    assert reference == client_reference("key-1", "203.0.113.9") and len(reference) == 16
    assert "203" not in reference and reference != client_reference("key-2", "203.0.113.9")


def test_a_call_seen_in_the_providers_history_is_the_same_row(store: CallStore) -> None:
    ours = store.record_created(attempt(), "sess-1", None)
    reported = ProviderCall(
        call_id="sess-1",
        agent_id="agent-1",
        status="completed",
        provider_status="completed",
        channel="web",
        room="room-9",
        started_at=T0 + timedelta(seconds=2),
        ended_at=T0 + timedelta(seconds=62),
        duration_s=60,
        cost=0.42,
        summary="Asked about pricing.",
        recording_url="https://cdn.example/rec.mp3",
        transcript=(
            TranscriptLine("agent", "Hello!", T0 + timedelta(seconds=3)),
            TranscriptLine("user", "How much is it?"),
        ),
    )
    assert store.upsert_provider_call("ravan", reported, agent="other", detailed=True) == "updated"
    record = store.find(ours)
    assert record is not None and store.search(CallQuery())[1] == 1
    # Ours stays ours (agent, origin, outcome); the provider's report fills the rest.
    assert (record.agent, record.origin, record.outcome) == ("sales", "https://shop.example", "created")
    assert (record.status, record.duration_s, record.cost, record.room) == ("completed", 60, 0.42, "room-9")
    assert record.summary == "Asked about pricing." and record.recording_url == "https://cdn.example/rec.mp3"
    assert record.started_at == T0 + timedelta(seconds=2) and record.ended_at == T0 + timedelta(seconds=62)
    assert record.transcript == reported.transcript


def test_a_call_only_the_provider_knows_is_added_once(store: CallStore) -> None:
    call = ProviderCall(call_id="sess-7", agent_id="agent-1", status="in_progress", channel="phone",
                        created_at=T0, started_at=T0)  # fmt: skip
    assert store.upsert_provider_call("ravan", call, agent="sales") == "new"
    assert store.upsert_provider_call("ravan", call, agent="sales") == "updated"
    (record,), total = store.search(CallQuery())
    assert total == 1 and record.outcome is None and record.channel == "phone"
    assert record.call_id.startswith("wc_") and record.created_at == T0
    # The same provider id at another provider is another call.
    assert store.upsert_provider_call("convoi", call) == "new"


def test_our_record_joins_a_row_the_history_made_first(store: CallStore) -> None:
    store.upsert_provider_call("ravan", ProviderCall(call_id="sess-2", status="in_progress", created_at=T0))
    ours = store.record_created(attempt(), "sess-2", "room-2")
    record = store.find(ours)
    assert record is not None and store.search(CallQuery())[1] == 1
    assert (record.agent, record.outcome, record.status, record.room) == (
        "sales",
        "created",
        "in_progress",
        "room-2",
    )


def test_a_phone_call_keeps_everything_we_know_when_the_providers_row_came_first(store: CallStore) -> None:
    """The audit's case: the row stayed a web call with no number or request id (a 404 when polled)."""
    store.upsert_provider_call("ravan", ProviderCall(call_id="sess-1", status="created"))
    phone = attempt(channel="phone", phone_number="+1 415 ***-**71", request_id="req-123")
    ours = store.record_created(phone, "sess-1", None)
    record = store.find(ours)
    assert record is not None and store.search(CallQuery())[1] == 1
    assert (record.channel, record.phone_number, record.request_id, record.provider_agent_id) == (
        "phone",
        "+1 415 ***-**71",
        "req-123",
        "agent-1",
    )
    assert [r.call_id for r in store.search(CallQuery(channel="phone"))[0]] == [ours]
    assert store.search(CallQuery(text="req-123"))[1] == 1
    # The provider's word on its own agent stays; a replay of the call to a second request
    # keeps the first request's id and number.
    store.upsert_provider_call(
        "ravan", ProviderCall(call_id="sess-2", agent_id="ravan-agent-9", status="created")
    )
    first = store.record_created(
        attempt(channel="phone", phone_number="+1 415 ***-**71", request_id="req-1"), "sess-2", None
    )
    second = attempt(channel="phone", phone_number="+1 212 ***-**00", request_id="req-2")
    second = replace(second, origin="https://other.example", client_ref=client_reference("k", "198.51.100.7"))
    again = store.record_created(second, "sess-2", None)
    record = store.find(first)
    assert record is not None and again == first
    assert (record.provider_agent_id, record.request_id, record.phone_number) == (
        "ravan-agent-9",
        "req-1",
        "+1 415 ***-**71",
    )
    assert (record.origin, record.client_ref) == ("https://shop.example", attempt().client_ref)


def test_every_database_keeps_a_nul_in_a_providers_texts_as_a_replacement_character(store: CallStore) -> None:
    """What the history sync stores: PostgreSQL's text refuses NUL, and the whole record failed."""
    reported = ProviderCall(
        call_id="sess\x00nul", status="completed", provider_status="ok\x00", summary="Sum\x00mary",
        recording_url="https://rec.example/a\x00.mp3", transcript=(TranscriptLine("user\x00", "Hel\x00lo"),),
    )  # fmt: skip
    assert store.upsert_provider_call("ravan", reported) == "new"
    record = store.find("sess\x00nul")
    assert record is not None and record.provider_call_id == "sess\ufffdnul"
    assert (record.provider_status, record.summary, record.recording_url) == (
        "ok\ufffd",
        "Sum\ufffdmary",
        "https://rec.example/a\ufffd.mp3",
    )
    assert [(line.role, line.text) for line in record.transcript or ()] == [("user\ufffd", "Hel\ufffdlo")]
    assert store.upsert_provider_call("ravan", reported) == "updated"  # the same row, found again
    ours = store.record_created(replace(attempt(), origin="https://a\x00.example"), "sess-2\x00", "room\x00")
    mine = store.find(ours)
    assert mine is not None and (mine.origin, mine.provider_call_id, mine.room) == (
        "https://a\ufffd.example",
        "sess-2\ufffd",
        "room\ufffd",
    )
    theirs = replace(attempt(), origin="https://b\x00.example")
    claimed = store.record_created(theirs, "sess\x00nul", "room-3\x00")
    assert claimed == record.call_id  # the sync's row, claimed by its id with a NUL
    again = store.find(claimed)
    assert again is not None and (again.origin, again.room) == ("https://b\ufffd.example", "room-3\ufffd")


def test_every_database_keeps_an_overlong_text_as_its_columns_first_characters(store: CallStore) -> None:
    """PostgreSQL refuses a string longer than its column (SQLite keeps it): the record failed."""
    long_id = "s" * 300
    reported = ProviderCall(
        call_id=long_id, agent_id="a" * 300, status="completed", provider_status="p" * 100, room="r" * 300,
        cost=0.2, cost_currency="EURO-CENTS",
    )  # fmt: skip
    assert store.upsert_provider_call("ravan", reported) == "new"
    assert store.upsert_provider_call("ravan", replace(reported, summary="Later.")) == "updated"
    record = store.find(long_id)  # found again by the id the provider gave, not only by its clipped form
    assert record is not None and record.summary == "Later."
    assert (record.provider_call_id, record.provider_agent_id, record.provider_status, record.room) == (
        "s" * 255,
        "a" * 255,
        "p" * 64,
        "r" * 255,
    )
    assert record.cost_currency == "EURO-CEN"
    ended = replace(reported, status="failed", summary="From the webhook.")
    assert store.apply_webhook("ravan", "call.completed", long_id, ended) == "applied"
    assert store.apply_webhook("ravan", "call.completed", long_id, ended) == "duplicate"
    ours = store.record_created(replace(attempt(), origin="https://" + "o" * 300), "t" * 300, "q" * 300)
    mine = store.find("t" * 300)
    assert mine is not None and mine.call_id == ours
    origin = ("https://" + "o" * 300)[:255]
    assert (mine.origin, mine.provider_call_id, mine.room) == (origin, "t" * 255, "q" * 255)
    # A search's pattern is not clipped to a column: 254 s and an X is in no id.
    assert store.search(CallQuery(text="s" * 254 + "X"))[1] == 0
    assert store.search(CallQuery(text="s" * 254))[1] == 1


def test_a_final_status_never_goes_back_to_live(store: CallStore) -> None:
    store.upsert_provider_call("ravan", ProviderCall(call_id="s", status="completed", duration_s=30))
    store.upsert_provider_call("ravan", ProviderCall(call_id="s", status="in_progress", summary="late list"))
    record = store.find("s")
    assert record is not None
    assert (record.status, record.summary, record.duration_s) == ("completed", "late list", 30)


def test_a_live_report_after_a_final_one_only_fills_what_is_empty(store: CallStore) -> None:
    """A list older than the webhook: its zero duration and cost are older news, not corrections."""
    done = ProviderCall(call_id="s", status="completed", started_at=T0, duration_s=95, cost=0.35)
    store.upsert_provider_call("ravan", done)
    stale = ProviderCall(
        call_id="s", status="in_progress", provider_status="ongoing", started_at=T0 + timedelta(minutes=5),
        duration_s=0.0, cost=0.0, cost_currency="USD", summary="late list",
    )  # fmt: skip
    store.upsert_provider_call("ravan", stale, detailed=True)
    record = store.find("s")
    assert record is not None
    assert (record.status, record.provider_status, record.started_at) == ("completed", None, T0)
    assert (record.duration_s, record.cost) == (95, 0.35)
    assert (record.cost_currency, record.summary) == ("USD", "late list")  # empty until now: filled
    # A live read is no full read of an ended call: it is read again.
    assert store.calls_needing_detail("ravan", T0 - timedelta(days=1)) == ["s"]


def test_a_live_status_never_goes_back_either(store: CallStore) -> None:
    store.upsert_provider_call("ravan", ProviderCall(call_id="l", status="in_progress", started_at=T0))
    store.upsert_provider_call("ravan", ProviderCall(call_id="l", status="created", room="room-l"))
    record = store.find("l")
    assert record is not None and (record.status, record.room, record.started_at) == (
        "in_progress",
        "room-l",
        T0,
    )
    store.upsert_provider_call("ravan", ProviderCall(call_id="l", status="completed", duration_s=42))
    record = store.find("l")
    assert record is not None and (record.status, record.duration_s) == ("completed", 42)


def test_a_report_read_before_the_call_ended_never_brings_it_back(call_log_url: str) -> None:
    """A sync (or a status poll) holding a page read while the call was live, and a webhook
    saying it ended, written at the same moment: the call ends and stays ended, told once.
    PostgreSQL reads committed rows, so without the row held from its read to its update the
    sync would write its older status over the end; SQLite's writers queue from their BEGIN."""
    store = CallStore(call_log_url, events=("call.created", "call.started", "call.ended"))
    ours = store.record_created(attempt(provider="retell"), "call_r", None)
    store.upsert_provider_call("retell", ProviderCall(call_id="call_r", status="in_progress", started_at=T0))
    syncing: dict[str, int] = {}
    paused, go = threading.Event(), threading.Event()

    @event.listens_for(store.engine, "before_cursor_execute")
    def hold(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.get_ident() == syncing.get("id") and statement.lstrip().startswith("UPDATE calls"):
            paused.set()
            go.wait(10)  # the sync has read the row, and writes only once the webhook has had its go

    def stale_sync() -> None:
        syncing["id"] = threading.get_ident()
        store.upsert_provider_call("retell", ProviderCall(call_id="call_r", status="in_progress"))

    ended = ProviderCall(call_id="call_r", status="completed", ended_at=T0 + timedelta(minutes=2))
    applied: list[str] = []
    sync = threading.Thread(target=stale_sync)
    sync.start()
    assert paused.wait(10)
    hook = threading.Thread(
        target=lambda: applied.append(store.apply_webhook("retell", "ended", "d1", ended))
    )
    hook.start()
    hook.join(1.0)  # it waits for the sync's row (or, were the row not held, has ended the call)
    go.set()
    sync.join(10)
    hook.join(10)
    assert applied == ["applied"]
    record = store.find(ours)
    assert record is not None and record.status == "completed"
    store.upsert_provider_call("retell", ended)  # the history sync reads it ended: no news
    assert [e.type for e in store.events_of(ours)] == ["call.created", "call.started", "call.ended"]
    store.close()


def test_a_providers_word_we_do_not_know_leaves_a_live_call_live(call_log_url: str) -> None:
    """A status the provider has and we do not map (``unknown``) is no news of a call in
    progress: it stays live (counted as such) with the provider's word kept, and the next
    ``in_progress`` is not a second start."""
    store = CallStore(call_log_url, events=("call.created", "call.started", "call.ended"))
    ours = store.record_created(attempt(), "s1", None)
    store.upsert_provider_call("ravan", ProviderCall(call_id="s1", status="in_progress", started_at=T0))
    store.upsert_provider_call(
        "ravan", ProviderCall(call_id="s1", status="unknown", provider_status="transferring")
    )
    record = store.find(ours)
    assert record is not None and (record.status, record.provider_status) == ("in_progress", "transferring")
    assert store.count_live(T0 - timedelta(minutes=1)) == 1
    store.upsert_provider_call(
        "ravan", ProviderCall(call_id="s1", status="in_progress", provider_status="ongoing")
    )
    store.upsert_provider_call("ravan", ProviderCall(call_id="s1", status="completed"))
    store.upsert_provider_call(
        "ravan", ProviderCall(call_id="s1", status="unknown", provider_status="archived")
    )
    record = store.find(ours)
    assert record is not None and (record.status, record.provider_status) == ("completed", "ongoing")
    assert [e.type for e in store.events_of(ours)] == ["call.created", "call.started", "call.ended"]
    store.close()


def test_a_webhook_delivery_applies_once_and_only_to_known_calls(store: CallStore) -> None:
    store.record_created(attempt(), "sess-3", None)
    done = ProviderCall(call_id="sess-3", status="completed", duration_s=12, summary="Done.")
    assert store.apply_webhook("ravan", "call.completed", "sess-3", done) == "applied"
    again = ProviderCall(call_id="sess-3", status="failed", summary="changed")
    assert store.apply_webhook("ravan", "call.completed", "sess-3", again) == "duplicate"
    record = store.find("sess-3")
    assert record is not None and (record.status, record.summary) == ("completed", "Done.")
    stranger = ProviderCall(call_id="sess-404", status="completed")
    assert store.apply_webhook("ravan", "call.completed", "sess-404", stranger) == "unknown"
    assert store.find("sess-404") is None


def seed(store: CallStore) -> dict[str, str]:
    """Six calls over six hours, across agents, providers, statuses and channels."""
    ids = {
        "a": store.record_created(attempt("sales", "ravan", T0), "r-1", None),
        "b": store.record_failed(attempt("sales", "convoi", T0 + timedelta(hours=1)), "provider_error"),
        "c": store.record_created(attempt("support", "convoi", T0 + timedelta(hours=2)), "c-1", "room_x"),
        "d": store.record_created(attempt("support", "zudu", T0 + timedelta(hours=3)), "z-1", None),
    }
    store.upsert_provider_call(
        "ravan",
        ProviderCall(call_id="r-9", status="completed", channel="phone", created_at=T0 + timedelta(hours=4),
                     transcript=(TranscriptLine("user", "Je voudrais un café, s'il vous plaît"),)),
    )  # fmt: skip
    store.upsert_provider_call(
        "ravan", ProviderCall(call_id="r-1", status="completed", summary="Wants 100% discount")
    )
    ids["e"] = store.find("r-9").call_id  # type: ignore[union-attr]
    return ids


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (CallQuery(), ["e", "d", "c", "b", "a"]),
        (CallQuery(agent="sales"), ["b", "a"]),
        (CallQuery(provider="convoi"), ["c", "b"]),
        (CallQuery(status="completed"), ["e", "a"]),
        (CallQuery(status="failed"), ["b"]),
        (CallQuery(channel="phone"), ["e"]),
        (CallQuery(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)), ["c", "b"]),
        (CallQuery(text="CAFÉ"), ["e"]),  # in the transcript, whatever the case
        (CallQuery(text="100%"), ["a"]),  # % is a character, not a wildcard
        (CallQuery(text="room_"), ["c"]),  # so is _
        (CallQuery(text="provider_err"), ["b"]),  # the error code
        (CallQuery(text="z-1"), ["d"]),  # the provider's id
        (CallQuery(agent="sales", status="completed", provider="ravan"), ["a"]),
        (CallQuery(page=2, page_size=2), ["c", "b"]),
        (CallQuery(page=9, page_size=2), []),
    ],
)
def test_search_filters_and_pages_newest_first(
    store: CallStore, query: CallQuery, expected: list[str]
) -> None:
    ids = seed(store)
    records, total = store.search(query)
    assert [r.call_id for r in records] == [ids[k] for k in expected]
    unpaged = CallQuery(**{**query.__dict__, "page": 1, "page_size": 100})
    assert total == len(store.search(unpaged)[0])
    assert all(r.transcript is None for r in records)  # lists leave transcripts behind


def test_iter_search_reads_every_match_in_batches(store: CallStore) -> None:
    for minute in range(7):
        # Pairs of calls share a moment: paging must not skip or repeat either of them.
        store.record_failed(attempt(at=T0 + timedelta(minutes=minute // 2)), "rate_limited")
    seen = [r.call_id for r in store.iter_search(CallQuery(page_size=2), batch=3)]
    assert len(seen) == len(set(seen)) == 7
    assert seen == [r.call_id for r in store.search(CallQuery(page_size=100))[0]]


def test_calls_in_progress_are_counted_within_the_live_window(store: CallStore) -> None:
    now = datetime.now(UTC)
    store.record_created(attempt(at=now - timedelta(minutes=5)), "live-1", None)
    store.record_created(attempt(at=now - timedelta(minutes=1)), "live-2", None)
    store.upsert_provider_call("ravan", ProviderCall(call_id="live-2", status="in_progress"))
    store.record_created(attempt(at=now - timedelta(hours=3)), "stale", None)  # never reported: not live
    store.record_failed(attempt(at=now), "provider_error")
    store.upsert_provider_call("ravan", ProviderCall(call_id="done", status="completed", created_at=now))
    assert store.count_live() == 2
    store.upsert_provider_call("ravan", ProviderCall(call_id="live-1", status="completed"))
    assert store.count_live() == 1


def test_calls_needing_detail_are_live_or_never_read_in_full(store: CallStore) -> None:
    now = datetime.now(UTC)
    store.record_created(attempt(at=now), "fresh", None)
    store.upsert_provider_call("zudu", ProviderCall(call_id="z", status="completed", created_at=now))
    store.upsert_provider_call("ravan", ProviderCall(call_id="read", status="completed", created_at=now),
                               detailed=True)  # fmt: skip
    store.upsert_provider_call("ravan", ProviderCall(call_id="listed", status="completed", created_at=now))
    store.upsert_provider_call("ravan", ProviderCall(call_id="old", status="in_progress", created_at=T0))
    store.record_created(attempt(at=now - timedelta(days=3)), "stuck", None)  # never reported an end
    store.upsert_provider_call("ravan", ProviderCall(call_id="stuck", status="created"), detailed=True)
    week, day = now - timedelta(days=7), now - timedelta(days=1)
    assert set(store.calls_needing_detail("ravan", week, live_since=day)) == {"fresh", "listed"}
    assert set(store.calls_needing_detail("ravan", week)) == {"fresh", "listed", "stuck"}
    assert store.calls_needing_detail("zudu", week) == ["z"]
    # However old when no start is given: never-read first, newest first, then the live ones.

    # However old, those never asked about: newest first; once asked, only a recent one again.
    assert set(store.calls_never_asked("ravan", None)) == {"fresh", "listed", "old"}
    assert store.calls_never_asked("ravan", None)[-1] == "old"
    assert set(store.calls_never_asked("ravan", week)) == {"fresh", "listed"}
    for call_id in ("old", "fresh"):
        store.mark_detail_asked("ravan", call_id)  # whatever the provider answered
    assert store.calls_never_asked("ravan", None) == ["listed"]
    assert set(store.calls_needing_detail("ravan", week, live_since=day)) == {"fresh", "listed"}


def test_where_a_complete_listing_reached_is_per_agent_and_never_skips_a_gap(store: CallStore) -> None:
    """Not the newest call stored (a webhook, a status poll store calls no list gave): where
    the last listing that read every page of an agent's calls reached."""
    store.upsert_provider_call("ravan", ProviderCall(call_id="hooked", started_at=T0 + timedelta(days=9)))
    assert store.listed_through("ravan", ["a", "b"]) == {}
    store.note_listed("ravan", {"a": None, "b": T0}, T0 + timedelta(days=1))  # b: from T0, nothing before
    assert store.listed_through("ravan", ["a", "b"]) == {"a": T0 + timedelta(days=1)}
    store.note_listed("ravan", {"a": T0 + timedelta(hours=12)}, T0 + timedelta(days=2))  # joins on
    store.note_listed("ravan", {"a": T0 + timedelta(days=5)}, T0 + timedelta(days=6))  # a gap before it
    store.note_listed("ravan", {"a": None}, T0 + timedelta(hours=1))  # never back
    assert store.listed_through("ravan", ["a"]) == {"a": T0 + timedelta(days=2)}
    assert store.listed_through("convoi", ["a"]) == {}


def test_an_agent_an_unfinished_listing_was_not_of_lists_it_from_the_top(store: CallStore) -> None:
    """Where a listing goes on was kept for its agents: an agent joining has calls above it."""
    began = store.begin_listing("ravan", None, ["a", "b"])
    assert store.keep_listing_before("ravan", T0, began_at=began, caught_up_at=began)
    assert store.unfinished_listing("ravan") == UnfinishedListing(None, began_at=began, before=T0)
    assert store.begin_listing("ravan", None, ["b"]) == began  # an agent left: the rest go on
    assert store.unfinished_listing("ravan") == UnfinishedListing(None, began_at=began, before=T0)
    again = store.begin_listing("ravan", None, ["a", "b"])  # a is back: its calls since are not listed
    assert again > began and store.unfinished_listing("ravan") == UnfinishedListing(None, began_at=again)
    assert not store.keep_listing_before("ravan", T0, began_at=began, caught_up_at=again)
    store.begin_listing("convoi", T0, ["c"])
    store.begin_listing("convoi", T0 + timedelta(hours=1), ["c", "d"])  # a later start, a new agent
    assert since_and_cursor(store, "convoi") == (T0, None)  # the earlier start stays


def test_an_unfinished_listing_keeps_its_earliest_start_until_a_listing_covers_it(store: CallStore) -> None:
    assert store.unfinished_listing("ravan") is None
    store.begin_listing("ravan", T0)
    store.begin_listing("ravan", T0 + timedelta(hours=1))  # a later start does not hide the earlier one
    assert since_and_cursor(store, "ravan")[0] == T0
    store.finish_listing("ravan", T0 + timedelta(hours=1))  # read in full from later: T0 still missed
    assert since_and_cursor(store, "ravan")[0] == T0
    store.begin_listing("ravan", None)  # from the beginning
    store.begin_listing("ravan", T0)
    assert since_and_cursor(store, "ravan")[0] is None
    store.finish_listing("ravan", T0)
    assert since_and_cursor(store, "ravan")[0] is None
    assert store.unfinished_listing("convoi") is None
    store.finish_listing("ravan", None)
    assert store.unfinished_listing("ravan") is None
    store.begin_listing("ravan", T0)
    store.finish_listing("ravan", T0)
    assert store.unfinished_listing("ravan") is None


def test_an_unfinished_listing_keeps_its_cursor_until_a_start_further_back(store: CallStore) -> None:
    before = datetime.now(UTC)
    began = store.begin_listing("convoi", T0)
    assert before <= began <= datetime.now(UTC)
    assert store.keep_listing_cursor("convoi", "call_100", began_at=began)
    kept = store.unfinished_listing("convoi")
    assert kept == UnfinishedListing(T0, began_at=began, cursor="call_100")
    # The next runs, from there or later, hold the same listing and go on from its cursor.
    assert store.begin_listing("convoi", T0) == began
    assert store.begin_listing("convoi", T0 + timedelta(hours=1)) == began
    assert store.unfinished_listing("convoi") == kept
    # A run that listed the calls made since then counts as its beginning; a run beside it that
    # still holds the old one writes nothing.
    caught_up = datetime.now(UTC)
    assert store.keep_listing_cursor("convoi", "call_100", began_at=began, caught_up_at=caught_up)
    assert not store.keep_listing_cursor("convoi", "call_300", began_at=began)
    assert since_and_cursor(store, "convoi") == (T0, "call_100")
    assert store.keep_listing_cursor("convoi", "call_200", began_at=caught_up)
    # From further back: the calls made since the first run are above its cursor: from the top.
    again = store.begin_listing("convoi", T0 - timedelta(hours=1))
    assert again >= caught_up and since_and_cursor(store, "convoi") == (T0 - timedelta(hours=1), None)
    assert not store.keep_listing_cursor("convoi", "call_400", began_at=caught_up)
    assert store.keep_listing_cursor("convoi", "call_500", began_at=again)
    assert store.keep_listing_cursor("convoi", None, began_at=again)  # the provider refused it: from the top
    assert since_and_cursor(store, "convoi") == (T0 - timedelta(hours=1), None)
    store.finish_listing("convoi", T0 - timedelta(hours=1))
    assert store.unfinished_listing("convoi") is None
    assert not store.keep_listing_cursor("convoi", "call_600", began_at=again)  # no listing: nothing kept
    assert store.unfinished_listing("convoi") is None


def since_and_cursor(store: CallStore, provider: str) -> tuple[datetime | None, str | None]:
    """Where the provider's unfinished listing started and where it goes on (it must have one)."""
    unfinished = store.unfinished_listing(provider)
    assert unfinished is not None
    return unfinished.since, unfinished.cursor


def test_a_lease_has_one_holder_until_it_expires(store: CallStore) -> None:
    assert store.acquire_lease("sync", "worker-a", timedelta(minutes=5))
    assert not store.acquire_lease("sync", "worker-b", timedelta(minutes=5))
    assert store.acquire_lease("sync", "worker-a", timedelta(minutes=5))  # renewal
    assert store.acquire_lease("other", "worker-b", timedelta(minutes=5))
    assert store.acquire_lease("gone", "worker-a", timedelta(seconds=-1))  # already expired
    assert store.acquire_lease("gone", "worker-b", timedelta(minutes=5))


def test_many_threads_record_at_once_and_nothing_is_lost(store: CallStore) -> None:
    ids: list[str] = []
    errors: list[BaseException] = []

    def record(n: int) -> None:
        try:
            for i in range(10):
                ids.append(store.record_created(attempt(), f"t{n}-{i}", None))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(ids)) == 160 and store.search(CallQuery())[1] == 160


def test_the_hot_path_insert_writes_what_sqlalchemy_writes(store: CallStore) -> None:
    """RowInserter goes around SQLAlchemy's execute path: the same row must come out of it (an
    exact second and a non-UTC offset included), a duplicate must still be SQLAlchemy's
    IntegrityError, and the pooled connection must go back as it came (PostgreSQL: not left in
    autocommit)."""
    at = datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))  # 12:00 UTC, 0 µs
    ours = store.find(store.record_created(attempt(at=at), "p-1", "room-1"))
    with store.engine.begin() as connection:
        connection.execute(insert(calls).values(call_id="wc_reference", provider="ravan", agent="sales",
                                                channel="web", status="created", provider_call_id="p-2",
                                                created_at=at, updated_at=at))  # fmt: skip
    reference = store.find("wc_reference")
    assert ours is not None and reference is not None
    assert ours.created_at == reference.created_at == T0 and ours.created_at.tzinfo == UTC
    with store.engine.connect() as connection:
        raw = connection.exec_driver_sql("SELECT created_at FROM calls ORDER BY id").scalars().all()
    assert raw[0] == raw[1]  # the same stored form, to the byte (SQLite keeps text)
    with pytest.raises(IntegrityError):
        duplicate = {"call_id": ours.call_id, "provider": "ravan", "channel": "web", "status": "created"}
        store.insert_call({**duplicate, "created_at": at, "updated_at": at})
    with store.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            assert connection.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
        assert connection.execute(select(func.count()).select_from(calls)).scalar() == 2


def test_prune_deletes_old_records_in_batches_refusals_alone_when_asked(store: CallStore) -> None:
    cutoff = T0 + timedelta(days=1)
    kept = [store.record_created(attempt(at=T0 + timedelta(days=2)), "sess-new", None)]
    kept.append(store.record_failed(attempt(at=T0 + timedelta(days=2)), "rate_limited"))
    placed = store.record_created(attempt(at=T0), "sess-old", None)
    store.upsert_provider_call("ravan", ProviderCall(call_id="r-old", status="completed", created_at=T0))
    refused = [store.record_failed(attempt(at=T0 + timedelta(minutes=i)), "rate_limited") for i in range(5)]

    assert store.prune(cutoff, refusals_only=True, batch=2) == 5  # three batches: 2, 2 and 1
    assert all(store.find(call_id) is None for call_id in refused)
    assert store.find(placed) is not None and store.find("r-old") is not None  # placed calls stay
    assert store.prune(cutoff, batch=2) == 2
    assert store.find(placed) is None and store.find("r-old") is None
    assert [r.call_id for r in store.search(CallQuery())[0]] == kept[::-1]

    # Everything before now, webhook deliveries included (received now, in the clock's time).
    store.apply_webhook(
        "ravan", "call.completed", "sess-new", ProviderCall(call_id="sess-new", status="completed")
    )
    assert store.prune(datetime.now(UTC) + timedelta(minutes=1)) == 2
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(webhook_deliveries)).scalar() == 0


def test_prune_deletes_events_and_deliveries_a_batch_a_transaction(call_log_url: str) -> None:
    """A year's events and webhook deliveries went in one transaction: SQLite's lock held for
    seconds (4 s for a million events), every call recorded meanwhile waiting that long."""
    store = CallStore(call_log_url, events=("call.created",))
    for i in range(5):
        store.record_created(attempt(at=T0 + timedelta(minutes=i)), f"sess-{i}", None)
    for i in range(3):
        completed = ProviderCall(call_id=f"sess-{i}", status="completed")
        store.apply_webhook("ravan", "call.completed", f"sess-{i}", completed)
    marks: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM"):
            marks.append(statement.split()[2])

    @event.listens_for(store.engine, "commit")
    def committed(_conn: Any) -> None:
        marks.append("COMMIT")

    try:
        assert store.prune(datetime.now(UTC) + timedelta(minutes=1), batch=2) == 5
        with store.engine.connect() as connection:
            count = [select(func.count()).select_from(table) for table in (calls, call_events)]
            left = [connection.execute(counted).scalar() for counted in count]
    finally:
        store.close()
    assert left == [0, 0]
    deleted = [mark for mark in marks if mark != "COMMIT"]
    assert [deleted.count(table) for table in ("calls", "webhook_deliveries", "call_events")] == [3, 2, 3]
    batched = ("calls", "webhook_deliveries", "call_events")
    assert all(marks[i + 1] == "COMMIT" for i, mark in enumerate(marks) if mark in batched), marks


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ("", {"statement_timeout": "10s"}),  # ours alone
        ("?options=-c%20TimeZone%3DAsia%2FKolkata", {"TimeZone": "Asia/Kolkata", "statement_timeout": "10s"}),
        ("?options=-c%20statement_timeout%3D3s", {"statement_timeout": "3s"}),  # the URL's own wins
    ],
)
def test_a_postgresql_urls_own_options_apply_beside_ours(
    postgres: Any, options: str, said: dict[str, str]
) -> None:
    store = CallStore(str(postgres.create_database(migrated=True)) + options)
    with store.engine.connect() as connection:
        settings = {name: connection.exec_driver_sql(f"SHOW {name}").scalar() for name in said}
    store.close()
    assert settings == said


@pytest.mark.parametrize("reading", ["event_counts", "pending_events", "due_events"])
def test_the_event_counts_read_only_the_events_they_count(tmp_path: Path, reading: str) -> None:
    """The Events page's counts, the waiting events /metrics reports on every scrape, and the
    events due that each process's sender reads every second, read by index: the table keeps
    every event until it is pruned, and a scan of it each time would grow with the calls (290 ms
    a pass with 1.5 million events kept, the worker stalled meanwhile). (SQLite's planner, which
    has no statistics here, shows it; PostgreSQL chooses by its own.)"""
    store = CallStore(f"sqlite:///{tmp_path / 'calls.db'}")
    store.migrate()
    statements: list[tuple[str, Any]] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    if reading == "event_counts":
        store.event_counts(datetime.now(UTC) - timedelta(days=1))
    elif reading == "pending_events":
        store.pending_events()
    else:
        store.due_events(datetime.now(UTC))
    reads = [(sql, args) for sql, args in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(reads) == (3 if reading == "event_counts" else 1)
    with store.engine.connect() as connection:
        plans = [
            str(connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", args).all()) for sql, args in reads
        ]
    store.close()
    assert all("USING" in plan and "INDEX" in plan and "SCAN" not in plan for plan in plans), plans


def test_a_new_sqlite_call_log_is_for_the_apps_own_user_only(tmp_path: Path) -> None:
    """Transcripts, comments and masked numbers: not for every user of the machine to read, whatever
    the umask (022 makes files readable by all)."""
    folder = tmp_path / "instance"
    store = CallStore(f"sqlite:///{folder / 'webcall.db'}")
    store.migrate()
    store.record_created(attempt(), "sess-1", None)
    modes = {path.name: path.stat().st_mode & 0o777 for path in [folder, *folder.iterdir()]}
    store.close()
    assert modes == {"instance": 0o700, "webcall.db": 0o600, "webcall.db-wal": 0o600, "webcall.db-shm": 0o600}
