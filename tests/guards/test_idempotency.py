"""Double clicks and retries: one Idempotency-Key, one call, within its window."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.fakes import Fault
from tests.support.apps import app_state_of, codes, post

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
calls_per_minute = 3
"""


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


def test_replays_end_with_their_window(make_app: Any, ravan: Any) -> None:
    app = make_app(WEBCALL_IDEMPOTENCY_WINDOW_S="1")
    first = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"}).get_json()
    assert post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"}).get_json() == first
    time.sleep(1.1)
    later = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"}).get_json()
    assert later["call_id"] != first["call_id"]
    replay = app_state_of(app).replay
    assert len(replay.entries) == 1  # type: ignore[attr-defined]  # the expired answer is gone
