"""Redis failing under the limits and replays: before any provider work a clear 503 and a
`/readyz` that says so; after it, the provider's outcome (a call, an error) is what the caller gets.

Each test kills a redis-server of its own (``doomed_redis``) mid-test.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

import pytest

from tests.fakes import Fault
from tests.guards.conftest import DoomedRedis
from tests.support.apps import codes, post
from webapp.ops.openapi import document

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.caller]
provider = "ravan"
agent_id = "{ravan}"
[agents.caller.phone]
enabled = true
allowed_countries = ["US"]
from_number = "+14157774444"
bot_check = false
cooldown_s = 600
"""


def records_of(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    """What ``logger`` wrote during the test."""
    return [record for record in caplog.records if record.name == logger]


def test_with_redis_down_calls_are_refused_with_503_before_the_provider(
    make_app: Any, ravan: Any, doomed_redis: DoomedRedis
) -> None:
    # The call before Redis goes is the test's ground, not its subject: time for a busy machine.
    app = make_app(WEBCALL_RATELIMIT_STORAGE_URI=doomed_redis.url, WEBCALL_READ_TIMEOUT_S="5")
    assert post(app, {"agent": "ravan"}, **{"Idempotency-Key": "before"}).status_code == 201
    doomed_redis.kill()
    client = app.test_client()
    refused = [
        post(app, {"agent": "ravan"}),
        post(app, {"agent": "ravan"}, **{"Idempotency-Key": "after"}),
        client.post("/api/token", json={"room_config": {"agents": [{"agent_name": "ravan"}]}}),
        client.post(
            "/api/phone-calls", json={"agent": "caller", "phone_number": "+14155552671", "consent": True}
        ),
        client.get("/api/phone-calls/wc_00000000000000000000"),  # its status polls are counted too
    ]
    assert codes(refused) == ["limits_unavailable"] * 5
    assert {(r.status_code, r.headers.get("Retry-After")) for r in refused} == {(503, "5")}
    assert len(ravan[1].requests) == 1  # only the call placed before Redis went
    # Each answer is in the OpenAPI document, the status poll's included (it was left out).
    paths = document()["paths"]
    for path, method in [
        ("/api/calls", "post"),
        ("/api/phone-calls", "post"),
        ("/api/phone-calls/{call_id}", "get"),
    ]:
        assert "`limits_unavailable`" in paths[path][method]["responses"]["503"]["description"], path


def test_a_redis_that_stops_answering_is_down_within_seconds(
    make_app: Any, ravan: Any, doomed_redis: DoomedRedis
) -> None:
    """A Redis that hangs (stopped, or behind a network that drops its packets) would hold every
    call until the OS gave up on the connection: its commands have 2 s, then it is down."""
    # The call before Redis goes is the test's ground, not its subject: time for a busy machine.
    app = make_app(WEBCALL_RATELIMIT_STORAGE_URI=doomed_redis.url, WEBCALL_READ_TIMEOUT_S="5")
    assert post(app, {"agent": "ravan"}, **{"Idempotency-Key": "before"}).status_code == 201
    doomed_redis.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        refused = [
            post(app, {"agent": "ravan"}),
            post(app, {"agent": "ravan"}, **{"Idempotency-Key": "hung"}),
        ]
        assert codes(refused) == ["limits_unavailable"] * 2
        assert time.monotonic() - started < 12  # two requests, a few 2 s waits each at most
    finally:
        doomed_redis.process.send_signal(signal.SIGCONT)
    assert len(ravan[1].requests) == 1


def test_readyz_is_not_ready_while_redis_cannot_be_reached(
    make_app: Any, redis_url: str, doomed_redis: DoomedRedis
) -> None:
    app = make_app(WEBCALL_RATELIMIT_STORAGE_URI=doomed_redis.url)
    doomed_redis.kill()
    not_ready = app.test_client().get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.get_json()["status"] == "not_ready"
    assert not_ready.get_json()["checks"]["storage"] == "unreachable"
    ready = make_app(WEBCALL_RATELIMIT_STORAGE_URI=redis_url).test_client().get("/readyz")
    assert ready.get_json()["checks"]["storage"] == "ok"


def test_a_call_created_as_redis_fails_is_answered_not_lost(
    make_app: Any, ravan: Any, doomed_redis: DoomedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """The provider made (and bills) the call: a 500 would send the page to make a second one."""
    app = make_app(WEBCALL_RATELIMIT_STORAGE_URI=doomed_redis.url, WEBCALL_READ_TIMEOUT_S="5")
    ravan[1].latency_s = 1.0  # time to kill Redis while the provider works
    killer = doomed_redis.kill_while_answering(ravan[1])
    with caplog.at_level(logging.INFO):
        answer = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "click"})
    killer.join()
    assert answer.status_code == 201, answer.get_json()
    call = answer.get_json()
    assert list(ravan[1].calls) == [call["call_id"]]
    logged = records_of(caplog, "webapp.guards.idempotency")
    assert [record.getMessage() for record in logged] == ["idempotency: could not keep an answer to replay"]
    assert call["livekit"]["token"] not in str(vars(logged[0]))  # the answer holds a token: never logged


def test_a_provider_error_stands_when_redis_fails_during_it(
    make_app: Any, ravan: Any, doomed_redis: DoomedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Releasing the key of a failed attempt is clean-up: its failure must not turn a 502 into a 500."""
    app = make_app(WEBCALL_RATELIMIT_STORAGE_URI=doomed_redis.url, WEBCALL_READ_TIMEOUT_S="5")
    ravan[1].latency_s = 1.0  # time to kill Redis while the provider works
    ravan[1].faults.append(Fault("status", status=500, body={}))
    killer = doomed_redis.kill_while_answering(ravan[1])
    with caplog.at_level(logging.INFO):
        answer = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "click"})
    killer.join()
    assert codes([answer]) == ["provider_error"]
    logged = records_of(caplog, "webapp.guards.idempotency")
    assert [record.getMessage() for record in logged] == [
        "idempotency: could not release a failed attempt's key"
    ]


def test_a_refused_phone_call_stays_refused_when_redis_fails_during_it(
    make_app: Any, ravan: Any, doomed_redis: DoomedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider's refusal gives the number its cooldown back; that giving back failing is logged."""
    app = make_app(WEBCALL_RATELIMIT_STORAGE_URI=doomed_redis.url, WEBCALL_READ_TIMEOUT_S="5")
    ravan[1].latency_s = 1.0  # time to kill Redis while the provider works
    ravan[1].faults.append(Fault("status", status=400, body={"success": False, "message": "no credit"}))
    killer = doomed_redis.kill_while_answering(ravan[1])
    with caplog.at_level(logging.INFO):
        answer = app.test_client().post(
            "/api/phone-calls", json={"agent": "caller", "phone_number": "+14155552671", "consent": True}
        )
    killer.join()
    assert codes([answer]) == ["provider_error"]
    logged = records_of(caplog, "webapp.guards.limits")
    assert [record.getMessage() for record in logged] == ["limits: could not give a call back"]
