"""Double clicks and retries: one Idempotency-Key, one call, within its window."""

from __future__ import annotations

import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.fakes import Fault
from tests.guards.conftest import DoomedRedis
from tests.support.apps import app_state_of, build_app, codes, post
from tests.support.processes import wait_until
from webapp.errors import AppError, ConfigError
from webapp.guards.idempotency import MIN_LIFE_LEFT_S, RedisReplay

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


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_key_used_again_for_another_request_is_refused(
    make_app: Any, ravan: Any, storage: str, request: pytest.FixtureRequest
) -> None:
    """The same key asking for something else (other variables, metadata, mode) is not a retry: a
    409 that says so, not the first call's answer; while the first is still running too."""
    uri = "memory://"
    if storage == "redis":
        uri = request.getfixturevalue("redis_url")
        redis.Redis.from_url(uri).flushdb()
    app = make_app(WEBCALL_RATELIMIT_STORAGE_URI=uri)
    key = {"Idempotency-Key": "k-1"}
    first = post(app, {"agent": "ravan", "variables": {"plan": "pro"}}, **key)
    assert first.status_code == 201, first.get_json()
    # The same request again, its fields in another order: a retry, replayed.
    again = post(app, {"variables": {"plan": "pro"}, "agent": "ravan"}, **key)
    assert again.get_json() == first.get_json()
    others = [{"variables": {"plan": "basic"}}, {"variables": {"plan": "pro"}, "metadata": {"a": 1}}, {}]
    answers = [post(app, {"agent": "ravan", **other}, **key) for other in others]
    assert codes(answers) == ["idempotency_key_reused"] * 3
    assert {a.status_code for a in answers} == {409}
    assert len(ravan[1].requests) == 1
    # While the first is still being served.
    ravan[1].latency_s = 1.0
    running = threading.Thread(target=lambda: post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k-2"}))
    running.start()
    wait_until(
        lambda: len(ravan[1].requests) == 2, timeout_s=10, what="the first attempt to reach the provider"
    )
    meanwhile = post(
        app, {"agent": "ravan", "participant_name": "Someone else"}, **{"Idempotency-Key": "k-2"}
    )
    running.join()
    assert codes([meanwhile]) == ["idempotency_key_reused"] and len(ravan[1].requests) == 2


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


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_replay_ends_before_its_token_does(
    make_app: Any, ravan: Any, storage: str, request: pytest.FixtureRequest
) -> None:
    """A retry gets the first call while its token can still be joined with; later (here within
    the 120 s window) a new call, not a dead token (it once answered the first token, expired)."""
    uri = "memory://"
    if storage == "redis":
        uri = request.getfixturevalue("redis_url")
        redis.Redis.from_url(uri).flushdb()
    ravan[1].token_ttl = datetime.timedelta(seconds=MIN_LIFE_LEFT_S + 4)  # replayed for 3-4 s (exp: whole s)
    app = make_app(WEBCALL_RATELIMIT_STORAGE_URI=uri)
    first = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"}).get_json()
    assert post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"}).get_json() == first
    time.sleep(4.2)  # the token has less than MIN_LIFE_LEFT_S to live now
    later = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"})
    assert later.status_code == 201
    assert later.get_json()["call_id"] != first["call_id"]
    assert len(ravan[1].requests) == 2


def test_a_provider_that_replays_the_key_keeps_the_whole_window(make_app: Any, convoi: Any) -> None:
    """Convoi answers our key with its first call for a day: asking it again once the token is
    near its end would only count a second call against the limits for the same answer."""
    convoi[1].token_ttl = datetime.timedelta(seconds=MIN_LIFE_LEFT_S + 2)
    app = make_app()
    post(app, {"agent": "convoi"}, **{"Idempotency-Key": "k"})
    time.sleep(2.2)
    assert post(app, {"agent": "convoi"}, **{"Idempotency-Key": "k"}).status_code == 201
    assert len(convoi[1].requests) == 1  # replayed by us, not asked again


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_request_waiting_on_a_failed_first_attempt_tries_again(
    make_app: Any, ravan: Any, storage: str, request: pytest.FixtureRequest
) -> None:
    """Both backends alike: the waiter becomes the owner (memory answered 409 call_in_progress)."""
    uri = "memory://"
    if storage == "redis":
        uri = request.getfixturevalue("redis_url")
        redis.Redis.from_url(uri).flushdb()
    app = make_app(WEBCALL_RATELIMIT_STORAGE_URI=uri, WEBCALL_READ_TIMEOUT_S="5")
    ravan[1].latency_s = 1.0  # the first attempt fails after a second: time for the second to arrive
    ravan[1].faults.append(Fault("status", status=500, body={}))
    answers: list[Any] = []
    first = threading.Thread(
        target=lambda: answers.append(post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"}))
    )
    first.start()
    wait_until(lambda: bool(ravan[1].requests), timeout_s=10, what="the first attempt to reach the provider")
    second = post(app, {"agent": "ravan"}, **{"Idempotency-Key": "k"})  # while the first is still running
    first.join()
    assert codes([*answers, second]) == ["provider_error", 201]
    assert len(ravan[1].requests) == 2


def test_redis_down_before_the_work_refuses_without_doing_it(doomed_redis: DoomedRedis) -> None:
    replay = RedisReplay(doomed_redis.url, window_s=60)
    doomed_redis.kill()
    asked: list[str] = []

    def work() -> dict[str, Any]:
        asked.append("the provider")
        return {}

    with pytest.raises(AppError) as refused:
        replay.run("k", work)
    error = refused.value
    assert (error.status_code, error.code, error.retry_after_s) == (503, "limits_unavailable", 5)
    assert asked == []


def test_a_claim_in_redis_outlives_the_slowest_create(tmp_path: Path, redis_url: str) -> None:
    """The first request's claim on a key expired after 25 s whatever the timeouts: with a
    provider given 60 s to answer, a retry after 27 s claimed the key again and created a
    second call. The claim now lasts the provider's deadline and the call log's time."""
    local = '[agents.local]\nprovider = "livekit"\nagent_id = "webcall-demo"\n'
    app = build_app(tmp_path, local, WEBCALL_RATELIMIT_STORAGE_URI=redis_url, WEBCALL_READ_TIMEOUT_S="60")
    replay = app_state_of(app).replay
    assert isinstance(replay, RedisReplay)
    claimed: list[int] = []

    def work() -> dict[str, Any]:
        claimed.append(replay.redis.ttl("webcall:idem2:slow-create"))
        return {}

    replay.run("slow-create", work)
    assert claimed and claimed[0] > 3 + 60 + 10, claimed  # connect, read, and the INSERT's 10 s


def test_a_sentinel_url_is_named_with_the_other_problems_at_start_up(tmp_path: Path) -> None:
    """redis+sentinel:// passed the settings, then stopped the start with a traceback (the replays'
    client cannot use it): now it is one of the problems listed at once."""
    local = '[agents.local]\nprovider = "livekit"\nagent_id = "webcall-demo"\n'
    with pytest.raises(ConfigError) as caught:
        build_app(tmp_path, local, WEBCALL_RATELIMIT_STORAGE_URI="redis+sentinel://127.0.0.1:26379/main",
                  WEBCALL_READ_TIMEOUT_S="soon")  # fmt: skip
    text = str(caught.value)
    assert "WEBCALL_RATELIMIT_STORAGE_URI" in text and "Redis Sentinel is not supported" in text, text
    assert "WEBCALL_READ_TIMEOUT_S" in text
