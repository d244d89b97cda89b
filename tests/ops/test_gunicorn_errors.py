"""gunicorn's own refusals as the API's error body (the answers gunicorn writes, parsed back)."""

from __future__ import annotations

import json

import pytest

from tests.support.raw_http import split_answer
from webapp.ops.gunicorn_errors import json_error


def parse(answer: bytes) -> tuple[int, dict[str, str], dict]:
    """The status, the headers (lower-cased names) and the JSON body of ``answer``."""
    status, headers, body = split_answer(answer)
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
    answer = json_error(status, reason)
    assert answer.startswith(f"HTTP/1.1 {status} {reason}\r\n".encode())
    answered, headers, body = parse(answer)
    assert answered == status
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert headers["cache-control"] == "no-store"
    assert body["error"]["code"] == code
    assert body["error"]["message"] and body["error"]["request_id"] is None
