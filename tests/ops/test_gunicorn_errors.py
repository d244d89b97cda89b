"""gunicorn's own refusals as the API's error body (the answers gunicorn writes, parsed back)."""

from __future__ import annotations

import json

import pytest

from webapp.ops.gunicorn_errors import json_error


def parse(answer: bytes) -> tuple[str, dict[str, str], dict]:
    """The status line, the headers (lower-cased names) and the JSON body of ``answer``."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}
    assert int(headers["content-length"]) == len(body)
    return status, headers, json.loads(body)


@pytest.mark.parametrize(
    ("status", "reason", "code"),
    [
        (400, "Bad Request", "bad_request"),
        (414, "URI Too Long", "uri_too_long"),
        (417, "Expectation Failed", "expectation_failed"),
        (431, "Request Header Fields Too Large", "request_headers_too_large"),
        (500, "Internal Server Error", "internal_error"),
        (501, "Not Implemented", "transfer_coding_not_supported"),  # gunicorn's Python parser
        (403, "Forbidden", "http_403"),  # a PROXY line from a host not allowed to send one
    ],
)
def test_each_refusal_has_its_code(status: int, reason: str, code: str) -> None:
    status_line, headers, body = parse(json_error(status, reason))
    assert status_line == f"HTTP/1.1 {status} {reason}"
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert headers["cache-control"] == "no-store"
    assert body["error"]["code"] == code
    assert body["error"]["message"] and body["error"]["request_id"] is None
