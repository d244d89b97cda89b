"""A demo link limited to a number of calls places no more, however many callers click at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from tests.fakes import Fault
from tests.support.apps import app_state_of, codes, post
from tests.support.processes import wait_until
from webapp.pages import demo_links
from webapp.pages.demo_links import sign_demo_link, verify_demo_link

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"
"""
SECRET_KEY = "k" * 40


def capped_link(max_calls: int) -> str:
    """A link's token for the Ravan agent, good for an hour and ``max_calls`` calls."""
    return sign_demo_link(SECRET_KEY, "ravan", {}, int(time.time()) + 3600, max_calls=max_calls)


def first_call_under_way(app: Any, ravan: Any, token: str) -> tuple[threading.Thread, list[Any]]:
    """A call through the link, placed on a thread of its own, once it has reached the provider:
    the thread, and the list its answer goes into."""
    answers: list[Any] = []
    first = threading.Thread(
        target=lambda: answers.append(post(app, {"agent": "ravan", "demo_token": token}))
    )
    first.start()
    wait_until(lambda: bool(ravan[1].requests), timeout_s=10, what="the first call to reach the provider")
    return first, answers


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_callers_at_the_same_moment_place_no_more_calls_than_the_link_has(
    make_app: Any, ravan: Any, call_log_url: str, storage: str, request: pytest.FixtureRequest
) -> None:
    """Five callers click a link good for two calls within the provider's 300 ms: two calls."""
    uri = "memory://"
    if storage == "redis":
        uri = request.getfixturevalue("redis_url")
        redis.Redis.from_url(uri).flushdb()
    app = make_app(
        WEBCALL_SECRET_KEY=SECRET_KEY, WEBCALL_DATABASE_URL=call_log_url, WEBCALL_RATELIMIT_STORAGE_URI=uri
    )
    ravan[1].latency_s = 0.3
    token = capped_link(2)
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: post(app, {"agent": "ravan", "demo_token": token}), range(5)))
    assert sorted(codes(answers), key=str) == [201, 201, *["demo_link_expired"] * 3]
    assert len(ravan[1].requests) == 2
    assert app_state_of(app).history.demo_link_calls(verify_demo_link(SECRET_KEY, token).link_id) == 2
    assert codes([post(app, {"agent": "ravan", "demo_token": token})]) == ["demo_link_expired"]


def test_a_caller_waiting_for_the_last_call_takes_it_when_the_other_fails(make_app: Any, ravan: Any) -> None:
    """The first caller's call fails at the provider while the second waits: the second gets it."""
    app = make_app(WEBCALL_SECRET_KEY=SECRET_KEY)
    ravan[1].latency_s = 1.0
    ravan[1].faults.append(Fault("status", status=500, body={}))
    token = capped_link(1)
    first, answers = first_call_under_way(app, ravan, token)
    second = post(app, {"agent": "ravan", "demo_token": token})  # while the first is being started
    first.join()
    assert codes([*answers, second]) == ["provider_error", 201]
    assert len(ravan[1].requests) == 2
    assert codes([post(app, {"agent": "ravan", "demo_token": token})]) == ["demo_link_expired"]


def test_a_caller_waits_for_the_last_call_only_so_long(
    make_app: Any, ravan: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the wait, a 409 to try again while the other call is still being started."""
    monkeypatch.setattr(demo_links, "TAKE_WAIT_S", 0.3)
    app = make_app(WEBCALL_SECRET_KEY=SECRET_KEY)
    ravan[1].latency_s = 2.0
    token = capped_link(1)
    first, answers = first_call_under_way(app, ravan, token)
    waited = time.monotonic()
    second = post(app, {"agent": "ravan", "demo_token": token})
    waited = time.monotonic() - waited
    first.join()
    assert codes([*answers, second]) == [201, "call_in_progress"] and second.status_code == 409
    assert second.headers["Retry-After"] == "2"  # the page counts down, then its caller tries again
    assert 0.3 <= waited < 1.5
    assert len(ravan[1].requests) == 1


def test_a_link_without_a_cap_takes_every_caller_at_once(make_app: Any, ravan: Any) -> None:
    app = make_app(WEBCALL_SECRET_KEY=SECRET_KEY)
    ravan[1].latency_s = 0.5
    token = sign_demo_link(SECRET_KEY, "ravan", {}, int(time.time()) + 3600)
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(app, {"agent": "ravan", "demo_token": token}), range(4)))
    assert codes(answers) == [201] * 4 and len(ravan[1].requests) == 4
    assert time.monotonic() - started < 1.8  # side by side: one after another takes 2 s
