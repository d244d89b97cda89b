"""Log lines: webhook secrets in request paths are masked in every one; text lines for a terminal."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import httpx
import pytest

from tests.fakes.fields import now_ms
from tests.fakes.retell import signature
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


FORGED = "\n2026-01-01 00:00:00,000 ERROR app: forged"  # 42 characters: the log line keeps 64


def test_a_text_line_writes_out_the_control_characters_it_is_given() -> None:
    """A message or field holding a line break (or a terminal escape) stays on its one line, the
    characters written out as Python spells them; other text, non-ASCII included, as it is."""
    record = logging.makeLogRecord(
        {
            "name": "webapp.history.webhooks",
            "levelname": "INFO",
            "msg": "webhook retell: ignored event %s",
            "args": ("x" + FORGED + "\r\x1b[2K\x7f\u2028",),
            "call_id": "c-1" + FORGED.replace(" ", "_"),  # no space: shown unquoted
            "note": "Zoë calls" + FORGED,  # a space: quoted by repr
            "agent": "ventes-été",
        }
    )
    line = TextFormatter().format(record)
    assert line.splitlines() == [line] and "\x1b" not in line and "\x7f" not in line
    assert line.endswith(
        r": webhook retell: ignored event x\n2026-01-01 00:00:00,000 ERROR app: forged"
        r"\r\x1b[2K\x7f\u2028"
        r" call_id=c-1\n2026-01-01_00:00:00,000_ERROR_app:_forged"
        r" note='Zoë calls\n2026-01-01 00:00:00,000 ERROR app: forged'"
        " agent=ventes-été"
    )


def test_a_signed_webhook_cannot_forge_a_text_line(tmp_path: Path) -> None:
    """Retell's signed webhook names its event, and an event the app does not apply is logged: one
    with a line break in it is one line in the terminal, not a forged ERROR line of its own."""
    key = "key_retell_0123456789abcdef"
    env = {**offline_livekit_env(), "WEBCALL_LOG_FORMAT": "text", "RETELL_API_KEY": key}
    catalogue = '[agents.support]\nprovider = "retell"\nagent_id = "agent_1"\n'
    server = start_app_server(env, tmp_path / "logs", agents_toml=catalogue, workers=1)
    body = json.dumps({"event": "call_paused" + FORGED, "call": {"call_id": "c-1"}}).encode()
    headers = {"Content-Type": "application/json", "X-Retell-Signature": signature(key, body, now_ms())}
    try:
        answer = httpx.post(server.url + "/webhooks/retell", content=body, headers=headers)
    finally:
        server.process.stop()
    assert (answer.status_code, answer.json()) == (200, {"status": "ignored"})
    lines = server.process.log().splitlines()
    assert not [line for line in lines if line.startswith(FORGED.strip())], lines
    ignored = next(line for line in lines if "ignored event" in line)
    assert r"retell: ignored event call_paused\n2026-01-01 00:00:00,000 ERROR app: forged " in ignored


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
