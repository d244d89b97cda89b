"""Odd input at every route, on SQLite and PostgreSQL: a clear answer, never a server error.

Every rule in the app's URL map, with every method and odd bodies, and the admin's filters and
ids with odd values (a NUL among them: PostgreSQL's text refuses one that SQLite keeps).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.admin.conftest import PASSWORD, SECRET_KEY, TOKEN, seed, sign_in
from tests.support.apps import app_state_of

CATALOGUE = """
[agents.demo]
provider = "livekit"
agent_id = "webcall-demo"

[agents.convoi]
provider = "convoi"
agent_id = "{convoi}"

[agents.ravan-phone]
provider = "ravan"
agent_id = "{ravan}"
[agents.ravan-phone.phone]
enabled = true
allowed_countries = ["US"]
from_number = "+14157774444"
"""
JSON = {"Content-Type": "application/json"}
WRONG_TYPES = {"agent": 5, "variables": [1], "metadata": "x", "phone_number": {"a": 1}, "mode": 7,
               "participant_name": ["x"], "consent": "yes", "room": 1, "participant_identity": 3}  # fmt: skip
BODIES: list[tuple[bytes | None, dict[str, str]]] = [
    (None, {}),
    (b"\xff\xfe\x00not json{", JSON),
    (b"[1,2,3]", JSON),
    (b"null", JSON),
    (b"[" * 5000 + b"]" * 5000, JSON),
    (json.dumps(WRONG_TYPES).encode(), JSON),
    (b'{"agent": "\\ud800", "participant_name": "nul\\u0000"}', JSON),
    (
        b'{"agent": "demo", "variables": {"a": 1e999}, "metadata": {"n": 123456789012345678901234567890}}',
        JSON,
    ),
    (b"a=1&b=%ff", {"Content-Type": "application/x-www-form-urlencoded"}),
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
ODD_QUERIES = {
    "since": ["9999-99-99", "10000-01-01", "2026-01-01T00:00%2B99:00", "0001-01-01T00:00%2B23:59", "%00"],
    "until": ["9999-12-31T23:59:59-23:59", "2026-02-30", "2026-01-01T24:00"],
    "q": ["%00", "%25", "%5C", "x" * 5000, "%ED%A0%80", "%FF"],
    "page": ["10000000000000000000000000000", "-1", "1e3"],
    "page_size": ["0", "100000"],
    "agent": ["%00", "../x", "A" * 500],
    "status": ["%00"],
    "next": ["//evil.example", "%00"],
    "back": ["javascript:alert(1)"],
}
ODD_IDS = ["%00", "wc_%00", "wc_" + "x" * 5000, "%ED%A0%80", "%FF"]


@pytest.fixture
def app(make_app: Callable[..., Flask], call_log_url: str) -> Flask:
    """Every part on: web and phone agents, the admin view and API, a call log with calls."""
    app = make_app(WEBCALL_ADMIN_PASSWORD=PASSWORD, WEBCALL_ADMIN_TOKEN=TOKEN, WEBCALL_SECRET_KEY=SECRET_KEY,
                   WEBCALL_DATABASE_URL=call_log_url)  # fmt: skip
    seed(app_state_of(app).history)
    return app


def test_every_route_answers_odd_input_without_a_server_error(app: Flask) -> None:
    client = app.test_client()
    problems = []
    for rule in app.url_map.iter_rules():
        if rule.rule == "/readyz":
            continue  # its 503 means "not ready" (these tests' LiveKit is offline)
        path = rule.build(dict.fromkeys(rule.arguments, "demo"), append_unknown=False)[1]
        for method in METHODS:
            for body, headers in BODIES:
                for auth in ({}, {"Authorization": f"Bearer {TOKEN}"}):
                    answer = client.open(path, method=method, data=body, headers={**headers, **auth})
                    problems += _problems(f"{method} {path}", answer)
    assert problems == []


def test_the_admin_answers_odd_filters_and_ids_without_a_server_error(app: Flask) -> None:
    signed_in = app.test_client()
    sign_in(signed_in)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    problems = []
    for name, values in ODD_QUERIES.items():
        for value in values:
            for path in (
                "/api/admin/calls",
                "/api/admin/summary",
                "/admin/",
                "/admin/calls.csv",
                "/admin/live.json",
                "/admin/login",
            ):
                problems += _problems(f"{path}?{name}", signed_in.get(f"{path}?{name}={value}", headers=auth))
    for call_id in ODD_IDS:
        for path in (f"/api/admin/calls/{call_id}", f"/admin/calls/{call_id}"):
            answer = signed_in.get(path, headers=auth)
            problems += _problems(path[:40], answer)
            assert answer.status_code == 404, path[:40]
    assert problems == []


def test_doubled_slashes_are_a_json_404_for_programs_and_mended_for_pages(app: Flask) -> None:
    client = app.test_client()
    for method, path in (
        ("POST", "/api//calls"),
        ("GET", "/api//calls"),  # a method the mended path does not take: 404 still, not 405
        ("GET", "/webhooks//ravan/a-secret"),
        ("GET", "/api/admin//calls"),
        ("POST", "/webhooks//livekit"),
        ("POST", "/webhooks/ravan//a-secret"),
    ):
        answer = client.open(path, method=method, json={}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 404, path
        assert answer.get_json()["error"]["code"] == "not_found", path
        assert "Location" not in answer.headers, path
        assert b"a-secret" not in answer.data
    page = client.get("/talk//demo")
    assert page.status_code == 308
    assert page.headers["Location"].endswith("/talk/demo")


def _problems(what: str, answer: TestResponse) -> list[str]:
    """What is wrong with ``answer``: a server error, or an API or webhook error that is not our JSON."""
    problems = []
    if answer.status_code >= 500:
        problems.append(f"{what}: {answer.status_code}")
    if answer.request.path.startswith(("/api/", "/webhooks/")) and answer.status_code >= 400 and answer.data:
        error = answer.get_json(silent=True)
        if not (isinstance(error, dict) and isinstance(error.get("error", {}).get("code"), str)):
            problems.append(f"{what}: {answer.status_code} without a JSON error")
    return problems
