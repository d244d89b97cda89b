"""Each hosted provider's documented error table, and every way a provider can fail, through the API.

The fakes answer each documented status in the provider's own error format (Ravan documents
none; Zudu ``{message, status: "error", error}``; Convoi RFC 7807 problem+json; Retell
``{status: "error", error_message}``; ElevenLabs FastAPI's ``{detail}``); the caller sees our
code and never the provider's words, a stack trace or our key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.fakes import Fault
from tests.support.apps import FAKE_AGENT_IDS, FAKE_KEYS, HOSTED_AGENTS, build_app, post, provider_env

CATALOGUE = HOSTED_AGENTS


def zudu_error(status: int, text: str) -> Fault:
    """Zudu's documented error body."""
    return Fault("status", status=status, body={"message": text, "status": "error", "error": text})


def convoi_problem(status: int, code: str, **headers: str) -> Fault:
    """Convoi's RFC 7807 problem document."""
    body = {"type": f"https://docs.convoi.ai/errors/{code}", "title": code.replace("_", " "),
            "status": status, "detail": f"{code} (our key sk_live_convoi_test_4d5e6f)", "code": code,
            "request_id": "req_123"}  # fmt: skip
    return Fault("status", status=status, body=body, headers=headers)


GENERIC = [
    (Fault("html", status=502), 502, "provider_unavailable"),
    (Fault("html", status=200), 502, "provider_bad_response"),
    (Fault("malformed_json"), 502, "provider_bad_response"),
    (Fault("success_false"), 502, "provider_bad_response"),
    (Fault("missing_credentials"), 502, "provider_bad_response"),
    (Fault("drop"), 502, "provider_unavailable"),
    (Fault("delay", delay_s=2.5), 504, "provider_timeout"),
]
TABLES: dict[str, list[tuple[Fault, int, str]]] = {
    # Ravan documents no error format: what its API is seen to answer.
    "ravan": [
        (
            Fault("status", status=401, body={"success": False, "message": "bad key"}),
            502,
            "provider_auth_failed",
        ),
        (Fault("status", status=400, body={"success": False, "message": "nope"}), 502, "provider_error"),
        (Fault("status", status=500, body={"success": False}), 502, "provider_error"),
        (Fault("status", status=429, body={}, headers={"Retry-After": "7"}), 502, "provider_busy"),
    ],
    # Zudu: 400 validation, 401 bad key pair, 404 unknown, 500.
    "zudu": [
        (zudu_error(400, "agent_id is required"), 502, "provider_error"),
        (zudu_error(401, "Invalid API key or secret"), 502, "provider_auth_failed"),
        (zudu_error(404, "Agent not found"), 502, "provider_error"),
        (zudu_error(500, "Internal server error"), 502, "provider_error"),
    ],
    # Convoi: 400, 401, 403, 404, 409 (the same idempotency key in flight), 422, 429, 5xx.
    "convoi": [
        (convoi_problem(400, "invalid_request"), 502, "provider_error"),
        (convoi_problem(401, "invalid_api_key"), 502, "provider_auth_failed"),
        (convoi_problem(403, "forbidden"), 502, "provider_auth_failed"),
        (convoi_problem(404, "agent_not_found"), 502, "provider_error"),
        (convoi_problem(409, "idempotency_conflict"), 409, "call_in_progress"),
        (convoi_problem(422, "unprocessable_entity"), 502, "provider_error"),
        (convoi_problem(429, "rate_limited", **{"Retry-After": "7"}), 502, "provider_busy"),
        (convoi_problem(500, "internal_error"), 502, "provider_error"),
    ],
}


def retell_error(status: int, text: str, **headers: str) -> Fault:
    """Retell's error body (what its SDK reads: ``error_message``)."""
    return Fault("status", status=status, body={"status": "error", "error_message": text}, headers=headers)


def elevenlabs_error(status: int, kind: str, **headers: str) -> Fault:
    """ElevenLabs' FastAPI error body: ``detail`` with a status and a message."""
    body = {"detail": {"status": kind, "message": f"{kind} for key sk_elevenlabs_test_5e6f7a"}}
    return Fault("status", status=status, body=body, headers=headers)


TABLES["retell"] = [
    (retell_error(400, "agent_id is required"), 502, "provider_error"),
    (retell_error(401, "Invalid API key"), 502, "provider_auth_failed"),
    (retell_error(402, "Payment required: add credits"), 502, "provider_error"),
    (retell_error(404, "Agent not found"), 502, "provider_error"),
    (retell_error(422, "Unprocessable content"), 502, "provider_error"),
    (retell_error(429, "Too many requests", **{"Retry-After": "7"}), 502, "provider_busy"),
    (retell_error(500, "Internal server error"), 502, "provider_error"),
]
TABLES["elevenlabs"] = [
    (elevenlabs_error(401, "invalid_api_key"), 502, "provider_auth_failed"),
    (elevenlabs_error(403, "missing_permissions"), 502, "provider_auth_failed"),
    (elevenlabs_error(404, "agent_not_found"), 502, "provider_error"),
    (Fault("status", status=422, body={"detail": [{"msg": "Field required"}]}), 502, "provider_error"),
    (elevenlabs_error(429, "too_many_concurrent_requests", **{"Retry-After": "7"}), 502, "provider_busy"),
    (elevenlabs_error(500, "internal_error"), 502, "provider_error"),
]
# Requests that are safe to repeat are retried on a transient failure: every attempt meets the
# fault (Convoi's create, under its idempotency key; ElevenLabs' token, a GET).
RETRIED = {"convoi", "elevenlabs"}
CASES = [
    pytest.param(provider, fault, status, code, id=f"{provider}-{fault.kind}-{fault.status or ''}-{code}")
    for provider, table in TABLES.items()
    for fault, status, code in [*table, *GENERIC]
]


@pytest.fixture
def app(tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, retell: Any, elevenlabs: Any) -> Flask:
    """The app against this test's fakes, with short timeouts."""
    urls = {"retell_url": retell[0].url, "elevenlabs_url": elevenlabs[0].url}
    env = provider_env(ravan[0].url, zudu[0].url, convoi[0].url, **urls)
    timeouts = {"WEBCALL_READ_TIMEOUT_S": "1", "WEBCALL_CONNECT_TIMEOUT_S": "1"}
    return build_app(tmp_path, CATALOGUE.format(**FAKE_AGENT_IDS), **timeouts, **env)


@pytest.mark.parametrize(("provider", "fault", "status", "code"), CASES)
def test_provider_failures_map_to_the_error_table(
    app: Flask, request: pytest.FixtureRequest, provider: str, fault: Fault, status: int, code: str
) -> None:
    state = request.getfixturevalue(provider)[1]
    state.faults.extend([fault] * (3 if provider in RETRIED else 1))
    response = post(app, {"agent": provider})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    text = response.get_data(as_text=True)
    upstream_words = ("Traceback", "nginx", "req_123", "Invalid API key", "Payment", "detail")
    for leak in (*upstream_words, *FAKE_KEYS.values()):
        assert leak not in text
    if code == "provider_busy":
        assert response.headers["Retry-After"] == "7"
