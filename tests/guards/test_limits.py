"""How often: per client, for all clients together, and what one agent may spend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from limits import RateLimitItemPerMinute

from tests.fakes import FakeTurnstile, Fault
from tests.guards.conftest import DoomedRedis
from tests.support.apps import FAKE_AGENT_IDS, build_app, codes, post, provider_env
from webapp.errors import AppError
from webapp.guards.limits import Limits, NumberDay, NumberTurn, agent_calls_per_minute, client_key, host_of
from webapp.state import app_state

CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
calls_per_minute = 3

[agents.plain]
provider = "livekit"
agent_id = "webcall-demo"

[agents.tiny]
provider = "livekit"
agent_id = "webcall-demo"
daily_budget = 2

[agents.strict]
provider = "livekit"
agent_id = "webcall-demo"
ip_rate_limit = "1/minute"
"""


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


def test_rate_limit_answers_429_with_retry_after(make_app: Any) -> None:
    app = make_app(WEBCALL_RATE_LIMITS="3/minute")
    statuses = [post(app, {"agent": "plain"}).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    limited = post(app, {"agent": "plain"})
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_malformed_request_spends_no_allowance(
    make_app: Any, storage: str, request: pytest.FixtureRequest
) -> None:
    """Requests that could never start a call (not JSON, not the API's body, an unknown agent,
    too big) are refused as such, and the client's calls are still all there after them; past
    the limit, every request is refused with 429 alike."""
    uri = request.getfixturevalue("redis_url") if storage == "redis" else "memory://"
    app = make_app(WEBCALL_RATE_LIMITS="2/minute", WEBCALL_RATELIMIT_STORAGE_URI=uri)
    client = app.test_client()

    def send(**request: Any) -> Any:  # from an address of this test's own (the Redis is shared)
        return client.post("/api/calls", environ_base={"REMOTE_ADDR": "203.0.113.9"}, **request)

    malformed = [
        send(data="agent=plain", content_type="text/plain"),
        send(data="{", content_type="application/json"),
        send(json={"agent": "plain", "colour": "red"}),
        send(json={"agent": "nobody"}),
        send(data=b"x" * 100_000, content_type="application/json"),
    ]
    assert codes(malformed) == [
        "unsupported_media_type", "invalid_json", "unknown_field", "unknown_agent", "payload_too_large",
    ]  # fmt: skip
    assert codes([send(json={"agent": "plain"}) for _ in range(3)]) == [201, 201, "rate_limited"]
    assert codes([send(json={"agent": "nobody"})]) == ["rate_limited"]


def test_an_ipv6_client_is_counted_by_its_64(make_app: Any) -> None:
    """Each host has a whole /64: stepping through its addresses must not start a new allowance;
    IPv4 addresses (plain or mapped into IPv6) count one by one."""
    app = make_app(WEBCALL_RATE_LIMITS="2/minute")
    client = app.test_client()

    def call_from(address: str, agent: str = "plain") -> Any:
        return client.post("/api/calls", json={"agent": agent}, environ_base={"REMOTE_ADDR": address})

    same_64 = [call_from(f"2001:db8:1:2::{n:x}") for n in range(1, 4)]
    assert codes(same_64) == [201, 201, "rate_limited"]
    assert codes([call_from("2001:db8:1:3::1")]) == [201]  # the next /64 is someone else
    mapped_and_plain = [
        call_from("::ffff:198.51.100.7"),
        call_from("198.51.100.7"),
        call_from("198.51.100.7"),
    ]
    assert codes(mapped_and_plain) == [201, 201, "rate_limited"]
    # An agent's own per-client limit counts the same way.
    assert codes([call_from("2001:db8:9::1", "strict"), call_from("2001:db8:9::2", "strict")]) == [
        201, "rate_limited",
    ]  # fmt: skip


def test_global_ceiling_counts_every_client_together(make_app: Any) -> None:
    """WEBCALL_GLOBAL_RATE_LIMIT: the most calls this deployment pays for, whoever asks."""
    app = make_app(WEBCALL_GLOBAL_RATE_LIMIT="3/minute", WEBCALL_RATE_LIMITS="100/minute")
    client = app.test_client()

    def call_from(address: str) -> Any:
        return client.post("/api/calls", json={"agent": "plain"}, environ_base={"REMOTE_ADDR": address})

    answers = [call_from(f"198.51.100.{n}") for n in range(1, 5)]  # four different visitors
    assert codes(answers) == [201, 201, 201, "rate_limited"]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    # The ceiling is for everyone: a fifth visitor, never seen before, is refused too.
    assert codes([call_from("203.0.113.9")]) == ["rate_limited"]


def test_refusals_before_the_provider_leave_the_ceiling_to_real_callers(make_app: Any) -> None:
    """A forged bot token or a foreign origin costs the deployment nothing, yet each filled the
    all-clients ceiling: a few dozen clients refused the bot check emptied it for every caller."""
    turnstile = FakeTurnstile(secret="ts-secret")
    with turnstile.server as server:
        app = make_app(
            WEBCALL_GLOBAL_RATE_LIMIT="3/minute",
            WEBCALL_TURNSTILE_SITE_KEY="ts-site",
            WEBCALL_TURNSTILE_SECRET_KEY="ts-secret",
            WEBCALL_TURNSTILE_VERIFY_URL=f"{server.url}/siteverify",
        )
        client = app.test_client()

        def call_from(address: str, token: str, **headers: str) -> Any:
            body = {"agent": "plain", "bot_token": token}
            return client.post(
                "/api/calls", json=body, headers=headers, environ_base={"REMOTE_ADDR": address}
            )

        junk = [call_from(f"2001:db8:0:{n}::1", "forged") for n in range(4)]
        junk += [
            call_from(f"2001:db8:1:{n}::1", "good-token", Origin="https://evil.example") for n in range(4)
        ]
        assert codes(junk) == ["bot_check_failed"] * 4 + ["origin_not_allowed"] * 4
        callers = [call_from(f"198.51.100.{n}", "good-token") for n in range(1, 5)]
        assert codes(callers) == [201, 201, 201, "rate_limited"]  # the ceiling counts calls placed


def test_a_call_the_provider_was_asked_for_stays_counted_though_it_failed(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any
) -> None:
    """The provider may have started it (a timeout, a 5xx after the work): the ceiling keeps it."""
    catalogue = '[agents.sales]\nprovider = "ravan"\nagent_id = "{ravan}"\n'.format(**FAKE_AGENT_IDS)
    env = {**provider_env(ravan[0].url, zudu[0].url, convoi[0].url), "WEBCALL_GLOBAL_RATE_LIMIT": "2/minute"}
    app = build_app(tmp_path, catalogue, **env)
    ravan[1].faults.append(Fault("status", status=500, body={}))
    answers = [post(app, {"agent": "sales"}) for _ in range(3)]
    assert codes(answers) == ["provider_error", 201, "rate_limited"]


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_retry_with_its_idempotency_key_is_replayed_not_counted(
    make_app: Any, storage: str, request: pytest.FixtureRequest
) -> None:
    """README: the key "makes double clicks and retries safe". Each retry was counted as a call,
    so the page's own retry was refused 429 (at once with the agent's ``ip_rate_limit`` of
    1/minute) instead of getting back the call it had already paid for."""
    uri = request.getfixturevalue("redis_url") if storage == "redis" else "memory://"
    app = make_app(WEBCALL_RATE_LIMITS="3/minute", WEBCALL_RATELIMIT_STORAGE_URI=uri)
    client = app.test_client()
    address = {"REMOTE_ADDR": f"203.0.113.{20 if storage == 'redis' else 21}"}  # the Redis is shared

    def send(agent: str, key: str) -> Any:
        headers = {"Idempotency-Key": key}
        return client.post("/api/calls", json={"agent": agent}, headers=headers, environ_base=address)

    strict = [send("strict", "click-1") for _ in range(3)]
    assert codes(strict) == [201, 201, 201]
    assert len({answer.get_json()["call_id"] for answer in strict}) == 1
    assert codes([send("plain", "click-2") for _ in range(3)]) == [201, 201, 201]
    # Two calls counted of the client's three: one more, then the limits refuse new calls.
    assert codes([send("plain", "click-3")]) == [201]
    assert codes([send("strict", "click-4"), send("plain", "click-5")]) == ["rate_limited", "rate_limited"]


@pytest.mark.parametrize(
    ("forwarded", "same_client"),
    [
        (["198.51.100.7:40001", "198.51.100.7:40002", "198.51.100.7:40003"], "198.51.100.7"),
        (["[2001:db8:1:2::1]:443", "[2001:db8:1:2::2]:1025", "[2001:db8:1:2::3]"], "2001:db8:1:2::/64"),
    ],
)
def test_a_port_a_proxy_writes_after_the_address_is_not_a_new_client(
    tmp_path: Path, forwarded: list[str], same_client: str
) -> None:
    """Some proxies write ``address:port`` into X-Forwarded-For: each connection was counted (and
    its retries scoped) as a new client."""
    app = build_app(tmp_path, CATALOGUE, WEBCALL_TRUSTED_PROXIES="1", WEBCALL_RATE_LIMITS="2/minute")
    client = app.test_client()
    answers = [
        client.post("/api/calls", json={"agent": "plain"}, headers={"X-Forwarded-For": address})
        for address in forwarded
    ]
    assert codes(answers) == [201, 201, "rate_limited"]
    assert client_key(host_of(forwarded[0])) == same_client


def test_ipv4_visitors_behind_a_nat64_front_end_are_each_their_own_client(tmp_path: Path) -> None:
    """Behind an IPv6-only front end translating IPv4 (NAT64's 64:ff9b::/96), every IPv4 visitor
    came from one /64 and shared one allowance: one abuser used up everyone's."""
    app = build_app(tmp_path, CATALOGUE, WEBCALL_TRUSTED_PROXIES="1", WEBCALL_RATE_LIMITS="2/minute")
    client = app.test_client()

    def send(address: str) -> Any:
        return client.post("/api/calls", json={"agent": "plain"}, headers={"X-Forwarded-For": address})

    assert codes([send("64:ff9b::203.0.113.9") for _ in range(3)]) == [201, 201, "rate_limited"]
    assert codes([send("64:ff9b::198.51.100.7"), send("64:ff9b::c633:6407")]) == [201, 201]
    assert client_key("64:ff9b::c633:6407") == "198.51.100.7" == client_key("::ffff:198.51.100.7")
    assert client_key("2001:db8:64:ff9b::1") == "2001:db8:64:ff9b::/64"


def test_convoi_agents_share_the_keys_documented_20_creates_a_minute(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any
) -> None:
    """Convoi allows 20 writes a minute per key: two agents on the key get 20 between them."""
    catalogue = """
[agents.sales]
provider = "convoi"
agent_id = "{convoi}"

[agents.support]
provider = "convoi"
agent_id = "{convoi}"
""".format(**FAKE_AGENT_IDS)
    env = {**provider_env(ravan[0].url, zudu[0].url, convoi[0].url), "WEBCALL_RATE_LIMITS": "1000/minute"}
    app = build_app(tmp_path, catalogue, **env)
    with app.app_context():
        sales = app_state().settings.agents["sales"]
        assert agent_calls_per_minute(sales, app_state().settings, 20) == 20  # not the default 30
    answers = [post(app, {"agent": "sales" if n % 2 else "support"}) for n in range(21)]
    assert codes(answers) == [201] * 20 + ["agent_busy"]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert len(convoi[1].requests) == 20  # the 21st never reached Convoi


def test_a_call_the_daily_budget_refuses_takes_nothing_of_the_provider_keys_minute(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any
) -> None:
    """An agent past its budget used to spend the per-minute allowance every agent on its key shares."""
    catalogue = """
[agents.spent]
provider = "convoi"
agent_id = "{convoi}"
daily_budget = 1

[agents.support]
provider = "convoi"
agent_id = "{convoi}"
""".format(**FAKE_AGENT_IDS)
    env = {**provider_env(ravan[0].url, zudu[0].url, convoi[0].url), "WEBCALL_RATE_LIMITS": "1000/minute"}
    app = build_app(tmp_path, catalogue, **env)
    spent = [post(app, {"agent": "spent"}) for _ in range(20)]
    assert codes(spent) == [201] + ["daily_budget_exhausted"] * 19
    # The key's 20 creates a minute: one used, 19 left for the other agent.
    assert codes([post(app, {"agent": "support"}) for _ in range(20)]) == [201] * 19 + ["agent_busy"]
    assert len(convoi[1].requests) == 20


@pytest.fixture(params=["memory", "redis"])
def limits(request: pytest.FixtureRequest) -> Limits:
    """The counts on the in-process windows, or on a real (emptied) Redis."""
    if request.param == "memory":
        return Limits("memory://")
    url: str = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    return Limits(url)


def test_giving_back_uncounts_one_call(limits: Limits) -> None:
    three = RateLimitItemPerMinute(3)
    assert [limits.hit(three, "agent") for _ in range(3)] == [None, None, None]
    assert limits.hit(three, "agent") is not None  # full
    limits.give_back(three, "agent")
    assert limits.hit(three, "agent") is None  # one place came free, and only one
    assert limits.hit(three, "agent") is not None
    limits.give_back(three, "someone-else")  # nothing counted there: nothing to give, nothing breaks
    assert limits.strategy.get_window_stats(three, "someone-else").remaining == 3


def test_a_numbers_turn_and_day_are_one_count_for_every_cooldown_and_cap(limits: Limits) -> None:
    """Every agent's cooldown and cap for a number read the same calls, each against its own size."""

    def turn(cooldown_s: int) -> int:
        """Take the number's turn with this cooldown: the wait, 0 when it was free."""
        return limits.take_turn(NumberTurn(cooldown_s), "number") or 0

    assert turn(0) == 0  # no wait, but the number's last call all the same
    assert 599 <= turn(600) <= 600 and 299 <= turn(300) <= 300
    limits.give_back(NumberTurn(0), "number")  # that call was never placed
    assert [turn(600), turn(0)] == [0, 0]
    limits.give_back(NumberTurn(0), "number")  # nor was this one: the call before is the last again
    assert 299 <= turn(300) <= 300
    assert [limits.hit(NumberDay(3), "number") for _ in range(2)] == [None, None]
    assert 86399 <= (limits.hit(NumberDay(1), "number") or 0) <= 86400  # one a day: two today already
    assert limits.hit(NumberDay(3), "number") is None
    assert limits.hit(NumberDay(3), "number") is not None


def test_redis_down_counts_nothing_and_giving_back_is_only_logged(
    doomed_redis: DoomedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Counting refuses (503, so nothing is started); giving back is clean-up after a request's
    own answer, which it must not replace."""
    limits, three = Limits(doomed_redis.url), RateLimitItemPerMinute(3)
    assert limits.hit(three, "agent") is None
    doomed_redis.kill()
    with pytest.raises(AppError) as refused:
        limits.hit(three, "agent")
    error = refused.value
    assert (error.status_code, error.code, error.retry_after_s) == (503, "limits_unavailable", 5)
    with pytest.raises(AppError) as refused:
        limits.take_turn(NumberTurn(600), "number")  # our own script, mapped the same way
    assert (refused.value.status_code, refused.value.code) == (503, "limits_unavailable")
    caplog.clear()
    limits.give_back(three, "agent")
    assert [r.getMessage() for r in caplog.records] == ["limits: could not give a call back"]
    assert not limits.is_reachable()
