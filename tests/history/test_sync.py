"""The history sync against the provider fakes, over real HTTP: lists, details, broken pages, the CLI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from tests.fakes import Fault
from tests.fakes import convoi as convoi_fake
from tests.fakes import elevenlabs as elevenlabs_fake
from tests.fakes import retell as retell_fake
from tests.fakes.convoi import add_call, complete_call
from tests.fakes.fields import now_ms
from tests.fakes.ravan import add_session, call_completed_event, complete_session
from tests.fakes.state import FakeState, RecordedRequest
from tests.fakes.zudu import end_call
from tests.support.apps import FAKE_AGENT_IDS, app_state_of, build_app, post, provider_env
from webapp.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderBusy,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from webapp.history import sync as sync_module
from webapp.history.store import CallAttempt, CallQuery, CallRecord, CallStore
from webapp.history.sync import PAGE_ATTEMPTS, PeriodicSync, SyncReport, page_retry_wait_s, sync_all

CATALOGUE = """
[agents.sales]
provider = "ravan"
agent_id = "{ravan}"

[agents.support]
provider = "convoi"
agent_id = "{convoi}"

[agents.billing]
provider = "convoi"
agent_id = "agt_billing_desk"
[agents.billing.phone]  # its phone calls run on a workforce
enabled = true
agent_id = "sqd_billing_team"
phone_number_id = "phn_c38155f043624745a66d2e28c185abcd"
allowed_countries = ["US"]
bot_check = false

[agents.orders]
provider = "zudu"
agent_id = "{zudu}"

[agents.frontdesk]
provider = "retell"
agent_id = "{retell}"

[agents.concierge]
provider = "elevenlabs"
agent_id = "{elevenlabs}"
region = "eu"
"""
RAVAN, CONVOI, ZUDU = FAKE_AGENT_IDS["ravan"], FAKE_AGENT_IDS["convoi"], FAKE_AGENT_IDS["zudu"]
RETELL, ELEVENLABS = FAKE_AGENT_IDS["retell"], FAKE_AGENT_IDS["elevenlabs"]
BILLING = "agt_billing_desk"  # a second Convoi agent
MakeApp = Callable[..., Flask]


def sync(app: Flask, provider: str | None = None, since: datetime | None = None) -> dict[str, SyncReport]:
    """Run the sync as the CLI does; the reports by provider."""
    state = app_state_of(app)
    reports = sync_all(
        state.providers, state.settings.agents.values(), state.history, only=provider, since=since
    )
    return {report.provider: report for report in reports}


def log_of(app: Flask, **query: Any) -> list[CallRecord]:
    """The app's call log, newest first."""
    return app_state_of(app).history.search(CallQuery(page_size=200, **query))[0]


def list_requests(state: FakeState) -> list[RecordedRequest]:
    """The call-list requests a fake received, faulted ones included."""
    return [r for r in state.requests if r.method == "GET" and r.path.endswith(("/call-sessions", "/calls"))]


def days_ago(days: float) -> str:
    """A moment as the fakes write it (ISO 8601, milliseconds, ``Z``)."""
    moment = datetime.now(UTC) - timedelta(days=days)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def find(app: Flask, call_id: str) -> CallRecord:
    """One call with its transcript."""
    record = app_state_of(app).history.find(call_id)
    assert record is not None, call_id
    return record


def reached(app: Flask, provider: str, agent_id: str) -> datetime:
    """Where the last complete listing of the agent's calls reached (it must have one)."""
    return app_state_of(app).history.listed_through(provider, [agent_id])[agent_id]


@pytest.mark.parametrize("shape", ["documented", "meta"])
def test_ravan_calls_are_listed_then_read_in_full(make_app: MakeApp, ravan: Any, shape: str) -> None:
    app = make_app()
    state = ravan[1]
    state.response_shape = shape
    placed = post(app, {"agent": "sales"}).get_json()["call_id"]  # through webcall
    complete_session(state, placed, transcript=[("assistant", "Hello!"), ("user", "Price, please.")])
    add_session(state, RAVAN, id="phone-1", channel="voice", status="in_progress")  # only Ravan knows it
    add_session(state, "someone-elses-agent", id="other-1", status="completed")

    report = sync(app)["ravan"]
    assert (report.listed, report.new, report.detailed, report.errors) == (2, 1, 2, [])
    assert {r.provider_call_id for r in log_of(app, provider="ravan")} == {placed, "phone-1"}
    ours = find(app, placed)
    assert (ours.agent, ours.outcome, ours.status, ours.duration_s) == ("sales", "created", "completed", 42)
    assert ours.summary and ours.recording_url and ours.cost == 0.35
    assert [(line.role, line.text) for line in ours.transcript or ()] == [
        ("agent", "Hello!"),
        ("user", "Price, please."),
    ]
    assert ours.transcript and ours.transcript[0].at == ours.started_at + timedelta(milliseconds=1500)  # type: ignore[operator]
    phone = find(app, "phone-1")
    assert (phone.agent, phone.channel, phone.status, phone.outcome) == (
        "sales",
        "phone",
        "in_progress",
        None,
    )
    sent = [r for r in state.requests if r.path.endswith("/call-sessions")]
    assert {r.query["agent_id"] for r in sent} == {RAVAN}
    assert sent[0].query["started_after"] == "1970-01-01T00:00:00Z"  # the first run: from the beginning
    first_reached = reached(app, "ravan", RAVAN)

    # Again: one row per call still, live calls read again, finished ones not.
    complete_session(state, "phone-1")
    state.requests.clear()
    again = sync(app)["ravan"]
    assert again.new == 0 and len(log_of(app, provider="ravan")) == 2
    assert find(app, "phone-1").status == "completed"
    details = [r.path.rsplit("/", 1)[1] for r in state.requests if "detail" in r.path]
    assert details == ["phone-1"]
    # From a day before where the first run's complete listing reached (the moment it began).
    started_after = next(
        r.query["started_after"] for r in state.requests if r.path.endswith("/call-sessions")
    )
    assert datetime.fromisoformat(started_after) == first_reached - timedelta(days=1)


def test_a_text_cut_inside_an_emoji_keeps_its_call(make_app: MakeApp, ravan: Any) -> None:
    """Half a surrogate pair in a summary: orjson refused the whole answer, page and detail."""
    app = make_app()
    state = ravan[1]
    placed = post(app, {"agent": "sales"}).get_json()["call_id"]
    complete_session(state, placed, summary="Pricing \ud83d", transcript=[("user", "\ude00 Bye.")])
    report = sync(app)["ravan"]
    assert (report.listed, report.detailed, report.errors) == (1, 1, [])
    ours = find(app, placed)
    assert ours.summary == "Pricing \ufffd"
    assert [line.text for line in ours.transcript or ()] == ["\ufffd Bye."]


def test_ravan_is_paged_until_a_short_page(make_app: MakeApp, ravan: Any) -> None:
    for n in range(45):
        add_session(ravan[1], RAVAN, id=f"s-{n:02d}", status="completed")
    report = sync(make_app())["ravan"]
    assert report.listed == report.new == 45 and ravan[1].list_pages_served == 3


def test_a_broken_page_never_loses_the_others(make_app: MakeApp, ravan: Any) -> None:
    app = make_app()
    state = ravan[1]
    for n in range(45):
        add_session(state, RAVAN, id=f"s-{n:02d}", status="completed",
                    created_at=f"2026-02-01T10:{n:02d}:00.000Z")  # fmt: skip
    # The second page answers with a body cut in half, every time it is asked for.
    state.faults = [Fault("delay", delay_s=0), *(Fault("malformed_json") for _ in range(PAGE_ATTEMPTS))]
    report = sync(app)["ravan"]
    assert (report.listed, report.broken_pages, report.errors, report.complete) == (25, 1, [], False)
    assert [r.query["page"] for r in list_requests(state)] == ["1", *["2"] * PAGE_ATTEMPTS, "3"]
    assert "1 broken pages; not every page was read" in report.summary()
    assert sync(app)["ravan"].listed == 45 and len(log_of(app)) == 45  # the next run picks it up


def test_a_ravan_page_missed_in_one_run_is_listed_by_the_next(make_app: MakeApp, ravan: Any) -> None:
    """50 sessions a day apart, page 2 broken through one run: the next run started after the
    newest session it had kept, and the 20 on the lost page stayed missing for good."""
    app, state = make_app(), ravan[1]
    for n in range(50):
        add_session(state, RAVAN, id=f"s-{n:02d}", status="completed", started_at=days_ago(50 - n),
                    created_at=days_ago(50 - n))  # fmt: skip
    state.faults = [Fault("delay", delay_s=0), *(Fault("status", status=500) for _ in range(PAGE_ATTEMPTS))]
    first = sync(app, "ravan")["ravan"]
    assert (first.listed, first.broken_pages, first.errors) == (30, 1, [])

    second = sync(app, "ravan")["ravan"]
    assert second.since is None  # where the first run started: the beginning
    assert (second.listed, second.new, second.broken_pages, second.complete) == (50, 20, 0, True)
    assert {r.provider_call_id for r in log_of(app)} == {f"s-{n:02d}" for n in range(50)}

    # A run that read every page lets the next one start late again.
    second_reached = reached(app, "ravan", RAVAN)
    assert sync(app, "ravan")["ravan"].since == second_reached - timedelta(days=1)


def test_a_call_only_the_provider_knows_is_listed_though_a_webhook_stored_a_newer_one(
    make_app: MakeApp, ravan: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run listed from a day before the newest call stored, which Ravan's webhook (and a
    phone call's status poll) moves too: an inbound call made since the last run, older than
    that, was never listed. A run lists from where the last complete listing reached."""
    hook_token = "hook-" + "k" * 40
    app, state = make_app(WEBCALL_WEBHOOK_TOKEN=hook_token, RAVAN_ORG_ID="org_fake"), ravan[1]
    add_session(state, RAVAN, id="inbound-1", channel="voice", status="completed",
                started_at=days_ago(10), created_at=days_ago(10))  # fmt: skip
    last_week = datetime.now(UTC) - timedelta(days=7)
    monkeypatch.setattr(sync_module, "now", lambda: last_week)
    assert sync(app, "ravan")["ravan"].listed == 1  # last week's run
    monkeypatch.undo()
    # Since then: an inbound call only Ravan knows, then today a web call, completed by webhook.
    add_session(state, RAVAN, id="inbound-2", channel="voice", status="completed",
                started_at=days_ago(3), created_at=days_ago(3))  # fmt: skip
    placed = post(app, {"agent": "sales"}).get_json()["call_id"]
    complete_session(state, placed)
    answer = app.test_client().post(f"/webhooks/ravan/{hook_token}", json=call_completed_event(state, placed))
    assert answer.get_json() == {"status": "applied"}

    report = sync(app, "ravan")["ravan"]
    assert report.since == last_week - timedelta(days=1)
    assert (report.new, find(app, "inbound-2").channel) == (1, "phone")


def test_an_agent_new_to_the_catalogue_is_listed_from_the_beginning(
    make_app: MakeApp, ravan: Any, tmp_path: Any
) -> None:
    """Listings are per agent: one listed before says nothing of another's calls."""
    database = {"WEBCALL_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    state, desk = ravan[1], "5c2e7b3f-8d2e-4f6a-8b1c-2d3e4f5a6b7c"
    for agent_id, call_id, days in ((RAVAN, "sales-1", 30), (desk, "desk-1", 60)):
        moment = days_ago(days)
        add_session(state, agent_id, id=call_id, status="completed", started_at=moment, created_at=moment)
    first_began = datetime.now(UTC)
    assert sync(make_app(**database), "ravan")["ravan"].listed == 1
    first_ended = datetime.now(UTC)
    # The same call log, and a catalogue that has grown an agent at the same provider.
    catalogue = "".join(
        f'[agents.{slug}]\nprovider = "ravan"\nagent_id = "{agent_id}"\n'
        for slug, agent_id in (("sales", RAVAN), ("desk", desk))
    )
    offline, grown = "http://127.0.0.1:9", tmp_path / "grown"
    grown.mkdir()
    app = build_app(grown, catalogue, **provider_env(ravan[0].url, offline, offline), **database)
    state.requests.clear()
    report = sync(app, "ravan")["ravan"]
    starts = {r.query["agent_id"]: r.query["started_after"] for r in list_requests(state)}
    assert starts[desk] == "1970-01-01T00:00:00Z"
    assert (report.since, report.new, find(app, "desk-1").agent) == (None, 1, "desk")
    sales_start = datetime.fromisoformat(starts[RAVAN]) + timedelta(days=1)  # where its listing reached
    assert first_began <= sales_start <= first_ended


def hours_ago(hours: int) -> datetime:
    """A moment ``hours`` before now, in whole seconds (as every fake can write it)."""
    return (datetime.now(UTC) - timedelta(hours=hours)).replace(microsecond=0)


def add_hourly_calls(provider: str, state: FakeState, count: int) -> None:
    """``count`` ended calls of our agent at ``provider``, an hour apart back from now, oldest first."""
    for n in reversed(range(count)):
        moment = hours_ago(n)
        if provider == "ravan":
            iso = moment.isoformat().replace("+00:00", "Z")
            # Made (scheduled) in the other order from their starts: the list must be by start time.
            made = hours_ago(1000 - n).isoformat().replace("+00:00", "Z")
            add_session(state, RAVAN, id=f"s-{n:03d}", status="completed", started_at=iso, created_at=made)
        elif provider == "retell":
            retell_fake.add_call(
                state, RETELL, call_status="ended", start_timestamp=int(moment.timestamp() * 1000)
            )
        else:
            elevenlabs_fake.add_conversation(
                state, ELEVENLABS, status="done", start_time_unix_secs=int(moment.timestamp())
            )


@pytest.mark.parametrize(("provider", "page_size"), [("ravan", 20), ("retell", 100), ("elevenlabs", 100)])
def test_a_list_by_start_time_cut_at_max_pages_goes_on_next_run(
    make_app: MakeApp, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, provider: str,
    page_size: int,
) -> None:  # fmt: skip
    """Newest first, stopped at MAX_PAGES: the run counted as complete, and the calls below the
    cut were never listed. The next run lists the calls made since, then goes on below the cut."""
    monkeypatch.setattr(sync_module, "MAX_PAGES", 2)
    state = request.getfixturevalue(provider)[1]
    calls = page_size * 5 // 2
    add_hourly_calls(provider, state, calls)
    app = make_app()
    first = sync(app, provider)[provider]
    assert (first.listed, first.errors, first.complete) == (2 * page_size, [], False)
    assert "not every page was read" in first.summary()
    oldest_listed = min(r.started_at for r in log_of(app, provider=provider) if r.started_at)
    unfinished = app_state_of(app).history.unfinished_listing(provider)
    assert unfinished is not None and unfinished.before == oldest_listed + timedelta(seconds=1)

    second = sync(app, provider)[provider]
    assert (second.new, second.errors, second.complete, second.resumed) == (
        calls - 2 * page_size,
        [],
        True,
        True,
    )
    assert app_state_of(app).history.search(CallQuery(provider=provider))[1] == calls
    third = sync(app, provider)[provider]
    assert (third.new, third.complete, third.resumed) == (0, True, False)


def test_unreadable_entries_are_skipped_and_the_rest_kept(make_app: MakeApp, ravan: Any) -> None:
    add_session(ravan[1], RAVAN, id="good-1", status="completed")
    page = {"success": True, "data": {"callSessions": [
        {"id": "good-1", "agentId": RAVAN, "status": "completed", "channel": "web"},
        {"agentId": RAVAN, "status": "completed"},  # no id
        "not a session",
        {"id": "x" * 300, "agentId": RAVAN},  # an id no column can hold
    ]}}  # fmt: skip
    ravan[1].faults = [Fault("status", status=200, body=page)]
    app = make_app()
    report = sync(app, "ravan")["ravan"]
    assert (report.listed, report.new, report.skipped, report.detailed) == (1, 1, 3, 1)
    assert [r.provider_call_id for r in log_of(app)] == ["good-1"]


def test_a_refused_key_stops_the_provider_and_says_why(make_app: MakeApp, ravan: Any) -> None:
    ravan[1].api_key = "rotated"
    report = sync(make_app())["ravan"]
    assert report.errors == [f"provider_auth_failed while listing agent {RAVAN}"] and report.listed == 0


def test_convoi_is_paged_by_cursor_and_cut_to_our_agent(make_app: MakeApp, convoi: Any) -> None:
    app = make_app()
    state = convoi[1]
    placed = post(app, {"agent": "support"}).get_json()["call_id"]
    for n in range(150):
        call = add_call(state, CONVOI if n % 3 else "agt_someone_else")
        if n % 2:
            complete_call(state, call["id"])
    complete_call(state, placed, duration_seconds=12.5, cost=0.07)
    report = sync(app)["convoi"]
    assert report.listed == 101 and report.errors == [] and state.list_pages_served == 2
    ours = find(app, placed)
    assert (ours.agent, ours.status, ours.duration_s, ours.cost, ours.cost_currency) == (
        "support", "completed", 12.5, 0.07, "USD",
    )  # fmt: skip
    assert len(log_of(app, agent="support")) == 101


def test_phone_calls_run_by_another_agent_are_listed_for_theirs(make_app: MakeApp, convoi: Any) -> None:
    """An agent whose phone calls run on another provider agent (here a Convoi workforce, whose
    calls carry no agent_id) had them skipped by the list as "another agent's": each was then
    read again one by one, or never found. They are listed, whole, for the agent."""
    app = make_app()
    state = convoi[1]
    call = add_call(state, None, type="outbound_phone", squad_id="sqd_billing_team")
    complete_call(state, call["id"], duration_seconds=30.0, cost=0.2)
    stranger = add_call(state, None, type="outbound_phone", squad_id="sqd_someone_else")
    report = sync(app)["convoi"]
    assert report.errors == []
    billed = {r.provider_call_id: r for r in log_of(app, agent="billing")}
    assert call["id"] in billed and stranger["id"] not in billed
    assert (billed[call["id"]].status, billed[call["id"]].duration_s) == ("completed", 30.0)
    assert not [r for r in state.requests if r.method == "GET" and r.path.endswith(call["id"])]


def test_convoi_stops_at_a_broken_page_and_keeps_the_ones_before(make_app: MakeApp, convoi: Any) -> None:
    state = convoi[1]
    for _ in range(150):
        add_call(state, CONVOI)
    broken = [Fault("status", status=500, body={"status": 500}) for _ in range(PAGE_ATTEMPTS)]
    state.faults = [Fault("delay", delay_s=0), *broken]
    app = make_app()
    report = sync(app, "convoi")["convoi"]
    assert report.listed == 100 and report.broken_pages == 1
    assert len(list_requests(state)) == 1 + PAGE_ATTEMPTS  # page 2 asked for again, then given up
    assert report.errors == ["provider_error while listing the account's calls"]


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", status=500, body={"status": 500}),
        Fault("malformed_json"),
        Fault("status", status=429, body={"status": 429}, headers={"Retry-After": "1"}),
    ],
    ids=["500", "malformed_json", "429"],
)
def test_convoi_asks_again_for_a_page_that_failed_once(make_app: MakeApp, convoi: Any, fault: Fault) -> None:
    """One blip on the second list request lost every later page, and the command failed."""
    state = convoi[1]
    for _ in range(250):
        add_call(state, CONVOI)
    state.faults = [Fault("delay", delay_s=0), fault]
    result = make_app().test_cli_runner().invoke(args=["history", "sync", "--provider", "convoi"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("convoi: 250 calls listed since the beginning (250 new)")
    assert "0 broken pages" in result.output
    cursors = [r.query.get("starting_after") for r in list_requests(state)]
    assert len(cursors) == 4 and cursors[0] is None and cursors[1] == cursors[2]  # page 2 twice, then 3


def answered(error: ProviderError, status: int) -> ProviderError:
    """``error`` as the transport raises it for an HTTP ``status``."""
    error.upstream_status = status
    return error


def test_only_a_page_failure_that_may_pass_is_asked_again() -> None:
    assert page_retry_wait_s(answered(ProviderError(), 500), 1) == 0.25
    assert page_retry_wait_s(ProviderBadResponse(), 2) == 0.5  # unreadable: doubled the second time
    assert page_retry_wait_s(ProviderTimeout(), 1) == 0.25
    assert page_retry_wait_s(answered(ProviderBusy(retry_after_s=2), 429), 1) == 2  # its Retry-After
    assert page_retry_wait_s(answered(ProviderBusy(retry_after_s=60), 429), 1) is None  # not a blip
    assert page_retry_wait_s(ProviderUnavailable(retry_after_s=30), 1) is None  # our open breaker
    for status in (400, 404, 422):
        assert page_retry_wait_s(answered(ProviderError(), status), 1) is None
    assert page_retry_wait_s(answered(ProviderAuthError(), 401), 1) is None


def test_convoi_does_not_ask_again_for_a_page_it_refused(make_app: MakeApp, convoi: Any) -> None:
    state = convoi[1]
    for _ in range(150):
        add_call(state, CONVOI)
    state.faults = [Fault("delay", delay_s=0), Fault("status", status=400, body={"status": 400})]
    report = sync(make_app(), "convoi")["convoi"]
    assert report.listed == 100 and len(list_requests(state)) == 2
    assert report.errors == ["provider_error while listing the account's calls"]


def test_convoi_calls_behind_a_lost_cursor_are_listed_by_the_next_run(make_app: MakeApp, convoi: Any) -> None:
    """Page 2 broken through one run: the listing stops there (its cursor is lost), and the next
    run, started a day before the newest call kept, never reached the older 150."""
    state = convoi[1]
    for n in range(250):  # oldest first: Convoi lists newest first
        add_call(state, CONVOI, created_at=days_ago(250 - n))  # (its call object has no started_at)
    state.faults = [
        Fault("delay", delay_s=0),
        *(Fault("status", status=500, body={"status": 500}) for _ in range(PAGE_ATTEMPTS)),
    ]
    app = make_app()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["history", "sync", "--provider", "convoi"])
    assert first.exit_code == 1, first.output  # stopped early, as documented
    assert first.output.startswith("convoi: 100 calls listed since the beginning (100 new)")
    assert "stopped: provider_error" in first.output and "not every page was read" in first.output

    listed_before = len(list_requests(state))
    second = runner.invoke(args=["history", "sync", "--provider", "convoi"])
    assert second.exit_code == 0, second.output
    # The calls made since the first run (none: one page), then on from the page it stopped at.
    assert second.output.startswith("convoi: 150 calls listed since the beginning (150 new)")
    assert "went on from where the last run stopped listing" in second.output
    cursors = [r.query.get("starting_after") for r in list_requests(state)[listed_before:]]
    assert cursors == [None, state_ids(state)[-100], state_ids(state)[-200]]  # the last of pages 1 and 2
    assert app_state_of(app).history.search(CallQuery(provider="convoi"))[1] == 250  # the total


def add_old_calls(state: FakeState, count: int) -> None:
    """``count`` Convoi calls, one a day back from yesterday, oldest first (Convoi lists newest first),
    as documented: made at a time, with no time they started."""
    for n in range(count):
        add_call(state, CONVOI, created_at=days_ago(count - n))


def reading_slowly(
    state: FakeState, monkeypatch: pytest.MonkeyPatch, *, reads_per_minute: int, calls: int
) -> FakeState:
    """The Convoi fake holding ``calls`` old calls, its key limited to ``reads_per_minute``."""
    state.enforce_rate_limits = True
    monkeypatch.setitem(convoi_fake.RATE_LIMITS_PER_MIN, "read", reads_per_minute)
    add_old_calls(state, calls)
    return state


def outcome(report: SyncReport) -> tuple[int, int, list[str], bool, bool]:
    """Listed, new, errors, complete, resumed."""
    return report.listed, report.new, report.errors, report.complete, report.resumed


def state_ids(state: FakeState) -> list[str]:
    """The fake's call ids, oldest first."""
    with state.lock:
        return list(state.calls)


def test_a_convoi_account_too_big_for_one_minute_of_reads_is_listed_over_runs(
    make_app: MakeApp, convoi: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Convoi's key reads 60 pages a minute (3 here); a run that reaches the limit stops (its
    Retry-After is no blip). The next run lists the calls made since, then goes on where the first
    stopped: before, it listed the same first pages again and stopped at the same place, for ever.
    A run that listed the calls made since counts as the listing's beginning for the next one."""
    state = reading_slowly(convoi[1], monkeypatch, reads_per_minute=3, calls=650)
    app = make_app()
    history = app_state_of(app).history
    first = sync(app, "convoi")["convoi"]
    busy = ["provider_busy while listing the account's calls"]
    assert (first.listed, first.errors, first.complete) == (300, busy, False)

    state.rate_windows.clear()  # a minute later
    newer = [add_call(state, CONVOI)["id"] for _ in range(2)]
    second_began = datetime.now(UTC)
    second = sync(app, "convoi")["convoi"]
    # The calls made since (one page), then pages 4 and 5; page 6 is refused.
    assert (second.listed, second.new, second.errors, second.complete) == (202, 202, busy, False)
    assert second.resumed and len(list_requests(state)) == 4 + 4
    assert {c.provider_call_id for c in log_of(app, provider="convoi")[:2]} == set(newer)
    unfinished = history.unfinished_listing("convoi")
    assert unfinished is not None and unfinished.began_at is not None and unfinished.began_at >= second_began

    state.rate_windows.clear()
    third = sync(app, "convoi")["convoi"]
    assert (third.listed, third.new, third.errors, third.complete) == (
        152,
        150,
        [],
        True,
    )  # (2 made since, again)
    assert (
        history.search(CallQuery(provider="convoi"))[1] == 652
        and history.unfinished_listing("convoi") is None
    )

    state.rate_windows.clear()
    fourth = sync(app, "convoi")["convoi"]  # as usual again: from a day before the third began
    assert (fourth.new, fourth.errors, fourth.resumed, fourth.complete) == (0, [], False, True)


def test_a_convoi_listing_cut_at_max_pages_goes_on_next_run(
    make_app: MakeApp, convoi: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = convoi[1]
    monkeypatch.setattr(sync_module, "MAX_PAGES", 2)
    add_old_calls(state, 250)
    app = make_app()
    first = sync(app, "convoi")["convoi"]
    assert (first.listed, first.errors, first.complete) == (200, [], False)
    second = sync(app, "convoi")["convoi"]
    assert outcome(second) == (50, 50, [], True, True)


def test_convoi_goes_on_from_where_its_last_complete_listing_reached(make_app: MakeApp, convoi: Any) -> None:
    """Convoi's calls say when they were made, not when they started: the newest start stored was
    always none, and each run read the whole account again (at 60 reads a minute)."""
    state = convoi[1]
    add_old_calls(state, 250)
    app = make_app()
    first_began = datetime.now(UTC)
    first = sync(app, "convoi")["convoi"]
    first_ended = datetime.now(UTC)
    assert (first.listed, first.complete, len(list_requests(state))) == (250, True, 3)
    newer = add_call(state, CONVOI)["id"]
    second = sync(app, "convoi")["convoi"]
    assert (second.listed, second.new, len(list_requests(state))) == (1, 1, 4)  # one page
    assert second.since is not None and first_began <= second.since + timedelta(days=1) <= first_ended
    assert find(app, newer).agent == "support"


def test_a_convoi_run_from_a_given_moment_leaves_the_kept_cursor_alone(
    make_app: MakeApp, convoi: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`history sync --since` lists from the top down to that moment: where an unfinished
    listing from further back goes on does not change."""
    state = reading_slowly(convoi[1], monkeypatch, reads_per_minute=2, calls=250)
    app = make_app()
    history = app_state_of(app).history
    assert sync(app, "convoi")["convoi"].listed == 200
    kept = history.unfinished_listing("convoi")
    assert kept is not None and kept.cursor == state_ids(state)[-200]
    state.rate_windows.clear()
    recent = sync(app, "convoi", since=datetime.now(UTC) - timedelta(days=150.5))["convoi"]  # 2 pages
    assert (recent.listed, recent.errors, recent.complete) == (150, [], True)
    assert history.unfinished_listing("convoi") == kept
    state.rate_windows.clear()
    rest = sync(app, "convoi")["convoi"]
    assert outcome(rest) == (50, 50, [], True, True)


def test_a_convoi_cursor_kept_that_is_refused_is_dropped(
    make_app: MakeApp, convoi: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call the kept cursor names was deleted: Convoi refuses it (400), and the next run
    lists from the top again."""
    state = reading_slowly(convoi[1], monkeypatch, reads_per_minute=2, calls=250)
    app = make_app()
    assert sync(app, "convoi")["convoi"].listed == 200
    with state.lock:
        del state.calls[state_ids(state)[-200]]  # the last call of page 2: the cursor
    state.rate_windows.clear()
    second = sync(app, "convoi")["convoi"]
    assert second.errors == ["provider_error while listing the account's calls"]
    monkeypatch.setitem(convoi_fake.RATE_LIMITS_PER_MIN, "read", 60)
    third = sync(app, "convoi")["convoi"]
    assert outcome(third) == (249, 50, [], True, False)


def test_convoi_is_listed_once_for_its_agents_within_its_read_limit(make_app: MakeApp, convoi: Any) -> None:
    """Convoi's list is the whole account's, of whole calls: one listing serves both agents, and
    no call is read again (reading each ran out of its 60 reads a minute after 59 calls)."""
    state = convoi[1]
    state.enforce_rate_limits = True
    app = make_app()
    for n in range(140):
        add_call(state, CONVOI if n % 2 else BILLING, status="completed")
    add_call(state, "agt_someone_else", status="completed")
    report = sync(app, "convoi")["convoi"]
    assert (report.listed, report.detailed, report.errors) == (140, 0, [])
    reads = [r for r in state.requests if r.method == "GET"]
    assert len(reads) == len(list_requests(state)) == 2  # two pages of 100, nothing else
    assert len(log_of(app, agent="support")) == len(log_of(app, agent="billing")) == 70
    assert {r.status for r in log_of(app, provider="convoi")} == {"completed"}
    assert report.complete and sync(app, "convoi")["convoi"].errors == []  # and again, within the limit


def test_a_convoi_call_placed_here_that_the_list_does_not_match_is_looked_up(
    make_app: MakeApp, convoi: Any
) -> None:
    """A workforce's call comes back under its member's agent id, which no agent here has: the
    listing passes it over, so it is read by its id; the calls the list gave whole are not."""
    state = convoi[1]
    app = make_app()
    placed = add_call(state, "agt_a_workforce_member", status="completed", duration_seconds=30)
    history = app_state_of(app).history
    ours = history.record_created(CallAttempt("support", "convoi", channel="phone"), placed["id"], None)
    for _ in range(3):
        add_call(state, CONVOI, status="completed")
    report = sync(app, "convoi")["convoi"]
    assert (report.listed, report.detailed, report.errors) == (3, 1, [])
    gets = [r.path for r in state.requests if r.method == "GET" and not r.path.endswith("/calls")]
    assert gets == [f"/api/v1/public/calls/{placed['id']}"]
    assert (find(app, ours).status, find(app, ours).duration_s) == ("completed", 30)


def test_zudu_calls_we_placed_are_looked_up(make_app: MakeApp, zudu: Any) -> None:
    app = make_app()
    state = zudu[1]
    ended = post(app, {"agent": "orders"}).get_json()["call_id"]
    live = post(app, {"agent": "orders"}).get_json()["call_id"]
    end_call(state, ended, transcript=[("agent", "Hi, Zudu here."), ("user", "Where is my order?")])
    with state.lock:
        del state.calls[live]  # Zudu forgot one: skipped, not fatal
    report = sync(app)["zudu"]
    assert (report.listed, report.detailed, report.skipped, report.errors) == (0, 1, 1, [])
    record = find(app, ended)
    assert (record.status, record.duration_s, record.summary) == (
        "completed", 30.0, "The caller needed help with an order.",
    )  # fmt: skip
    assert [line.text for line in record.transcript or ()] == ["Hi, Zudu here.", "Where is my order?"]
    assert sync(app)["zudu"].detailed == 0  # read in full once is enough for a finished call


def test_retell_calls_are_listed_then_read_in_full(make_app: MakeApp, retell: Any) -> None:
    app = make_app()
    state = retell[1]
    placed = post(app, {"agent": "frontdesk"}).get_json()["call_id"]  # through webcall
    retell_fake.end_call(state, placed, transcript=[("agent", "Hello!"), ("user", "Price, please.")])
    phone = retell_fake.add_call(state, RETELL, call_type="phone_call", call_status="ongoing",
                                 start_timestamp=now_ms())  # only Retell knows it  # fmt: skip
    retell_fake.add_call(state, "someone-elses-agent", call_status="ended", start_timestamp=now_ms())

    report = sync(app, "retell")["retell"]
    assert (report.listed, report.new, report.detailed, report.errors) == (2, 1, 2, [])
    listed = state.requests[-3].json  # the list, then each call read in full
    assert listed["filter_criteria"] == {"agent_id": [RETELL]} and listed["sort_order"] == "descending"
    assert {r.provider_call_id for r in log_of(app, provider="retell")} == {placed, phone["call_id"]}
    ours = find(app, placed)
    assert (ours.agent, ours.outcome, ours.status, ours.provider_status, ours.duration_s) == (
        "frontdesk", "created", "completed", "ended", 42.0,
    )  # fmt: skip
    assert ours.summary == "The caller asked a question." and ours.recording_url
    assert (ours.cost, ours.cost_currency) == (0.058128, "USD")  # its combined_cost, 5.8128 cents
    assert [(line.role, line.text) for line in ours.transcript or ()] == [
        ("agent", "Hello!"), ("user", "Price, please."),
    ]  # fmt: skip
    assert find(app, phone["call_id"]).channel == "phone"


def test_elevenlabs_conversations_are_listed_then_read_in_full(make_app: MakeApp, elevenlabs: Any) -> None:
    app = make_app()
    state = elevenlabs[1]
    placed = post(app, {"agent": "concierge"}).get_json()["call_id"]  # a conv_… id, through webcall
    elevenlabs_fake.end_conversation(state, placed, transcript=[("agent", "Bonjour!"), ("user", "Hello.")])
    live = elevenlabs_fake.add_conversation(state, ELEVENLABS, status="in-progress")
    elevenlabs_fake.add_conversation(state, "agent_someone_else", status="done")
    phoned = elevenlabs_fake.add_conversation(state, ELEVENLABS, status="done", direction="inbound")

    report = sync(app, "elevenlabs")["elevenlabs"]
    assert (report.listed, report.new, report.detailed, report.errors) == (3, 2, 3, [])
    assert {r.provider_call_id for r in log_of(app, provider="elevenlabs")} == {
        placed,
        live["conversation_id"],
        phoned["conversation_id"],
    }
    # A telephony conversation is a phone call (it was filed as a web call).
    assert [find(app, c["conversation_id"]).channel for c in (live, phoned)] == ["web", "phone"]
    ours = find(app, placed)
    assert (ours.agent, ours.status, ours.provider_status, ours.duration_s) == (
        "concierge",
        "completed",
        "done",
        42,
    )
    assert ours.summary == "The caller needed help."
    assert [(line.role, line.text) for line in ours.transcript or ()] == [
        ("agent", "Bonjour!"),
        ("user", "Hello."),
    ]
    assert ours.transcript and ours.transcript[1].at == ours.started_at + timedelta(seconds=2)  # type: ignore[operator]
    assert find(app, live["conversation_id"]).status == "in_progress"


def test_a_conversation_read_while_elevenlabs_analyses_it_is_read_again_for_its_summary(
    make_app: MakeApp, elevenlabs: Any
) -> None:
    """Ended, its analysis still being made (`processing`): read in full then, it counted as read
    for good, and its summary never came (without ElevenLabs' webhook)."""
    app = make_app()
    state = elevenlabs[1]
    placed = post(app, {"agent": "concierge"}).get_json()["call_id"]
    elevenlabs_fake.end_conversation(state, placed, analysed=False)
    sync(app, "elevenlabs")
    first = find(app, placed)
    assert (first.status, first.provider_status, first.summary) == ("completed", "processing", None)
    elevenlabs_fake.end_conversation(state, placed)
    assert sync(app, "elevenlabs")["elevenlabs"].detailed == 1
    ours = find(app, placed)
    assert (ours.status, ours.provider_status, ours.summary) == (
        "completed",
        "done",
        "The caller needed help.",
    )
    assert sync(app, "elevenlabs")["elevenlabs"].detailed == 0  # analysed: read for good now


def test_a_retell_call_read_before_retell_analysed_it_is_read_again_for_its_summary(
    make_app: MakeApp, retell: Any
) -> None:
    """Ended, not yet analysed (Retell's call_analyzed comes later): read in full then, it counted
    as read for good, and without the webhook its summary never came."""
    app = make_app()
    state = retell[1]
    placed = post(app, {"agent": "frontdesk"}).get_json()["call_id"]
    retell_fake.end_call(state, placed, analysed=False)
    sync(app, "retell")
    assert (find(app, placed).status, find(app, placed).summary) == ("completed", None)
    retell_fake.end_call(state, placed)
    assert sync(app, "retell")["retell"].detailed == 1
    assert find(app, placed).summary == "The caller asked a question."
    assert sync(app, "retell")["retell"].detailed == 0  # analysed: read for good now


def test_the_cli_prints_one_line_per_provider_and_fails_when_one_stopped(
    make_app: MakeApp, ravan: Any, convoi: Any
) -> None:
    app = make_app()
    add_session(ravan[1], RAVAN, id="s-1", status="completed", started_at="2026-01-10T09:00:00Z")
    add_session(ravan[1], RAVAN, id="s-0", status="completed", started_at="2025-12-10T09:00:00Z")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["history", "sync", "--provider", "ravan", "--since", "2026-01-01"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ravan: 1 calls listed since 2026-01-01T00:00:00+00:00 (1 new)")
    sent = [r for r in ravan[1].requests if r.path.endswith("/call-sessions")]
    assert sent[-1].query["started_after"] == "2026-01-01T00:00:00Z"

    convoi[1].api_key = "rotated"
    everything = runner.invoke(args=["history", "sync"])
    assert everything.exit_code == 1
    names = [line.split(":")[0] for line in everything.output.splitlines()]
    assert names == ["convoi", "elevenlabs", "ravan", "retell", "zudu"]
    assert "stopped: provider_auth_failed" in everything.output
    assert runner.invoke(args=["history", "sync", "--since", "last tuesday"]).exit_code == 2
    assert runner.invoke(args=["history", "sync", "--provider", "livekit"]).exit_code == 2


def test_the_periodic_sync_starts_with_the_first_request_only(make_app: MakeApp) -> None:
    app = make_app(WEBCALL_HISTORY_SYNC_INTERVAL_S="60")
    periodic: PeriodicSync = app.extensions["webcall.history_sync"]
    app.test_cli_runner().invoke(args=["history", "sync", "--provider", "zudu"])
    assert not periodic.started  # commands never start it
    app.test_client().get("/healthz")
    assert periodic.started
    periodic.stop()
    assert "webcall.history_sync" not in make_app().extensions  # off by default


def two_holders(
    store: CallStore, runs: list[Callable[[], None]], *, for_s: float, interval_s: float = 0.2
) -> None:
    """Two processes' periodic syncs (one run each of ``runs``) every ``interval_s`` for ``for_s``,
    then stopped."""
    syncs = [PeriodicSync(run, store, interval_s=1) for run in runs]
    syncs[1].holder = "other-host:1"
    for periodic in syncs:
        periodic.interval_s = interval_s  # type: ignore[assignment]  # far below what settings allow
        periodic.start()
    time.sleep(for_s)
    for periodic in syncs:
        periodic.stop()


def test_the_periodic_sync_survives_a_bad_run_and_one_holder_runs_at_a_time(tmp_path: Any) -> None:
    store = CallStore(f"sqlite:///{tmp_path / 'calls.db'}")
    store.migrate()
    runs: list[str] = []
    lock = threading.Lock()

    def run_as(name: str) -> Callable[[], None]:
        def run() -> None:
            with lock:
                runs.append(name)
                if len(runs) == 1:
                    raise RuntimeError("the first run breaks")

        return run

    two_holders(store, [run_as("a"), run_as("b")], for_s=1.5)
    # About one run per interval in all (the lease), not one per process; the failure did not end it.
    assert 3 <= len(runs) <= 8, runs
    store.close()


def test_a_run_longer_than_its_lease_keeps_it(tmp_path: Any) -> None:
    """The lease lasted 0.8 of the interval and a long run (thousands of calls read in full) did
    not renew it: another process then started the same run beside it."""
    store = CallStore(f"sqlite:///{tmp_path / 'calls.db'}")
    store.migrate()
    lock = threading.Lock()
    running: list[int] = [0]
    most: list[int] = [0]
    runs: list[float] = []

    def run() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            runs.append(time.monotonic())
        time.sleep(1.5)  # three intervals: the lease (0.4 s) is long gone
        with lock:
            running[0] -= 1

    # Intervals of 0.5 s: a renewal every 0.13 s of a 0.4 s lease. At 0.2 s (a 0.16 s lease) a
    # renewal late by a tenth of a second on a loaded machine let the lease lapse: the parallel
    # run failed this test once so.
    two_holders(store, [run, run], for_s=4.0, interval_s=0.5)
    time.sleep(1.8)  # the last run ends
    assert len(runs) >= 2 and most[0] == 1, (len(runs), most[0])
    store.close()


def test_since_in_the_future_lists_nothing(make_app: MakeApp, ravan: Any) -> None:
    add_session(ravan[1], RAVAN, id="s-1", status="completed")
    report = sync(make_app(), "ravan", since=datetime.now(UTC) + timedelta(days=1))["ravan"]
    assert report.listed == 0 and report.errors == []


def test_calls_from_long_ago_are_read_in_full_the_first_time_they_are_listed(
    make_app: MakeApp, ravan: Any
) -> None:
    """Weeks of history behind the first sync: every session listed gets its transcript."""
    app, state = make_app(), ravan[1]
    for index in range(3):
        add_session(state, RAVAN, id=f"old-{index}", started_at=f"2025-06-0{index + 1}T10:00:00+00:00",
                    created_at=f"2025-06-0{index + 1}T10:00:00+00:00")  # fmt: skip
        complete_session(state, f"old-{index}", transcript=[("assistant", f"Hello {index}!")])
    report = sync(app)["ravan"]
    assert (report.listed, report.new, report.detailed, report.errors) == (3, 3, 3, [])
    for index in range(3):
        assert [line.text for line in find(app, f"old-{index}").transcript or ()] == [f"Hello {index}!"]


def test_calls_not_reached_by_one_run_are_read_in_full_by_the_next_however_old(
    make_app: MakeApp, ravan: Any
) -> None:
    """A first sync stopped half-way through the reading (our key refused), then the next run:
    it lists only from a day before the first began, yet reads every call not read yet."""
    app, state = make_app(), ravan[1]
    for index in range(5):
        add_session(state, RAVAN, id=f"old-{index}", started_at=f"2025-06-0{index + 1}T10:00:00+00:00",
                    created_at=f"2025-06-0{index + 1}T10:00:00+00:00")  # fmt: skip
        complete_session(state, f"old-{index}", transcript=[("assistant", f"Hello {index}!")])
    state.faults = [Fault("delay", delay_s=0), Fault("delay", delay_s=0), Fault("status", status=401)]
    first = sync(app, "ravan")["ravan"]
    stopped = ["provider_auth_failed while reading calls"]
    assert (first.listed, first.detailed, first.errors) == (5, 1, stopped)
    second = sync(app, "ravan")["ravan"]
    assert (second.listed, second.detailed, second.errors) == (0, 4, [])
    for index in range(5):
        assert [line.text for line in find(app, f"old-{index}").transcript or ()] == [f"Hello {index}!"]
    state.requests.clear()
    assert sync(app, "ravan")["ravan"].detailed == 0  # each read once
    assert not [r for r in state.requests if "detail" in r.path]


def test_a_long_history_is_read_in_full_over_runs(
    make_app: MakeApp, ravan: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "MAX_DETAIL_READS", 3)
    app, state = make_app(), ravan[1]
    for index in range(5):
        add_session(state, RAVAN, id=f"s-{index}", status="completed", created_at=days_ago(30 + index))
    first = sync(app, "ravan")["ravan"]
    assert (first.detailed, first.unread, first.errors) == (3, True, [])
    assert "more calls to read in full than a run asks for (3)" in first.summary()
    second = sync(app, "ravan")["ravan"]
    assert (second.detailed, second.unread) == (2, False)


def test_a_call_the_provider_does_not_know_is_asked_for_once(make_app: MakeApp, ravan: Any) -> None:
    app, state = make_app(), ravan[1]
    add_session(state, RAVAN, id="gone", status="completed", created_at=days_ago(30))
    state.faults = [Fault("delay", delay_s=0), Fault("status", status=404)]  # listed, then not found
    assert sync(app, "ravan")["ravan"].skipped == 1
    state.requests.clear()
    assert sync(app, "ravan")["ravan"].skipped == 0
    assert not [r for r in state.requests if "detail" in r.path]


def test_a_call_that_cannot_be_read_does_not_hold_up_the_others(make_app: MakeApp, ravan: Any) -> None:
    """Refused (a 400 about that call) or the provider failing on it: the next calls are read,
    and the same call is not asked for again once it is old; three failures in a row stop."""
    app, state = make_app(), ravan[1]
    for index in range(5):
        add_session(state, RAVAN, id=f"s-{index}", status="completed", created_at=days_ago(30 + index))
    state.faults = [Fault("delay", delay_s=0), Fault("status", status=400)]  # the newest, s-0, refused
    first = sync(app, "ravan")["ravan"]
    assert (first.detailed, first.skipped, first.errors) == (4, 1, [])
    state.requests.clear()
    assert sync(app, "ravan")["ravan"].detailed == 0
    assert not [r for r in state.requests if "detail" in r.path]


def test_a_provider_failing_call_after_call_stops_the_reading(make_app: MakeApp, ravan: Any) -> None:
    app, state = make_app(), ravan[1]
    for index in range(5):
        add_session(state, RAVAN, id=f"s-{index}", status="completed", created_at=days_ago(30 + index))
    state.faults = [Fault("delay", delay_s=0), *(Fault("status", status=500) for _ in range(40))]
    down = sync(app, "ravan")["ravan"]
    assert (down.detailed, down.skipped, len(down.errors)) == (0, 3, 1), down
    assert "while reading calls" in down.errors[0]
    state.faults.clear()  # back up: the calls the outage met are read too
    assert sync(app, "ravan")["ravan"].detailed == 5


def test_recent_calls_the_provider_does_not_answer_for_are_not_asked_again_each_run(
    make_app: MakeApp, ravan: Any
) -> None:
    """Within the week a call not read in full is asked again only on news of it: three that
    failed must not stand before the older calls every run."""
    app, state = make_app(), ravan[1]
    for index, age in enumerate((1, 3, 3.1, 3.2)):  # the next run lists from a day before the first
        add_session(state, RAVAN, id=f"s-{index}", status="completed", created_at=days_ago(age),
                    started_at=days_ago(age))  # fmt: skip
    state.faults = [Fault("delay", delay_s=0), Fault("delay", delay_s=0)]  # the list, s-0's record
    state.faults += [Fault("status", status=404) for _ in range(3)]  # then the others are not found
    assert sync(app, "ravan")["ravan"].skipped == 3
    state.requests.clear()
    assert sync(app, "ravan")["ravan"].skipped == 0
    assert not [r for r in state.requests if "detail" in r.path]
