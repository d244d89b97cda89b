"""Ravan's ``call.completed`` webhook, sent by the Ravan fake over real HTTP to the app."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from flask import Flask

from tests.fakes import FakeServer, FakeState
from tests.fakes.ravan import call_completed_event, complete_session, send_call_completed
from tests.support.apps import app_state_of, post
from webapp.history.store import CallRecord

CATALOGUE = """
[agents.sales]
provider = "ravan"
agent_id = "{ravan}"
"""
TOKEN = "hook-" + "k" * 40
ORG = "org_fake"  # the Ravan fake's organization_id
MakeApp = Callable[..., Flask]


class Served:
    """The app served over HTTP, a call placed through it, and its webhook address."""

    def __init__(self, app: Flask, ravan: FakeState) -> None:
        self.app = app
        self.ravan = ravan
        self.server = FakeServer(app).start()
        self.hook = f"{self.server.url}/webhooks/ravan/{TOKEN}"
        self.session = post(app, {"agent": "sales"}).get_json()["call_id"]

    def record(self) -> CallRecord:
        """The placed call as the log has it now."""
        record = app_state_of(self.app).history.find(self.session)
        assert record is not None
        return record

    def send(self, body: Any, url: str | None = None, **options: Any) -> httpx.Response:
        """POST ``body`` (JSON, or raw bytes) once."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(url or self.hook, content=content, headers={"Content-Type": "application/json"},
                          timeout=5, **options)  # fmt: skip


@pytest.fixture
def served(make_app: MakeApp, ravan: Any, call_log_url: str) -> Iterator[Served]:
    """The app with webhooks on, on SQLite and on PostgreSQL."""
    app = make_app(WEBCALL_WEBHOOK_TOKEN=TOKEN, RAVAN_ORG_ID=ORG, WEBCALL_DATABASE_URL=call_log_url)
    served = Served(app, ravan[1])
    yield served
    served.server.stop()


def test_a_completed_call_is_applied_once(served: Served) -> None:
    complete_session(served.ravan, served.session, transcript=[("assistant", "Hi!"), ("user", "Bye.")])
    (answer,) = send_call_completed(served.ravan, served.session, served.hook)
    assert (answer.status_code, answer.json()) == (200, {"status": "applied"})
    record = served.record()
    assert (record.status, record.duration_s, record.summary) == (
        "completed",
        42,
        "The caller asked about pricing.",
    )
    assert [(line.role, line.text) for line in record.transcript or ()] == [
        ("agent", "Hi!"),
        ("user", "Bye."),
    ]
    assert record.outcome == "created" and record.agent == "sales"  # ours stays ours

    # Ravan sends it again (its retry, or a replay): acknowledged, nothing changes.
    changed = call_completed_event(served.ravan, served.session)
    changed["data"].update(status="failed", summary="something else")
    again = served.send(changed)
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert served.record() == record


def test_an_org_id_set_with_a_line_break_is_ours_all_the_same(make_app: MakeApp, ravan: Any) -> None:
    """``RAVAN_ORG_ID`` from a secret file (its last newline kept) refused every delivery as another
    org's, for good: Ravan's retries too."""
    served = Served(make_app(WEBCALL_WEBHOOK_TOKEN=TOKEN, RAVAN_ORG_ID=f"{ORG}\n"), ravan[1])
    try:
        complete_session(served.ravan, served.session)
        (answer,) = send_call_completed(served.ravan, served.session, served.hook)
        assert (answer.status_code, answer.json()) == (200, {"status": "applied"})
    finally:
        served.server.stop()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_webhook"),
        ([1, 2], 400, "invalid_webhook"),
        ({"org_id": ORG, "data": {"call_session_id": "x"}}, 400, "invalid_webhook"),  # no event
        ({"event": "call.completed", "data": {"call_session_id": "x"}}, 400, "invalid_webhook"),  # no org
        ({"event": "call.completed", "org_id": ORG, "data": "x"}, 400, "invalid_webhook"),
        ({"event": "call.completed", "org_id": ORG, "data": {"status": "completed"}}, 400, "invalid_webhook"),
        ({"event": "call.completed", "org_id": ORG, "data": {"call_session_id": 7}}, 400, "invalid_webhook"),
        ({"event": "call.completed", "org_id": "org_other", "data": {"call_session_id": "x"}}, 403,
         "wrong_org"),
        ({"event": "call.completed", "org_id": ORG + "\ud800", "data": {"call_session_id": "x"}}, 403,
         "wrong_org"),  # a lone surrogate: its comparison failed, an unhandled error
        ({"event": "call.completed", "org_id": ORG, "data": {"call_session_id": "sess-404"}}, 404,
         "unknown_call_session"),
    ],
)  # fmt: skip
def test_refusals_are_clear_and_change_nothing(served: Served, body: Any, status: int, code: str) -> None:
    before = served.record()
    answer = served.send(body)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    assert served.record() == before
    assert app_state_of(served.app).history.find("sess-404") is None


def test_a_session_id_too_long_is_said_so(served: Served) -> None:
    answer = served.send({"event": "call.completed", "org_id": ORG, "data": {"call_session_id": "s" * 256}})
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_webhook")
    assert answer.json()["error"]["message"] == "data.call_session_id is too long."


def test_another_orgs_event_is_refused_on_every_retry(served: Served) -> None:
    complete_session(served.ravan, served.session)
    answers = send_call_completed(served.ravan, served.session, served.hook, org_id="org_someone_else")
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert served.record().status == "created"


def test_a_wrong_token_is_refused_and_changes_nothing(served: Served) -> None:
    complete_session(served.ravan, served.session)
    body = call_completed_event(served.ravan, served.session)
    for url in (f"{served.server.url}/webhooks/ravan/{'x' * 45}", f"{served.hook}x", f"{served.hook[:-1]}"):
        answer = served.send(body, url)
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "invalid_webhook_token")
    assert served.record().status == "created"
    assert served.send(body, f"{served.server.url}/webhooks/ravan/").status_code == 404
    assert httpx.get(served.hook, timeout=5).status_code == 405


def test_other_events_are_acknowledged_and_ignored(served: Served) -> None:
    answer = served.send(
        {"event": "call.started", "org_id": ORG, "data": {"call_session_id": served.session}}
    )
    assert (answer.status_code, answer.json()) == (200, {"status": "ignored"})
    assert served.record().status == "created"


@pytest.mark.parametrize("odd", ["\x00", "\ud83d"], ids=["nul", "half-an-emoji"])
def test_an_odd_character_in_the_providers_texts_is_kept_as_a_replacement_character(
    served: Served, odd: str
) -> None:
    """PostgreSQL's text refuses NUL (SQLite keeps it), and half a surrogate pair (a text cut inside
    an emoji) is no UTF-8 at all: either delivery failed on every retry."""
    complete_session(served.ravan, served.session, transcript=[("assistant", f"Hi{odd}!"), ("user", "Bye.")])
    event = call_completed_event(served.ravan, served.session)
    event["data"]["summary"] = f"Asked about{odd} pricing."
    answer = served.send(event)
    assert (answer.status_code, answer.json()) == (200, {"status": "applied"})
    record = served.record()
    assert record.summary == "Asked about\ufffd pricing."
    assert [line.text for line in record.transcript or ()] == ["Hi\ufffd!", "Bye."]
    odd_session = {"event": "call.completed", "org_id": ORG, "data": {"call_session_id": f"sess{odd}x"}}
    unknown = served.send(odd_session)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_call_session")


def test_long_transcripts_fit_but_not_without_limit(served: Served) -> None:
    lines = [("user", "word " * 200)] * 40  # about 40 kB: more than a call request may be
    complete_session(served.ravan, served.session, transcript=lines)
    assert send_call_completed(served.ravan, served.session, served.hook)[0].status_code == 200
    assert len(served.record().transcript or ()) == 40
    huge = call_completed_event(served.ravan, served.session)
    huge["data"]["summary"] = "x" * (1024 * 1024)
    assert served.send(huge).status_code == 413


def test_webhooks_are_off_without_a_token(make_app: MakeApp, ravan: Any) -> None:
    app = make_app()
    body = {"event": "call.completed", "org_id": ORG, "data": {"call_session_id": "x"}}
    answer = app.test_client().post(f"/webhooks/ravan/{TOKEN}", json=body)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (404, "not_found")


def test_retells_endpoint_is_off_without_retell(make_app: MakeApp) -> None:
    """No Retell key: nothing checks a signature, and there is no endpoint."""
    app = make_app(RETELL_API_KEY="")
    assert "retell" not in app_state_of(app).settings.providers
    answer = app.test_client().post(
        "/webhooks/retell", json={"event": "call_ended", "call": {"call_id": "c"}}
    )
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (404, "not_found")


def test_a_call_log_outage_is_a_503_that_ravan_retries(make_app: MakeApp, ravan: Any) -> None:
    app = make_app(WEBCALL_WEBHOOK_TOKEN=TOKEN, RAVAN_ORG_ID=ORG)
    session = post(app, {"agent": "sales"}).get_json()["call_id"]
    complete_session(ravan[1], session)
    with app_state_of(app).history.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE webhook_deliveries"))
    answer = app.test_client().post(f"/webhooks/ravan/{TOKEN}", json=call_completed_event(ravan[1], session))
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (503, "call_log_unavailable")
    assert answer.headers["Retry-After"] == "30"
