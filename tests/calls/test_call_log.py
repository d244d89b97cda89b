"""Every ``POST /api/calls`` that reaches an agent is in the call log before the answer leaves."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from flask import Flask

from tests.fakes import Fault
from tests.support.apps import (
    FAKE_AGENT_IDS,
    OfflineLiveKit,
    app_state_of,
    build_app,
    offline_livekit_env,
    post,
)
from tests.support.processes import http_ok, wait_until
from tests.support.stack import start_app_server
from webapp.history.store import CallQuery, CallRecord, CallStore

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.convoi]
provider = "convoi"
agent_id = "{convoi}"

[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
ip_rate_limit = "2/minute"
"""

MakeApp = Callable[..., Flask]


def records(app: Flask) -> list[CallRecord]:
    """Every call in the app's log, newest first."""
    return app_state_of(app).history.search(CallQuery(page_size=100))[0]


@pytest.fixture
def app(make_app: MakeApp, call_log_url: str) -> Flask:
    """The app with its call log on SQLite, then on PostgreSQL."""
    return make_app(WEBCALL_DATABASE_URL=call_log_url)


def test_a_created_call_is_recorded_with_the_providers_id(app: Flask) -> None:
    response = post(app, {"agent": "ravan"}, Origin="http://localhost")
    assert response.status_code == 201
    answer = response.get_json()
    (record,) = records(app)
    assert (record.agent, record.provider) == ("ravan", "ravan")
    assert record.provider_agent_id == FAKE_AGENT_IDS["ravan"]
    assert record.provider_call_id == answer["call_id"] and record.room == answer["room"]
    assert (record.outcome, record.status, record.channel) == ("created", "created", "web")
    assert record.origin == "http://localhost" and record.call_id.startswith("wc_")
    # The caller's address is never stored, only a keyed hash of it.
    assert record.client_ref and "127.0.0.1" not in repr(record)


def test_a_refused_call_is_recorded_with_its_error_code(app: Flask, ravan: Any) -> None:
    ravan[1].faults.append(Fault("status", status=500, body={"success": False}))
    assert post(app, {"agent": "ravan"}).status_code == 502
    (record,) = records(app)
    assert (record.outcome, record.status, record.provider_call_id) == ("provider_error", "failed", None)


def test_a_guard_refusal_is_recorded_too(app: Flask) -> None:
    codes = [post(app, {"agent": "local"}).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert [r.outcome for r in records(app)] == ["rate_limited", "created", "created"]


def test_a_replayed_answer_is_one_call(app: Flask, convoi: Any) -> None:
    key = {"Idempotency-Key": "double-click-1"}
    first, second = post(app, {"agent": "convoi"}, **key), post(app, {"agent": "convoi"}, **key)
    assert first.get_json() == second.get_json()
    assert len(records(app)) == 1 and len(convoi[1].calls) == 1


def test_every_request_is_on_record_even_one_refused_before_it_could_be_a_call(make_app: MakeApp) -> None:
    """ "Every POST /api/calls is recorded": an unknown agent, a bad body, another site, a
    limit reached before the body was read, each with its code (and the agent when known)."""
    app = make_app(WEBCALL_RATE_LIMITS="2/minute")
    answers = [
        post(app, {"agent": "nobody"}),
        post(app, {"agent": "local", "room": "mine"}),
        post(app, {"agent": "local"}, Origin="https://evil.example"),
        post(app, {"agent": "local"}),
        post(app, {"agent": "local"}),  # the third counted this minute (bad bodies count none)
    ]
    assert [a.status_code for a in answers] == [404, 400, 403, 201, 429]
    seen = [(r.outcome, r.agent, r.status, r.channel) for r in reversed(records(app))]
    assert seen == [
        ("unknown_agent", "", "failed", "web"),
        ("unknown_field", "", "failed", "web"),
        ("origin_not_allowed", "local", "failed", "web"),
        ("created", "local", "created", "web"),
        ("rate_limited", "", "failed", "web"),
    ]
    refused = [r for r in records(app) if r.outcome == "origin_not_allowed"]
    assert refused[0].origin == "https://evil.example" and refused[0].request_id


def test_with_one_agent_a_refusal_is_its_unless_it_named_another(tmp_path: Path) -> None:
    """A body that names no agent is for the only one; a body naming an unknown one is not."""
    app = build_app(tmp_path, '[agents.solo]\nprovider = "livekit"\nagent_id = "webcall-demo"\n')
    answers = [post(app, {"agent": "nobody"}), post(app, {"room": "mine"})]
    assert [a.status_code for a in answers] == [404, 400]
    seen = [(r.outcome, r.agent) for r in reversed(records(app))]
    assert seen == [("unknown_agent", ""), ("unknown_field", "solo")]


def test_a_call_log_outage_never_costs_the_caller_the_call(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    with app_state_of(app).history.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE calls"))
    caplog.set_level(logging.ERROR, logger="webapp")
    assert post(app, {"agent": "local"}).status_code == 201
    assert any("call log: could not record" in r.getMessage() for r in caplog.records)


def test_nothing_is_lost_when_a_worker_is_killed_right_after_a_201(tmp_path: Path) -> None:
    """gunicorn (two workers, the production config); every worker is SIGKILLed the moment the 201 lands."""
    database = tmp_path / "calls.db"
    env = {**offline_livekit_env(), "WEBCALL_DATABASE_URL": f"sqlite:///{database}"}
    toml = '[agents.local]\nprovider = "livekit"\nagent_id = "webcall-demo"\ntitle = "Local"\n'
    server = start_app_server(env, tmp_path / "logs", agents_toml=toml)
    try:
        answers = []
        for _ in range(3):
            response = httpx.post(f"{server.url}/api/calls", json={"agent": "local"}, timeout=10)
            assert response.status_code == 201
            for pid in worker_pids(server.process.popen.pid):
                os.kill(pid, signal.SIGKILL)
            answers.append(response.json())
            # gunicorn's master starts new workers; wait until one serves again.
            wait_until(http_ok(f"{server.url}/healthz"), timeout_s=20, what="a new worker")
    finally:
        server.process.stop()
    store = CallStore(f"sqlite:///{database}")
    for answer in answers:
        record = store.find(answer["call_id"])
        assert record is not None and record.outcome == "created" and record.room == answer["room"]
    store.close()
    assert OfflineLiveKit.api_secret not in server.process.log()


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's children, from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master:
            children.append(int(stat.parent.name))
    return children


def test_the_request_id_leads_from_an_error_to_its_record(tmp_path: Path) -> None:
    """A screenshot of an error carries its request id; the call log finds the refused call by it."""
    app = build_app(
        tmp_path, '[agents.tiny]\nprovider = "livekit"\nagent_id = "webcall-demo"\ndaily_budget = 1\n'
    )
    client = app.test_client()
    assert client.post("/api/calls", json={"agent": "tiny"}).status_code == 201
    refused = client.post("/api/calls", json={"agent": "tiny"})
    request_id = refused.get_json()["error"]["request_id"]
    found, total = app_state_of(app).history.search(CallQuery(text=request_id))
    assert total == 1 and [(c.outcome, c.request_id) for c in found] == [
        ("daily_budget_exhausted", request_id)
    ]
