"""Abuse controls and faults: budgets, replays, bot check, circuit breaker, readiness, call length."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify, request

from tests.conftest import FAKE_AGENT_IDS, build_app, provider_env
from tests.fakes import FakeServer, FakeTurnstile, Fault

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
calls_per_minute = 3

[agents.tiny]
provider = "livekit"
agent_id = "webcall-demo"
daily_budget = 2

[agents.short]
provider = "livekit"
agent_id = "webcall-demo"
max_call_s = 60

[agents.strict]
provider = "livekit"
agent_id = "webcall-demo"
ip_rate_limit = "1/minute"
"""


@pytest.fixture
def make_app(tmp_path: Path, ravan: Any, zudu: Any, convoi: Any) -> Any:
    """The app against this test's fakes; keyword arguments override settings."""

    def build(**env: str) -> Flask:
        providers = provider_env(ravan[0].url, zudu[0].url, convoi[0].url)
        defaults = {"WEBCALL_READ_TIMEOUT_S": "1", "WEBCALL_RATE_LIMITS": "1000/minute", **providers}
        return build_app(tmp_path, CATALOGUE.format(**FAKE_AGENT_IDS), **{**defaults, **env})

    return build


def post(app: Flask, body: dict[str, Any], **headers: str) -> Any:
    """POST a JSON body to the API."""
    return app.test_client().post("/api/calls", json=body, headers=headers)


def codes(responses: list[Any]) -> list[Any]:
    """Status, or the error code, of each response."""
    return [r.status_code if r.status_code < 400 else r.get_json()["error"]["code"] for r in responses]


def test_agent_cap_per_minute_and_daily_budget(make_app: Any) -> None:
    app = make_app()
    assert codes([post(app, {"agent": "local"}) for _ in range(4)]) == [201, 201, 201, "agent_busy"]
    assert codes([post(app, {"agent": "tiny"}) for _ in range(3)]) == [201, 201, "daily_budget_exhausted"]
    refused = post(app, {"agent": "tiny"})
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 86400


def test_agent_per_client_limit(make_app: Any) -> None:
    app = make_app()
    first, second = post(app, {"agent": "strict"}), post(app, {"agent": "strict"})
    assert (first.status_code, second.status_code) == (201, 429)
    # Retry-After is when the first call leaves the window, not a guess.
    assert 55 <= int(second.headers["Retry-After"]) <= 60
    assert post(app, {"agent": "local"}).status_code == 201  # other agents are unaffected


def test_same_idempotency_key_replays_the_first_call(make_app: Any, ravan: Any) -> None:
    app = make_app()
    first = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "click-1"})
    again = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "click-1"})
    other = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "click-2"})
    assert first.get_json() == again.get_json()
    assert other.get_json()["call_id"] != first.get_json()["call_id"]
    assert len(ravan[1].requests) == 2


def test_concurrent_double_click_creates_one_call(make_app: Any, ravan: Any) -> None:
    ravan[1].latency_s = 0.3
    app = make_app()
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda _: post(app, {"agent": "ravan"}, **{"Idempotency-Key": "dbl"}), range(4))
        )
    assert {r.status_code for r in answers} == {201}
    assert len({r.get_json()["call_id"] for r in answers}) == 1
    assert len(ravan[1].requests) == 1


def test_a_failed_attempt_is_not_replayed(make_app: Any, ravan: Any) -> None:
    ravan[1].faults.append(Fault("status", status=500, body={}))
    app = make_app()
    assert post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"}).status_code == 502
    assert post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"}).status_code == 201


def test_malformed_idempotency_key(make_app: Any) -> None:
    refused = post(make_app(), {"agent": "local"}, **{"Idempotency-Key": "has spaces"})
    assert codes([refused]) == ["invalid_idempotency_key"]


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


def test_readyz_probes_providers(make_app: Any) -> None:
    ready = make_app().test_client().get("/readyz")
    checks = ready.get_json()["checks"]
    # The fakes answer; LiveKit (offline here) does not.
    assert checks["provider:ravan"] == "ok" and checks["provider:convoi"] == "ok"
    assert checks["provider:livekit"] == "unreachable" and ready.status_code == 503
    assert make_app().test_client().get("/healthz").get_json() == {"status": "ok"}


def test_bot_check_with_turnstile(make_app: Any) -> None:
    turnstile = FakeTurnstile(secret="ts-secret")
    with turnstile.server as server:
        app = make_app(
            WEBCALL_TURNSTILE_SITE_KEY="ts-site",
            WEBCALL_TURNSTILE_SECRET_KEY="ts-secret",
            WEBCALL_TURNSTILE_VERIFY_URL=f"{server.url}/siteverify",
        )
        assert codes([post(app, {"agent": "local"})]) == ["bot_check_required"]
        assert codes([post(app, {"agent": "local", "bot_token": "forged"})]) == ["bot_check_failed"]
        assert post(app, {"agent": "local", "bot_token": "good-token"}).status_code == 201
    assert turnstile.verified[-1]["remoteip"] == "127.0.0.1"
    down = make_app(
        WEBCALL_TURNSTILE_SITE_KEY="ts-site",
        WEBCALL_TURNSTILE_SECRET_KEY="ts-secret",
        WEBCALL_TURNSTILE_VERIFY_URL="http://127.0.0.1:9/siteverify",
    )
    assert codes([post(down, {"agent": "local", "bot_token": "good-token"})]) == ["bot_check_unavailable"]


def test_max_call_length_closes_the_room_on_the_server(make_app: Any) -> None:
    """The reaper asks LiveKit's RoomService to delete the room at the deadline."""
    deleted: list[tuple[str, str]] = []
    done = threading.Event()
    livekit = Flask("fake_room_service")

    @livekit.post("/twirp/livekit.RoomService/DeleteRoom")
    def delete_room() -> Any:
        deleted.append((request.get_json()["room"], request.headers["Authorization"]))
        done.set()
        return jsonify({})

    with FakeServer(livekit) as server:
        app = make_app(LIVEKIT_BASE_URL=server.url)
        reaper = app.extensions["webcall"].providers["livekit"].reaper
        reaper.schedule("room-a", 0.2)
        assert done.wait(5)
        answer = post(app, {"agent": "short"}).get_json()
        deadline, room = max(reaper.deadlines)
        assert room == answer["room"]
        assert 60 < deadline - time.monotonic() <= 60 + 15  # max_call_s plus the join grace
    assert deleted[0][0] == "room-a" and deleted[0][1].startswith("Bearer ")


def test_replays_end_with_their_window(make_app: Any, ravan: Any) -> None:
    app = make_app(WEBCALL_IDEMPOTENCY_WINDOW_S="1")
    first = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"}).get_json()
    assert post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"}).get_json() == first
    time.sleep(1.1)
    later = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"}).get_json()
    assert later["call_id"] != first["call_id"]
    assert len(app.extensions["webcall"].replay.entries) == 1  # the expired answer is gone


def test_retries_stay_within_the_total_deadline(make_app: Any, convoi: Any) -> None:
    """Convoi's create is retried (idempotent), but never past connect + read timeout in all."""
    convoi[1].faults.extend(Fault("delay", delay_s=3) for _ in range(3))
    app = make_app(WEBCALL_CONNECT_TIMEOUT_S="0.5", WEBCALL_READ_TIMEOUT_S="1")
    started = time.monotonic()
    response = post(app, {"agent": "convoi"})
    assert (response.status_code, response.get_json()["error"]["code"]) == (504, "provider_timeout")
    assert time.monotonic() - started < 1.8  # one 1 s attempt; another would end past 1.5 s
