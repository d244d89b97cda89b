"""The provider transport: circuit breaker, safe retries, and one deadline for all attempts."""

from __future__ import annotations

import time
from typing import Any

from tests.fakes import Fault
from tests.support.apps import codes, post

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.convoi]
provider = "convoi"
agent_id = "{convoi}"
"""


def test_circuit_breaker_fails_fast_and_readyz_reports_it(make_app: Any, ravan: Any) -> None:
    app = make_app()
    ravan[1].faults.extend(Fault("status", status=500, body={}) for _ in range(5))
    assert codes([post(app, {"agent": "ravan"}) for _ in range(5)]) == ["provider_error"] * 5
    fast = post(app, {"agent": "ravan"})
    assert (fast.status_code, fast.get_json()["error"]["code"]) == (502, "provider_unavailable")
    assert int(fast.headers["Retry-After"]) >= 1
    assert len(ravan[1].requests) == 5  # the sixth never reached the provider
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["provider:ravan"] == "circuit_open"


def test_readyz_reports_a_circuit_that_opened_since_its_last_probe(make_app: Any, ravan: Any) -> None:
    """The network probe is cached for a few seconds; the circuit's state is not: a load
    balancer stops sending calls as soon as this process would refuse them."""
    app = make_app()
    assert app.test_client().get("/readyz").get_json()["checks"]["provider:ravan"] == "ok"
    ravan[1].faults.extend(Fault("status", status=500, body={}) for _ in range(5))
    assert codes([post(app, {"agent": "ravan"}) for _ in range(5)]) == ["provider_error"] * 5
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["provider:ravan"] == "circuit_open"


def test_refusals_do_not_trip_the_breaker(make_app: Any, ravan: Any) -> None:
    app = make_app()
    ravan[1].faults.extend(Fault("status", status=400, body={}) for _ in range(6))
    assert codes([post(app, {"agent": "ravan"}) for _ in range(6)]) == ["provider_error"] * 6
    assert post(app, {"agent": "ravan"}).status_code == 201


def test_retries_stay_within_the_total_deadline(make_app: Any, convoi: Any) -> None:
    """Convoi's create is retried (idempotent), but never past connect + read timeout in all."""
    convoi[1].faults.extend(Fault("delay", delay_s=3) for _ in range(3))
    app = make_app(WEBCALL_CONNECT_TIMEOUT_S="0.5", WEBCALL_READ_TIMEOUT_S="1")
    started = time.monotonic()
    response = post(app, {"agent": "convoi"})
    assert (response.status_code, response.get_json()["error"]["code"]) == (504, "provider_timeout")
    assert time.monotonic() - started < 1.8  # one 1 s attempt; another would end past 1.5 s
