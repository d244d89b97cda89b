"""``/metrics``: off without a token, refused without the right one, counting what happens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import Fault
from tests.fakes.ravan import call_completed_event, complete_session
from tests.fakes.receiver import SECRET as RECEIVER_SECRET
from tests.support.apps import HOSTED_AGENTS, post
from tests.support.services import PostgresServer
from webapp.ops.metrics import SCRAPE_READ_S

CATALOGUE = (
    HOSTED_AGENTS
    + """
[agents.tiny]
provider = "livekit"
agent_id = "webcall-demo"
daily_budget = 1
"""
)
TOKEN = "metrics-token-0123456789abcdef"


def scrape(app: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, by name and labels."""
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.headers["Content-Type"] == CONTENT_TYPE_LATEST
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
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="webcall metrics"'


def test_every_providers_web_call_is_timed_as_a_create(make_app: Any) -> None:
    """A dashboard of create_call had no ElevenLabs series: its token request (a GET) was timed
    as operation="get", beside the history sync's reads."""
    app = make_app(WEBCALL_METRICS_TOKEN=TOKEN)
    before = scrape(app)
    providers = ("ravan", "zudu", "convoi", "retell", "elevenlabs")
    assert [post(app, {"agent": provider}).status_code for provider in providers] == [201] * 5
    after = scrape(app)
    histogram = "webcall_provider_request_seconds_count"
    for provider in providers:
        labels = {"provider": provider, "operation": "create_call", "outcome": "ok"}
        assert value(after, histogram, **labels) - value(before, histogram, **labels) == 1, provider


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
    # self-hosted LiveKit asks no one (the token is minted here), and its calls are timed too
    assert moved(histogram, provider="livekit", operation="create_call", outcome="ok") == 1
    assert value(after, "webcall_call_creates_in_progress", channel="web") == 0
    assert moved("webcall_calls_in_progress") == 3  # the call log's live calls: the three created


def test_webhook_and_history_sync_outcomes_are_counted(make_app: Any, ravan: Any) -> None:
    hook_token = "hook-" + "k" * 40
    app = make_app(WEBCALL_METRICS_TOKEN=TOKEN, WEBCALL_WEBHOOK_TOKEN=hook_token, RAVAN_ORG_ID="org_fake")
    before = scrape(app)
    session = post(app, {"agent": "ravan"}).get_json()["call_id"]
    complete_session(ravan[1], session)
    event, client, hook = (
        call_completed_event(ravan[1], session),
        app.test_client(),
        f"/webhooks/ravan/{hook_token}",
    )
    answers = [
        client.post(hook, json=event),  # applied
        client.post(hook, json=event),  # a repeat
        client.post(hook, json={**event, "event": "call.started"}),  # not ours to apply
        client.post(hook, json={**event, "org_id": "org_someone_else"}),
        client.post("/webhooks/ravan/not-the-token", json=event),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 403, 403]
    assert app.test_cli_runner().invoke(args=["history", "sync", "--provider", "ravan"]).exit_code == 0
    after = scrape(app)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    for outcome in ("applied", "duplicate", "ignored", "wrong_org", "invalid_webhook_token"):
        assert moved("webcall_webhooks_total", provider="ravan", outcome=outcome) == 1, outcome
    assert moved("webcall_history_sync_calls_total", provider="ravan", outcome="listed") >= 1
    assert moved("webcall_history_sync_calls_total", provider="ravan", outcome="stopped") == 0
    assert not any(name.endswith("_created") for name, _ in after)  # no timestamp series beside counts


def test_a_scrape_does_not_wait_for_a_call_log_that_does_not_answer(
    make_app: Any, postgres: PostgresServer
) -> None:
    """A call log that does not answer (its table locked by a migration, a database under load)
    held /metrics for the engine's 10 s statement timeout, past a scraper's usual 10 s for the
    whole scrape: every metric was lost just when it was wanted. The log's reads give up after
    SCRAPE_READ_S, and the scrape answers without the gauges they could not read."""
    url = postgres.create_database(migrated=True)
    app = make_app(
        WEBCALL_METRICS_TOKEN=TOKEN, WEBCALL_DATABASE_URL=url,
        WEBCALL_EVENTS_URL="http://127.0.0.1:9/", WEBCALL_EVENTS_SECRET=RECEIVER_SECRET,
    )  # fmt: skip
    live, pending = ("webcall_calls_in_progress", ()), ("webcall_events_pending", ())
    assert post(app, {"agent": "tiny"}).status_code == 201
    samples = scrape(app)
    assert samples[live] == 1 and pending in samples
    for table in ("calls", "call_events"):
        with psycopg.connect(url) as locker:
            locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            samples = scrape(app)
            waited_s = time.monotonic() - started
        assert SCRAPE_READ_S <= waited_s < SCRAPE_READ_S + 3, (table, waited_s)
        assert (live in samples, pending in samples) == (table != "calls", False), table
        created = {"agent": "tiny", "provider": "livekit", "channel": "web", "outcome": "created", "code": ""}
        assert value(samples, "webcall_calls_total", **created) >= 1  # the rest of the scrape is there
    assert scrape(app)[live] == 1  # and back once the log answers
