"""``POST /api/calls/<call_id>/feedback``: a caller rates the web call they made, and only that one."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from prometheus_client import REGISTRY

from tests.support.apps import app_state_of, page_config, post
from webapp.history.schema import calls
from webapp.history.store import CallQuery, CallRecord

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"
feedback = true
allowed_origins = ["https://shop.example"]

[agents.quiet]
provider = "livekit"
agent_id = "webcall-demo"

[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
feedback = true
"""


@pytest.fixture
def app(make_app: Any, call_log_url: str) -> Flask:
    """The app with its call log on SQLite, then on PostgreSQL."""
    return make_app(WEBCALL_DATABASE_URL=call_log_url)


def rate(app: Flask, url: str, body: Any, **headers: str) -> Any:
    """POST feedback to a call's ``feedback_url``."""
    return app.test_client().post(url, json=body, headers=headers)


def record_of(app: Flask, call_id: str) -> CallRecord:
    """The call as the log keeps it, by our id."""
    record = app_state_of(app).history.find(call_id, ours_only=True)
    assert record is not None
    return record


def new_call(app: Flask, agent: str = "ravan") -> tuple[str, str]:
    """A web call with ``agent``: its feedback address and our id for it."""
    answer = post(app, {"agent": agent})
    assert answer.status_code == 201
    url = answer.get_json()["feedback_url"]
    match = re.fullmatch(r"/api/calls/(wc_[0-9a-f]{20})/feedback", url)
    assert match, url
    return url, match.group(1)


def records(app: Flask) -> list[CallRecord]:
    """Every record in the app's log, newest first."""
    return app_state_of(app).history.search(CallQuery(page_size=100))[0]


def counted(agent: str, rating: str) -> float:
    """``webcall_call_feedback_total`` for one agent and rating."""
    return REGISTRY.get_sample_value("webcall_call_feedback_total", {"agent": agent, "rating": rating}) or 0.0


def test_the_address_comes_with_each_call_of_an_agent_that_asks(app: Flask) -> None:
    url, call_id = new_call(app)
    record = record_of(app, call_id)
    assert record.agent == "ravan" and record.provider_call_id != call_id  # ours, not the provider's id
    assert "feedback_url" not in post(app, {"agent": "quiet"}).get_json()
    # A retry answered with the first call has the same address.
    key = {"Idempotency-Key": "feedback-double-click"}
    first, second = post(app, {"agent": "local"}, **key), post(app, {"agent": "local"}, **key)
    assert first.get_json()["feedback_url"] == second.get_json()["feedback_url"]


def test_a_rating_then_a_comment_then_a_change_of_mind(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    url, call_id = new_call(app)
    before = counted("ravan", "good"), counted("ravan", "bad")
    caplog.set_level(logging.INFO)

    answer = rate(app, url, {"rating": "good"})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert (body["call_id"], body["rating"], body["comment"]) == (call_id, "good", None)
    assert body["at"].endswith("Z")
    record = record_of(app, call_id)
    assert (record.feedback_rating, record.feedback_comment) == ("good", None)
    assert record.feedback_at is not None and record.feedback_at.isoformat().startswith(body["at"][:19])

    comment = "  The agent knew our return policy.\nBut it spoke a bit fast.  "
    answer = rate(app, url, {"rating": "good", "comment": comment})
    assert answer.get_json()["comment"] == comment.strip()
    # A thumb changed later keeps the comment given before.
    answer = rate(app, url, {"rating": "bad"})
    assert answer.get_json()["comment"] == comment.strip()
    record = record_of(app, call_id)
    assert (record.feedback_rating, record.feedback_comment) == ("bad", comment.strip())
    # An empty comment takes it back.
    assert rate(app, url, {"rating": "bad", "comment": " "}).get_json()["comment"] is None
    assert record_of(app, call_id).feedback_comment is None

    # Counted once a rating, not again with the comment sent after it (the page sends both).
    assert (counted("ravan", "good") - before[0], counted("ravan", "bad") - before[1]) == (1, 1)
    logged = [r for r in caplog.records if r.getMessage() == "call feedback"]
    assert [(r.call_id, r.rating, r.comment) for r in logged] == [  # type: ignore[attr-defined]
        (call_id, "good", False), (call_id, "good", True), (call_id, "bad", True), (call_id, "bad", False),
    ]  # fmt: skip
    # The caller's words stay in the call log: no log line holds them.
    assert not any(
        "return policy" in r.getMessage() or "return policy" in str(r.__dict__) for r in caplog.records
    )


def test_only_our_id_of_a_call_made_here_finds_it(app: Flask) -> None:
    url, call_id = new_call(app)
    provider_call_id = record_of(app, call_id).provider_call_id
    for other in (f"/api/calls/{provider_call_id}/feedback", "/api/calls/wc_00000000000000000000/feedback"):
        answer = rate(app, other, {"rating": "good"})
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (404, "unknown_call")
    # A refused request is on record too, but it was never a call.
    refused = post(app, {"agent": "ravan"}, Origin="https://elsewhere.example")
    assert refused.status_code == 403
    (failed,) = [r for r in records(app) if r.outcome == "origin_not_allowed"]
    answer = rate(app, f"/api/calls/{failed.call_id}/feedback", {"rating": "good"})
    assert answer.get_json()["error"]["code"] == "unknown_call"
    assert record_of(app, call_id).feedback_rating is None


def test_an_agent_that_does_not_ask_takes_none(app: Flask) -> None:
    answer = post(app, {"agent": "quiet"})
    (record,) = [r for r in records(app) if r.agent == "quiet"]
    assert record.provider_call_id == answer.get_json()["call_id"]
    answer = rate(app, f"/api/calls/{record.call_id}/feedback", {"rating": "good"})
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (403, "feedback_not_asked")


def test_from_another_site_only_the_agents_own(app: Flask) -> None:
    url, call_id = new_call(app)
    answer = rate(app, url, {"rating": "good"}, Origin="https://evil.example")
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert record_of(app, call_id).feedback_rating is None
    answer = rate(app, url, {"rating": "good"}, Origin="https://shop.example")
    assert (
        answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    )
    preflight = app.test_client().options(
        url, headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]


def test_a_day_after_the_call_it_is_closed(app: Flask) -> None:
    url, call_id = new_call(app)
    created = record_of(app, call_id).created_at
    with app_state_of(app).history.engine.begin() as connection:
        connection.execute(
            calls.update()
            .where(calls.c.call_id == call_id)
            .values(created_at=created - timedelta(days=1, seconds=1))
        )
    answer = rate(app, url, {"rating": "bad"})
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (410, "feedback_closed")
    assert record_of(app, call_id).feedback_rating is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_field"),
        ({"rating": "meh"}, "invalid_field"),
        ({"rating": 1}, "invalid_field"),
        ({"rating": "good", "comment": "x" * 1001}, "invalid_field"),
        ({"rating": "good", "comment": "bell\x07"}, "invalid_field"),
        ({"rating": "good", "comment": "reversed \u202e text"}, "invalid_field"),
        ({"rating": "good", "comment": 5}, "invalid_field"),
        ({"rating": "good", "stars": 5}, "unknown_field"),
        ([], "invalid_body"),
    ],
)
def test_a_body_that_is_not_feedback_is_a_400(app: Flask, body: Any, code: str) -> None:
    url, call_id = new_call(app)
    answer = rate(app, url, body)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (400, code)
    assert record_of(app, call_id).feedback_rating is None


def test_a_comment_may_take_a_thousand_characters_on_several_lines(app: Flask) -> None:
    url, call_id = new_call(app)
    comment = "Line one.\r\n\tLine two. " + "é" * 978
    assert len(comment) == 1000
    assert rate(app, url, {"rating": "good", "comment": comment}).status_code == 200
    assert record_of(app, call_id).feedback_comment == comment
    # Counted as kept: the spaces and line breaks around it are not the caller's words.
    assert rate(app, url, {"rating": "bad", "comment": f"  {'x' * 1000}\n "}).status_code == 200
    assert record_of(app, call_id).feedback_comment == "x" * 1000
    too_long = rate(app, url, {"rating": "bad", "comment": "x" * 1001}).get_json()["error"]["message"]
    assert too_long == "comment must be text of at most 1000 characters (line breaks allowed)."


def test_a_client_is_limited(app: Flask) -> None:
    url, _ = new_call(app)
    answers = [rate(app, url, {"rating": "good"}) for _ in range(31)]
    assert [a.status_code for a in answers] == [200] * 30 + [429]
    assert (
        answers[-1].get_json()["error"]["code"] == "rate_limited"
        and int(answers[-1].headers["Retry-After"]) > 0
    )


def test_while_the_call_log_is_down_it_is_a_503(app: Flask) -> None:
    url, _ = new_call(app)
    with app_state_of(app).history.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE calls"))
    answer = rate(app, url, {"rating": "good"})
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (503, "call_log_unavailable")
    assert answer.headers["Retry-After"] == "5"


def test_the_page_of_an_agent_that_asks_has_the_question_and_the_others_do_not(app: Flask) -> None:
    client = app.test_client()
    asks, quiet = (client.get(f"/talk/{slug}").get_data(as_text=True) for slug in ("ravan", "quiet"))
    assert page_config(asks)["feedback"] is True and page_config(quiet)["feedback"] is False
    assert '<form id="feedback" class="feedback" aria-labelledby="feedback-title" hidden>' in asks
    assert 'id="feedback"' not in quiet and "How was your call?" not in quiet
    spanish = client.get("/talk/ravan?lang=es").get_data(as_text=True)
    assert "¿Qué tal la llamada?" in spanish and "How was your call?" not in spanish
