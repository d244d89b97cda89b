"""The provider transport: circuit breaker, safe retries, and one deadline for all attempts."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.fakes import Fault
from tests.support.apps import codes, post
from webapp.providers.transport import PoolStack

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


def test_a_pool_serves_one_request_at_a_time_and_is_kept_warm(convoi: Any) -> None:
    """Two requests in flight never share a pool; a returned pool (and its connection) is lent
    again; no more than ``idle`` pools are kept after a burst."""
    pools = PoolStack(httpx.Limits(max_connections=8, max_keepalive_connections=4), idle=1)
    client = httpx.Client(transport=pools)
    url = convoi[0].url + "/"
    with client.stream("GET", url) as first, client.stream("GET", url) as second:
        assert first.status_code == second.status_code == 401  # the fake answered (no key sent)
        assert pools.free == []  # both pools are out
        first.read()  # an unread body would close its connection
        second.read()
    assert len(pools.free) == 1  # the second one back was closed: one idle is the limit
    kept = pools.free[0]
    assert client.get(url).status_code == 401
    assert pools.free == [kept]  # lent again (with its kept-alive connections, where the host keeps them)
    with client.stream("GET", convoi[0].url + "/nowhere") as failed:
        assert failed.status_code in (401, 404)
        assert pools.free == []
        failed.read()
    assert pools.free == [kept]
    client.close()
    assert pools.free == [] and pools.closed


def test_a_pool_comes_back_when_the_request_fails(convoi: Any) -> None:
    pools = PoolStack(httpx.Limits(max_connections=8, max_keepalive_connections=4))
    client = httpx.Client(transport=pools)
    try:
        client.get("http://127.0.0.1:9/", timeout=1)  # the discard port: nothing listens
    except httpx.TransportError:
        pass
    else:  # pragma: no cover - something answered on port 9
        raise AssertionError("port 9 answered")
    assert len(pools.free) == 1
    client.close()
