"""The limits a phone callback passes: the agent's and the number's, counted together or not at all.

A request refused by one of them (the agent's per-minute cap or daily budget, the number's
cooldown or daily cap) takes nothing from the others; only a call put to the provider is
counted. Each test runs on the in-process windows and on a real Redis, as a deployment would.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from tests.fakes import Fault
from tests.support.apps import FAKE_AGENT_IDS, build_app, provider_env

NUMBER, OTHER, THIRD = "+14155552671", "+14155552672", "+14155552673"
SECRET_KEY = "k" * 40
CATALOGUE = """
[agents.tiny]
provider = "ravan"
agent_id = "{ravan}"
daily_budget = 2
[agents.tiny.phone]
enabled = true
allowed_countries = ["US"]
from_number = "+14157774444"
bot_check = false
cooldown_s = 600

[agents.brisk]
provider = "ravan"
agent_id = "{ravan}"
calls_per_minute = 2
[agents.brisk.phone]
enabled = true
allowed_countries = ["US"]
from_number = "+14157774444"
bot_check = false
cooldown_s = 0
daily_cap_per_number = 1

[agents.single]
provider = "ravan"
agent_id = "{ravan}"
calls_per_minute = 1
[agents.single.phone]
enabled = true
allowed_countries = ["US"]
from_number = "+14157774444"
bot_check = false
cooldown_s = 600

[agents.hasty]
provider = "ravan"
agent_id = "{ravan}"
[agents.hasty.phone]
enabled = true
allowed_countries = ["US"]
from_number = "+14157774444"
bot_check = false
cooldown_s = 300
daily_cap_per_number = 2

[agents.roomy]
provider = "ravan"
agent_id = "{ravan}"
[agents.roomy.phone]
enabled = true
allowed_countries = ["US"]
from_number = "+14157774444"
bot_check = false
cooldown_s = 0
"""


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request: pytest.FixtureRequest) -> str:
    """Where the limits count: this process, or a Redis that several workers share (emptied first)."""
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    return url


def make_app(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, storage_uri: str, secret_key: str = SECRET_KEY
) -> Flask:
    """An app instance (a worker) on the Ravan fake, counting its limits in ``storage_uri``."""
    env = {
        **provider_env(ravan[0].url, zudu[0].url, convoi[0].url),
        "WEBCALL_RATE_LIMITS": "1000/minute",
        "WEBCALL_SECRET_KEY": secret_key,
        "WEBCALL_RATELIMIT_STORAGE_URI": storage_uri,
    }
    return build_app(tmp_path, CATALOGUE.format(**FAKE_AGENT_IDS), **env)


@pytest.fixture
def app(tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, storage_uri: str) -> Flask:
    """One worker."""
    return make_app(tmp_path, ravan, zudu, convoi, storage_uri)


def ask(app: Flask, agent: str, number: str) -> tuple[int, str | None]:
    """POST a callback request with consent; its status and error code."""
    answer = app.test_client().post("/api/phone-calls", json={"agent": agent, "phone_number": number,
                                                                "consent": True})  # fmt: skip
    body = answer.get_json()
    return answer.status_code, body["error"]["code"] if answer.status_code >= 400 else None


def dialled(ravan: Any) -> list[str]:
    """The numbers the provider was asked to call, in order."""
    return [r.json["to_phone_number"] for r in ravan[1].requests if isinstance(r.json, dict)]


def test_a_number_in_its_cooldown_takes_nothing_of_the_agents_daily_budget(app: Flask, ravan: Any) -> None:
    """The audit's case: hammering one number inside its cooldown used to drain the agent's budget."""
    assert [ask(app, "tiny", NUMBER), ask(app, "tiny", NUMBER), ask(app, "tiny", OTHER)] == [
        (202, None),
        (429, "number_cooldown"),
        (202, None),
    ]
    assert ask(app, "tiny", THIRD) == (429, "daily_budget_exhausted")  # two calls placed: the budget is 2
    assert dialled(ravan) == [NUMBER, OTHER]


def test_a_number_past_its_daily_cap_takes_nothing_of_the_agents_per_minute_cap(
    app: Flask, ravan: Any
) -> None:
    answers = [ask(app, "brisk", NUMBER) for _ in range(3)]  # one call a day to a number
    assert answers == [(202, None), (429, "number_daily_cap"), (429, "number_daily_cap")]
    assert ask(app, "brisk", OTHER) == (202, None)  # the agent's second call this minute
    assert ask(app, "brisk", THIRD) == (429, "agent_busy")  # and its cap is 2
    assert dialled(ravan) == [NUMBER, OTHER]


def test_a_call_the_agents_limits_refuse_leaves_the_number_its_turn(app: Flask, ravan: Any) -> None:
    """The agent's limits are counted first, so a refusal by them never touches the number's cooldown."""
    assert [ask(app, "single", NUMBER), ask(app, "single", OTHER)] == [(202, None), (429, "agent_busy")]
    # Another agent with the same cooldown finds the second number free (a minute is too long
    # to wait for this agent's cap), the first one not.
    assert [ask(app, "tiny", OTHER), ask(app, "tiny", NUMBER)] == [(202, None), (429, "number_cooldown")]
    assert dialled(ravan) == [NUMBER, OTHER]


def test_a_numbers_cooldown_holds_whichever_agent_calls_it(app: Flask, ravan: Any) -> None:
    """Issue 12: cooldown_s is per destination; a second agent does not start a second one."""
    assert ask(app, "tiny", NUMBER) == (202, None)
    assert ask(app, "single", NUMBER) == (429, "number_cooldown")
    assert ask(app, "single", OTHER) == (202, None)
    assert dialled(ravan) == [NUMBER, OTHER]


def test_agents_with_other_cooldowns_and_caps_count_a_number_together(app: Flask, ravan: Any) -> None:
    """Each agent checks every call to the number against its own cooldown and daily cap."""
    assert ask(app, "tiny", NUMBER) == (202, None)  # a cooldown of 600 s
    assert ask(app, "hasty", NUMBER) == (429, "number_cooldown")  # one of 300 s: a call 300 s ago at most
    assert ask(app, "brisk", NUMBER) == (429, "number_daily_cap")  # no cooldown, one call a day
    assert ask(app, "hasty", OTHER) == (202, None)
    assert ask(app, "tiny", OTHER) == (429, "number_cooldown")  # the shorter cooldown's call holds the longer
    assert dialled(ravan) == [NUMBER, OTHER]


def test_a_numbers_calls_today_count_against_every_agents_cap(app: Flask, ravan: Any) -> None:
    assert [ask(app, "roomy", NUMBER), ask(app, "roomy", NUMBER)] == [(202, None)] * 2  # no cooldown, 3 a day
    assert ask(app, "brisk", NUMBER) == (429, "number_daily_cap")  # one a day: the number had two
    assert [ask(app, "roomy", NUMBER), ask(app, "roomy", NUMBER)] == [(202, None), (429, "number_daily_cap")]
    # An agent without a cooldown still makes the number's last call: the others wait for it.
    assert [ask(app, "brisk", OTHER), ask(app, "hasty", OTHER)] == [(202, None), (429, "number_cooldown")]
    assert dialled(ravan) == [NUMBER] * 3 + [OTHER]


def test_a_call_the_provider_refused_gives_the_number_its_turn_back_for_every_agent(
    app: Flask, ravan: Any
) -> None:
    """Nothing was dialled, so no cooldown for anyone; the daily cap still counts the attempt."""
    ravan[1].faults.append(Fault("status", status=400, body={"success": False, "message": "no credit"}))
    assert ask(app, "tiny", NUMBER) == (502, "provider_error")
    assert ask(app, "hasty", NUMBER) == (202, None)
    assert ask(app, "tiny", NUMBER) == (429, "number_cooldown")
    assert ask(app, "brisk", NUMBER) == (429, "number_daily_cap")


def test_concurrent_requests_from_several_workers_place_one_call_within_a_limit_of_one(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, storage_uri: str
) -> None:
    """Each limit is taken in one step where it is stored: two workers never both get its last place,
    and what the refused requests counted on the way is given back."""
    count = 1 if storage_uri == "memory://" else 2  # in-process windows are shared by threads only
    workers = []
    for n in range(count):
        (tmp_path / f"worker{n}").mkdir()
        workers.append(make_app(tmp_path / f"worker{n}", ravan, zudu, convoi, storage_uri))
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda n: ask(workers[n % count], "tiny", NUMBER), range(8)))
    assert answers.count((202, None)) == 1, answers
    # The others: the number's cooldown, or (for a moment, while one gives back) the agent's budget.
    refusals = {code for status, code in answers if status != 202}
    assert refusals <= {"number_cooldown", "daily_budget_exhausted"}
    assert dialled(ravan) == [NUMBER]
    # The refused requests gave back what they had counted: the agent has one call of its 2 left.
    assert ask(workers[0], "tiny", OTHER) == (202, None)
    assert ask(workers[-1], "tiny", THIRD) == (429, "daily_budget_exhausted")


def test_workers_without_a_secret_key_count_a_number_together(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, redis_url: str
) -> None:
    """WEBCALL_SECRET_KEY unset: each process signs with a random key of its own, but a number is
    keyed alike in every one (from the providers' credentials, which they share), so a second
    worker or host does not start the number's cooldown and daily cap afresh."""
    redis.Redis.from_url(redis_url).flushdb()
    workers = []
    for n in range(2):
        (tmp_path / f"worker{n}").mkdir()
        workers.append(make_app(tmp_path / f"worker{n}", ravan, zudu, convoi, redis_url, secret_key=""))
    assert workers[0].config["SECRET_KEY"] != workers[1].config["SECRET_KEY"]
    assert ask(workers[0], "hasty", NUMBER) == (202, None)
    assert ask(workers[1], "hasty", NUMBER) == (429, "number_cooldown")
    assert ask(workers[1], "brisk", OTHER) == (202, None)
    assert ask(workers[0], "brisk", OTHER) == (429, "number_daily_cap")
    assert dialled(ravan) == [NUMBER, OTHER]
    # Nothing in Redis names a number.
    keys = b" ".join(redis.Redis.from_url(redis_url).keys("*"))
    assert NUMBER[1:].encode() not in keys and OTHER[1:].encode() not in keys
