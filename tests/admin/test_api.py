"""The admin JSON API: bearer token, filters, paging, one call with its transcript."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.admin.conftest import CATALOGUE, TOKEN  # noqa: F401  (CATALOGUE: make_app reads it here)
from tests.guards.conftest import DoomedRedis
from tests.support.apps import app_state_of, codes
from webapp.history.store import CallAttempt

AUTH = {"Authorization": f"Bearer {TOKEN}"}
LISTED = {
    "call_id", "provider_call_id", "agent", "provider", "channel", "status", "outcome", "started_at",
    "ended_at", "duration_s", "cost", "currency", "summary", "origin", "room", "created_at", "request_id",
    "phone_number", "feedback_rating", "feedback_comment", "feedback_at", "demo_link_id", "demo_link_label",
}  # fmt: skip


def get(app: Flask, path: str, **headers: str) -> Any:
    """GET ``path`` with the admin token (unless other headers are given)."""
    return app.test_client().get(path, headers=headers or AUTH)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": TOKEN},
    ],
)
def test_every_request_needs_the_token(app: tuple[Flask, dict[str, str]], headers: dict[str, str]) -> None:
    flask_app, ids = app
    for path in ("/api/admin/calls", f"/api/admin/calls/{ids['pricing']}", "/api/admin/calls/nope"):
        answer = flask_app.test_client().get(path, headers=headers)
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (401, "admin_token_required")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "calls" not in answer.get_json()


def test_wrong_tokens_are_limited_per_client_and_logged_as_passwords_are(
    admin_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    """Guesses at the token were unlimited and left no trace (sign-in takes 5 a minute, and logs
    each wrong password)."""
    flask_app = admin_app()
    near_misses = [f"Bearer {TOKEN[:-1]}{n}" for n in range(5)]
    with caplog.at_level(logging.WARNING, logger="webapp.admin.auth"):
        refused = [get(flask_app, "/api/admin/calls", Authorization=guess) for guess in near_misses]
    assert codes(refused) == ["admin_token_required"] * 5
    logged = [record for record in caplog.records if record.name == "webapp.admin.auth"]
    assert [record.getMessage() for record in logged] == ["admin: an API request with a wrong token"] * 5
    assert all(record.levelno == logging.WARNING for record in logged)
    assert not any(TOKEN[:-1] in str(vars(record)) for record in logged)  # no guess, nor the token
    # Past the limit this client waits, with the right token too (as with the right password).
    for path in ("/api/admin/calls", "/api/admin/calls/wc_nope"):
        for headers in ({"Authorization": "Bearer one-more-guess"}, AUTH):
            limited = get(flask_app, path, **headers)
            assert (limited.status_code, limited.get_json()["error"]["code"]) == (429, "rate_limited")
            assert 0 < int(limited.headers["Retry-After"]) <= 60
    # A request without a token guesses nothing: refused as ever. Another client is not held back.
    assert get(flask_app, "/api/admin/calls", Accept="application/json").status_code == 401
    elsewhere = flask_app.test_client().get("/api/admin/calls", headers=AUTH,
                                            environ_base={"REMOTE_ADDR": "198.51.100.7"})  # fmt: skip
    assert elsewhere.status_code == 200


def test_while_the_limits_storage_is_down_the_token_is_a_503(
    admin_app: Callable[..., Flask], doomed_redis: DoomedRedis
) -> None:
    """Wrong tokens are counted where the limits are (Redis): while it cannot be reached nobody
    is let in, as nobody signs in (not a 500)."""
    flask_app = admin_app(WEBCALL_RATELIMIT_STORAGE_URI=doomed_redis.url)
    assert get(flask_app, "/api/admin/calls").status_code == 200
    doomed_redis.kill()
    for headers in (AUTH, {"Authorization": "Bearer a-guess"}):
        answer = get(flask_app, "/api/admin/calls", **headers)
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (503, "limits_unavailable")
        assert int(answer.headers["Retry-After"]) >= 1


def test_without_a_configured_token_nobody_gets_in(admin_app: Callable[..., Flask]) -> None:
    flask_app = admin_app(WEBCALL_ADMIN_TOKEN=None)
    assert get(flask_app, "/api/admin/calls").status_code == 401
    assert get(flask_app, "/api/admin/calls", Authorization="Bearer ").status_code == 401


def test_the_list_is_newest_first_with_every_documented_field(app: tuple[Flask, dict[str, str]]) -> None:
    flask_app, ids = app
    answer = get(flask_app, "/api/admin/calls")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert (body["page"], body["page_size"], body["total"]) == (1, 50, 5)
    assert [c["call_id"] for c in body["calls"]] == [
        ids[k] for k in ("phone", "formula", "support", "refused", "pricing")
    ]
    assert all(set(call) == LISTED for call in body["calls"])
    pricing = body["calls"][-1]
    assert pricing == {
        "call_id": ids["pricing"], "provider_call_id": "sess-pricing", "agent": "sales", "provider": "ravan",
        "channel": "web", "status": "completed", "outcome": "created", "started_at": "2026-03-01T09:00:03Z",
        "ended_at": "2026-03-01T09:01:38Z", "duration_s": 95.0, "cost": 0.35, "currency": "USD",
        "summary": "Asked about the <b>pro</b> plan's price.", "origin": "https://shop.example",
        "room": "room-1", "created_at": "2026-03-01T09:00:00Z", "request_id": None, "phone_number": None,
        "feedback_rating": None, "feedback_comment": None, "feedback_at": None, "demo_link_id": None,
        "demo_link_label": None,
    }  # fmt: skip
    support = body["calls"][2]
    assert (support["feedback_rating"], support["feedback_comment"], support["feedback_at"]) == (
        "good", "It knew the <i>return</i> policy.", "2026-03-01T11:05:00Z",
    )  # fmt: skip
    refused = body["calls"][-2]
    assert (refused["status"], refused["outcome"], refused["provider_call_id"]) == (
        "failed", "provider_timeout", None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("agent=sales", ["phone", "refused", "pricing"]),
        ("provider=ravan&status=completed", ["formula", "pricing"]),
        ("status=failed", ["refused"]),
        ("channel=phone", ["phone"]),
        ("since=2026-03-01T10:00:00Z&until=2026-03-01T12:00:00Z", ["support", "refused"]),
        ("since=2026-03-01T12:00:00%2B01:00", ["phone", "formula", "support"]),  # another zone than UTC
        ("since=2026-03-01T12:00:00+01:00", ["phone", "formula", "support"]),  # the same, "+" unencoded
        ("agent=&provider=&status=failed&channel=&since=&until=&q=&page=&page_size=", ["refused"]),  # blanks
        ("status=failed&_=1732970000", ["refused"]),  # a cache-buster
        ("until=2026-03-01", ["phone", "formula", "support", "refused", "pricing"]),  # the whole day
        ("until=2026-02-28", []),
        ("q=PRO+PLAN", ["pricing"]),  # summary and transcript, whatever the case
        ("q=provider_timeout", ["refused"]),
        ("q=sess-support", ["support"]),
        ("feedback=good", ["support"]),
        ("feedback=bad", []),
        ("q=RETURN", ["support"]),  # the caller's comment
        ("page=2&page_size=2", ["support", "refused"]),
        ("page=4&page_size=2", []),
    ],
)
def test_filters(app: tuple[Flask, dict[str, str]], query: str, expected: list[str]) -> None:
    flask_app, ids = app
    body = get(flask_app, f"/api/admin/calls?{query}").get_json()
    assert [c["call_id"] for c in body["calls"]] == [ids[k] for k in expected]
    if "page=" not in query:
        assert body["total"] == len(expected)


@pytest.mark.parametrize(
    "query",
    [
        "status=done", "channel=fax", "provider=acme", "agent=Not+A+Slug", "since=yesterday",
        "until=2026-13-01", "page=0", "page=x", "page_size=201", "page_size=1.5", "q=" + "x" * 201,
        "q=%00", "colour=red", "feedback=meh", "since=2026-03-01T12:60:00",  # minute 60 is no leap second
        "status=completed&status=failed", "agent=sales&agent=support",  # one value: not "either"
    ],
)  # fmt: skip
def test_bad_filters_are_400_with_a_stable_code(app: tuple[Flask, dict[str, str]], query: str) -> None:
    answer = get(app[0], f"/api/admin/calls?{query}")
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (400, "invalid_query")


def test_a_filter_given_twice_is_refused_not_read_as_its_first_value(
    app: tuple[Flask, dict[str, str]],
) -> None:
    """``?status=completed&status=failed`` listed the completed calls only, with a total a script
    took for both; the summary added up the first agent's alone."""
    for path in ("/api/admin/calls", "/api/admin/summary"):
        answer = get(app[0], f"{path}?status=completed&status=failed&agent=")
        error = answer.get_json()["error"]
        assert (answer.status_code, error["code"], error["message"]) == (
            400, "invalid_query", "status is given more than once: give it once.",
        ), path  # fmt: skip
    assert get(app[0], "/api/admin/calls?status=completed&status=").status_code == 200  # a blank: any


def test_a_date_that_is_none_is_told_how_to_write_one(app: tuple[Flask, dict[str, str]]) -> None:
    """Not Python's "Invalid isoformat string: 'GARBAGE'" (the value echoed, upper-cased)."""
    answer = get(app[0], "/api/admin/calls?since=garbage")
    message = answer.get_json()["error"]["message"]
    assert (
        message == "since is not valid: must be a date or a date and time, like 2026-03-01 or "
        "2026-03-01T12:00:00Z."
    )


def test_every_form_of_an_until_date_includes_that_whole_day(app: tuple[Flask, dict[str, str]]) -> None:
    """A date as ISO 8601 writes it, in any form: 20260301 and 2026-W09-7 were taken as midnight."""
    flask_app, ids = app
    last_moment = datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)  # left out by "until 23:59:59.999999"
    late = app_state_of(flask_app).history.record_failed(
        CallAttempt("sales", "ravan", received_at=last_moment), "provider_timeout"
    )
    that_day = [late] + [ids[k] for k in ("phone", "formula", "support", "refused", "pricing")]
    # A week without its day (Monday 2026-02-23 to Sunday 2026-03-01) covered its Monday only.
    for until in ("2026-03-01", "20260301", "2026-W09-7", "2026W097", "2026-W09", "2026W09"):
        body = get(flask_app, f"/api/admin/calls?until={until}").get_json()
        assert [c["call_id"] for c in body["calls"]] == that_day, until
    for since in ("2026-03-02", "20260302", "2026-W10-1", "2026-W10"):
        assert get(flask_app, f"/api/admin/calls?since={since}").get_json()["total"] == 0, since
    # A leap second is the second before it, so nothing is lost; after a space as after a "T"
    # (refused there, while 23:59:59 was taken).
    for leap_second in ("2026-03-01T23:59:60Z", "2026-03-01%2023:59:60Z", "20260301T235960Z"):
        leap = get(flask_app, f"/api/admin/calls?since={leap_second}").get_json()
        assert [c["call_id"] for c in leap["calls"]] == [late], leap_second


@pytest.mark.parametrize("until", ["9999-W52", "9999W52", "9999-W52-5", "9999-12-31"])
def test_an_until_in_the_last_week_there_is_lists_every_call(
    app: tuple[Flask, dict[str, str]], until: str
) -> None:
    """The end of a week's last day ran past the last date there is: a 500 (``9999-12-31`` was
    read as the end of time)."""
    answer = get(app[0], f"/api/admin/calls?until={until}")
    assert answer.status_code == 200 and answer.get_json()["total"] == 5


def test_one_call_has_its_transcript_and_recording(app: tuple[Flask, dict[str, str]]) -> None:
    flask_app, ids = app
    answer = get(flask_app, f"/api/admin/calls/{ids['pricing']}")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    call = answer.get_json()
    assert set(call) == LISTED | {"transcript", "recording_url"}
    assert call["transcript"] == [
        {"role": "agent", "text": "Hello! How can I help?", "at": "2026-03-01T09:00:04Z"},
        {"role": "user", "text": "How much is the pro plan?", "at": "2026-03-01T09:00:09Z"},
    ]
    assert call["recording_url"] == "https://rec.example/pricing.mp3"
    # The provider's id finds the same call.
    assert get(flask_app, "/api/admin/calls/sess-pricing").get_json() == call
    empty = get(flask_app, f"/api/admin/calls/{ids['refused']}").get_json()
    assert (empty["transcript"], empty["recording_url"]) == ([], None)
    for nope in ("wc_nope", "wc_%00"):  # no NUL in any id: PostgreSQL refused to compare one (a 503)
        missing = get(flask_app, f"/api/admin/calls/{nope}")
        assert (missing.status_code, missing.get_json()["error"]["code"]) == (404, "unknown_call")


def test_a_call_log_outage_is_a_503(app: tuple[Flask, dict[str, str]]) -> None:
    flask_app, _ = app
    with app_state_of(flask_app).history.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE calls"))
    answer = get(flask_app, "/api/admin/calls")
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (503, "call_log_unavailable")
    assert answer.headers["Retry-After"] == "5"
