"""A public endpoint that spends money: 200 callers at once against a slow provider.

gunicorn with the production settings (``gunicorn.conf.py``, its gevent worker) serves the app;
its only agent is on Ravan, whose fake answers after 300 ms. Two hundred
``POST /api/calls`` start together, each with its own ``Idempotency-Key``; every one
must come back ``201`` with its own call. Loopback only, bounded in count and time.
It is not a timing test: the numbers are printed (``pytest -s``) and recorded as
properties, and only a generous overall bound is asserted.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import FakeServer, FakeState
from tests.support.apps import FAKE_AGENT_IDS, FAKE_KEYS, OfflineLiveKit
from tests.support.stack import AppServer, start_app_server

CALLERS = 200
PROVIDER_LATENCY_S = 0.3
OVERALL_LIMIT_S = 60.0
AGENTS_TOML = """\
[agents.ravan-load]
provider = "ravan"
agent_id = "{ravan_agent}"
title = "Ravan agent under load"
"""
# The app's abuse limits are far above the load, so every refusal would be a real failure.
UNLIMITED = {
    "WEBCALL_RATE_LIMITS": "100000/minute",
    "WEBCALL_GLOBAL_RATE_LIMIT": "100000/minute",
    "WEBCALL_AGENT_CALLS_PER_MINUTE": "100000",
    "WEBCALL_AGENT_DAILY_BUDGET": "100000",
}


@pytest.fixture
def load_app(ravan: tuple[FakeServer, FakeState], artifacts: Path) -> Iterator[AppServer]:
    """gunicorn (production config) with one agent on the slow Ravan fake; stopped afterwards."""
    ravan[1].latency_s = PROVIDER_LATENCY_S
    env = {
        "RAVAN_API_KEY": FAKE_KEYS["ravan"],
        "RAVAN_BASE_URL": ravan[0].url,
        "LIVEKIT_URL": OfflineLiveKit.url,
        "LIVEKIT_API_KEY": OfflineLiveKit.api_key,
        "LIVEKIT_API_SECRET": OfflineLiveKit.api_secret,
        **UNLIMITED,
    }
    toml = AGENTS_TOML.format(ravan_agent=FAKE_AGENT_IDS["ravan"])
    # A folder of its own: the session's e2e stack writes gunicorn.log in logs/ too.
    app = start_app_server(env, artifacts / "logs" / "load", agents_toml=toml)
    try:
        yield app
    finally:
        app.process.stop()


def start_together(url: str, count: int) -> tuple[list[Any], list[float], float]:
    """POST ``count`` calls from ``count`` threads released at once; answers, latencies, wall time."""
    answers: list[Any] = [None] * count
    latencies_s: list[float] = [0.0] * count
    ready = threading.Barrier(count + 1)
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)

    with httpx.Client(base_url=url, timeout=30.0, limits=limits) as client:

        def call(index: int) -> None:
            """Wait for the others, then start one call and note how long it took."""
            ready.wait()
            started = time.perf_counter()
            try:
                answers[index] = client.post(
                    "/api/calls",
                    json={"agent": "ravan-load"},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
            except httpx.HTTPError as exc:
                answers[index] = exc
            latencies_s[index] = time.perf_counter() - started

        threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(count)]
        for thread in threads:
            thread.start()
        ready.wait(timeout=10)
        started = time.perf_counter()
        deadline = started + OVERALL_LIMIT_S
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.perf_counter()))
        wall_s = time.perf_counter() - started
    return answers, latencies_s, wall_s


def test_200_concurrent_calls_to_a_slow_provider_all_succeed(
    load_app: AppServer, ravan: tuple[FakeServer, FakeState], record_property: Any
) -> None:
    answers, latencies_s, wall_s = start_together(load_app.url, CALLERS)

    errors = [a for a in answers if not isinstance(a, httpx.Response)]
    statuses = [a.status_code for a in answers if isinstance(a, httpx.Response)]
    assert not errors, f"{len(errors)} requests failed, e.g. {errors[0]!r}"
    assert statuses == [201] * CALLERS, {s: statuses.count(s) for s in set(statuses)}
    assert wall_s < OVERALL_LIMIT_S
    call_ids = {a.json()["call_id"] for a in answers}
    assert len(call_ids) == CALLERS, "two callers were handed the same call"
    created = [r for r in ravan[1].requests if r.path.endswith("/create-call")]
    assert len(created) == CALLERS

    cuts_ms = [q * 1000 for q in statistics.quantiles(latencies_s, n=100, method="inclusive")]
    numbers = {
        "load_calls": CALLERS,
        "load_wall_s": round(wall_s, 3),
        "load_calls_per_s": round(CALLERS / wall_s, 1),
        "load_p50_ms": round(cuts_ms[49], 1),
        "load_p95_ms": round(cuts_ms[94], 1),
        "load_p99_ms": round(cuts_ms[98], 1),
        "load_max_ms": round(max(latencies_s) * 1000, 1),
    }
    for name, value in numbers.items():
        record_property(name, value)
    print(
        f"\n{CALLERS} concurrent calls, provider latency {PROVIDER_LATENCY_S * 1000:.0f} ms: "
        f"{wall_s:.2f} s, {numbers['load_calls_per_s']} calls/s; latency p50 {numbers['load_p50_ms']} ms, "
        f"p95 {numbers['load_p95_ms']} ms, p99 {numbers['load_p99_ms']} ms, max {numbers['load_max_ms']} ms"
    )
