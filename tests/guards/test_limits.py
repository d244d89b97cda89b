"""How often: per client, for all clients together, and what one agent may spend."""

from __future__ import annotations

from typing import Any

from tests.support.apps import codes, post

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
