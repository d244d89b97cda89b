"""Log lines: webhook secrets in request paths are masked in every one; text lines for a terminal."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.apps import offline_livekit_env
from tests.support.stack import start_app_server
from webapp.ops.logging import MaskSecretPaths, TextFormatter, mask_secret_paths


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ('9 "POST /webhooks/ravan/s3cr3t-T0ken_x HTTP/1.1" 200', '9 "POST /webhooks/ravan/*** HTTP/1.1" 200'),
        ("/webhooks/ravan/s3cr3t?retry=1", "/webhooks/ravan/***?retry=1"),
        ("/webhooks/ravan/s3cr3t/more", "/webhooks/ravan/***/more"),
        # any path reaches the access log, doubled slashes too
        ("/webhooks//ravan/s3cr3t", "/webhooks//ravan/***"),
        ("/webhooks/ravan//s3cr3t", "/webhooks/ravan//***"),
        ('"POST /webhooks///ravan///s3cr3t?x=1 HTTP/1.1"', '"POST /webhooks///ravan///***?x=1 HTTP/1.1"'),
        ("GET /webhooks/ravan/ and /api/calls", "GET /webhooks/ravan/ and /api/calls"),  # nothing to hide
        ("POST /api/calls", "POST /api/calls"),
    ],
)
def test_the_secret_segment_is_masked(line: str, masked: str) -> None:
    assert mask_secret_paths(line) == masked


def test_the_filter_masks_a_formatted_record() -> None:
    args = ("POST", "/webhooks/ravan/abc", 200)
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s %s" %s', args, None)
    assert MaskSecretPaths().filter(record) is True
    assert record.getMessage() == '"POST /webhooks/ravan/***" 200' and record.args is None


def test_a_secret_it_is_given_is_masked_wherever_it_appears() -> None:
    """The webhook token itself, in a path that is no webhook's (or one spelled another way)."""
    token = "whk_s3cr3t-T0ken"
    assert mask_secret_paths(f"/api/calls/{token}/x and /%77ebhooks/ravan/{token}", [token]) == (
        "/api/calls/***/x and /%77ebhooks/ravan/***"
    )
    assert mask_secret_paths("/api/calls", ["", token]) == "/api/calls"  # an unset one masks nothing
    record = logging.LogRecord(
        "gunicorn.error", logging.ERROR, __file__, 1, "bad path %s", (f"/x/{token}",), None
    )
    assert MaskSecretPaths([token]).filter(record) is True
    assert record.getMessage() == "bad path /x/***"


def test_a_text_line_ends_with_the_fields_a_json_line_carries() -> None:
    """``WEBCALL_LOG_FORMAT=text`` (scripts/demo's terminal): the fields after the message, an empty
    or spaced value quoted, none left out but those unset; a traceback after them."""
    fields = {"agent": "", "channel": "web", "code": "origin_not_allowed", "number": None, "ms": 3.5}
    record = logging.makeLogRecord(
        {"name": "webapp.calls.service", "levelname": "WARNING", "msg": "call refused", **fields}
    )
    line = TextFormatter().format(record)
    assert line.endswith(
        " WARNING webapp.calls.service: call refused agent='' channel=web code=origin_not_allowed ms=3.5"
    )
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.makeLogRecord({"msg": "oops", "problem": "disk full", "exc_info": sys.exc_info()})
    first, *rest = TextFormatter().format(failed).splitlines()
    assert first.endswith(": oops problem='disk full'") and rest[-1] == "ValueError: boom"


def test_the_demo_s_terminal_says_why_a_call_was_refused_and_which_request(tmp_path: Path) -> None:
    """The app under gunicorn with text lines: a refused call's line names its code and the request
    id its answer carried (what the page shows as "Reference")."""
    env = {**offline_livekit_env(), "WEBCALL_LOG_FORMAT": "text"}
    local = '[agents.local]\nprovider = "livekit"\nagent_id = "webcall-demo"\n'
    server = start_app_server(env, tmp_path / "logs", agents_toml=local, workers=1)
    try:
        refused = httpx.post(
            server.url + "/api/calls", json={}, headers={"Origin": "https://elsewhere.example"}
        )
    finally:
        server.process.stop()
    assert refused.status_code == 403
    request_id = refused.headers["X-Request-ID"]
    line = next(line for line in server.process.log().splitlines() if "call refused" in line)
    assert "code=origin_not_allowed" in line and f"request_id={request_id}" in line, line
