"""Webhook secrets in request paths are masked in every log line."""

from __future__ import annotations

import logging

import pytest

from webapp.ops.logging import MaskSecretPaths, mask_secret_paths


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
