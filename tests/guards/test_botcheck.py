"""The optional bot check (Turnstile) before a call is created."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import redis

from tests.fakes import FakeTurnstile, Fault
from tests.support.apps import app_state_of, codes, page_config_of, post

PAGE_KEY = "0b7a4c2e-9d3f-4e1a-8c5b-6f2d1e0a9b8c"  # a page sends a UUID
CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
calls_per_minute = 3

[agents.other]
provider = "livekit"
agent_id = "webcall-demo"

[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.open]
provider = "livekit"
agent_id = "webcall-demo"
bot_check = false

[agents.guarded]
provider = "livekit"
agent_id = "webcall-demo"
bot_check = true
"""


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


def test_each_agent_may_skip_or_require_the_check(make_app: Any, tmp_path: Any) -> None:
    """bot_check = false: its web calls skip Turnstile; true without Turnstile: refused, never
    unchecked (and start-up says so); unset: the deployment's."""
    turnstile = FakeTurnstile(secret="ts-secret")
    keys = {"WEBCALL_TURNSTILE_SITE_KEY": "ts-site", "WEBCALL_TURNSTILE_SECRET_KEY": "ts-secret"}
    with turnstile.server as server:
        app = make_app(**keys, WEBCALL_TURNSTILE_VERIFY_URL=f"{server.url}/siteverify")
        assert post(app, {"agent": "open"}).status_code == 201
        assert (
            codes([post(app, {"agent": "guarded"}), post(app, {"agent": "local"})])
            == ["bot_check_required"] * 2
        )
        pages = {slug: page_config_of(app, slug) for slug in ("open", "local")}
    assert not turnstile.verified  # the open agent's call asked nobody
    assert (pages["open"]["turnstile_site_key"], pages["open"]["web_bot_check"]) == (None, False)
    assert (pages["local"]["turnstile_site_key"], pages["local"]["web_bot_check"]) == ("ts-site", True)
    unchecked = make_app()
    assert post(unchecked, {"agent": "local"}).status_code == 201  # no Turnstile: no check by default
    assert codes([post(unchecked, {"agent": "guarded"})]) == ["bot_check_required"]
    assert any("[agents.guarded]: bot_check = true" in w for w in app_state_of(unchecked).settings.warnings())


def test_one_solved_token_is_good_for_one_agent_and_visitor(make_app: Any) -> None:
    """Turnstile validates a token again only with the idempotency_key of its first validation:
    that key is ours (agent, visitor, the page's key), never the page's own, which let one
    solved token through for every agent and visitor sending the same Idempotency-Key."""
    turnstile = FakeTurnstile(secret="ts-secret", single_use=True)
    with turnstile.server as server:
        app = make_app(
            WEBCALL_TURNSTILE_SITE_KEY="ts-site",
            WEBCALL_TURNSTILE_SECRET_KEY="ts-secret",
            WEBCALL_TURNSTILE_VERIFY_URL=f"{server.url}/siteverify",
        )
        solved = {"agent": "local", "bot_token": "good-token"}
        first = post(app, solved, **{"Idempotency-Key": PAGE_KEY})
        assert first.status_code == 201, first.get_json()
        retried = post(app, solved, **{"Idempotency-Key": PAGE_KEY})  # the page's retry: replayed
        assert retried.get_json()["call_id"] == first.get_json()["call_id"]
        other_agent = post(app, {**solved, "agent": "other"}, **{"Idempotency-Key": PAGE_KEY})
        other_visitor = app.test_client().post(
            "/api/calls", json=solved, headers={"Idempotency-Key": PAGE_KEY},
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        )  # fmt: skip
        assert codes([other_agent, other_visitor, post(app, solved)]) == ["bot_check_failed"] * 3
    keys = [form.get("idempotency_key") for form in turnstile.verified]
    assert PAGE_KEY not in keys and len({uuid.UUID(k) for k in keys if k}) == 3, keys


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_solved_token_creates_one_call_after_its_replay_ends(
    make_app: Any, ravan: Any, storage: str, request: pytest.FixtureRequest
) -> None:
    """Turnstile validates a token again with its first idempotency_key for 300 s, our replay
    lasts WEBCALL_IDEMPOTENCY_WINDOW_S (120 s): the same token and Idempotency-Key sent after the
    replay had ended made a new call each time. A failed attempt does not use the token up."""
    uri = "memory://"
    if storage == "redis":
        uri = request.getfixturevalue("redis_url")
        redis.Redis.from_url(uri).flushdb()
    turnstile = FakeTurnstile(secret="ts-secret", single_use=True)
    with turnstile.server as server:
        app = make_app(
            WEBCALL_TURNSTILE_SITE_KEY="ts-site",
            WEBCALL_TURNSTILE_SECRET_KEY="ts-secret",
            WEBCALL_TURNSTILE_VERIFY_URL=f"{server.url}/siteverify",
            WEBCALL_RATELIMIT_STORAGE_URI=uri,
            WEBCALL_IDEMPOTENCY_WINDOW_S="1",
        )
        solved, key = {"agent": "ravan", "bot_token": "good-token"}, {"Idempotency-Key": PAGE_KEY}
        ravan[1].faults.append(Fault("status", status=500, body={}))
        assert codes([post(app, solved, **key)]) == ["provider_error"]
        first = post(app, solved, **key)  # the page's retry after the error
        assert first.status_code == 201, first.get_json()
        replayed = post(app, solved, **key)
        assert replayed.get_json()["call_id"] == first.get_json()["call_id"]
        time.sleep(1.1)  # the replay has ended; Turnstile still takes the token with this key
        assert codes([post(app, solved, **key), post(app, solved, **key)]) == ["bot_check_failed"] * 2
    assert [form.get("response") for form in turnstile.verified] == ["good-token"] * 5  # every one checked
    assert list(ravan[1].calls) == [first.get_json()["call_id"]]
