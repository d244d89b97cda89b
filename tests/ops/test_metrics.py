"""``/metrics``: off without a token, refused without the right one, counting what happens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import Fault
from tests.support.apps import post

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.tiny]
provider = "livekit"
agent_id = "webcall-demo"
daily_budget = 1
"""
TOKEN = "metrics-token-0123456789abcdef"


def scrape(app: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, by name and labels."""
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """One sample's value (0 when it was never recorded)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_off_unless_a_token_is_set_and_refused_without_it(make_app: Any, tmp_path: Path) -> None:
    assert make_app().test_client().get("/metrics").status_code == 404
    app = make_app(WEBCALL_METRICS_TOKEN=TOKEN)
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
        refused = app.test_client().get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.get_json()["error"]["code"] == "metrics_token_required"


def test_counters_and_the_provider_histogram_move(make_app: Any, ravan: Any) -> None:
    app = make_app(WEBCALL_METRICS_TOKEN=TOKEN)
    before = scrape(app)
    ravan[1].faults.append(Fault("status", status=401, body={"success": False}))
    codes = [post(app, {"agent": "ravan"}).status_code for _ in range(3)]  # 502, then two 201s
    codes += [post(app, {"agent": "tiny"}).status_code for _ in range(2)]  # 201, then the budget
    assert codes == [502, 201, 201, 201, 429]
    after = scrape(app)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    calls = "webcall_calls_total"
    assert moved(calls, agent="ravan", provider="ravan", channel="web", outcome="created", code="") == 2
    assert moved(calls, agent="ravan", provider="ravan", channel="web", outcome="failed",
                 code="provider_auth_failed") == 1  # fmt: skip
    assert moved(calls, agent="tiny", provider="livekit", channel="web", outcome="created", code="") == 1
    assert moved("webcall_limit_refusals_total", kind="daily_budget_exhausted") == 1
    histogram = "webcall_provider_request_seconds_count"
    assert moved(histogram, provider="ravan", operation="create_call", outcome="ok") == 2
    assert moved(histogram, provider="ravan", operation="create_call", outcome="provider_auth_failed") == 1
    assert value(after, "webcall_call_creates_in_progress", channel="web") == 0
