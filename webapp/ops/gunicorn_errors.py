"""gunicorn's own refusals in the API's JSON, for a request it cannot read as HTTP.

A request line, header or framing that is not HTTP (a version that does not exist, a header
name with a space in it, a Content-Length that is not a number, a head over gunicorn's limits)
is refused by gunicorn before the app sees it, with an HTML page that quotes the bad input.
:func:`install` (``gunicorn.conf.py``, in each worker) makes those answers the API's error body,
``{"error": {"code", "message", "request_id"}}``, with the code and message of the matching
error in :mod:`webapp.errors`; the input is not quoted back (gunicorn's warning line logs it).
There is no request id: the request never reached the app that gives one.
"""

from __future__ import annotations

import socket

import orjson
from gunicorn import util

from ..errors import (
    AppError,
    BadRequest,
    ExpectationFailed,
    RequestHeadersTooLarge,
    TransferCodingNotSupported,
    UriTooLong,
)

# gunicorn's statuses for what it refuses (gunicorn.workers.base.Worker.handle_error).
_ERRORS: dict[int, AppError] = {
    400: BadRequest("The request is not valid HTTP."),
    414: UriTooLong(),
    417: ExpectationFailed(),
    431: RequestHeadersTooLarge(),
    500: AppError(),
    501: TransferCodingNotSupported(),
}


def json_error(status: int, reason: str) -> bytes:
    """The whole answer (head and body) for gunicorn's refusal ``status`` (``reason`` its phrase)."""
    error = _ERRORS.get(status) or AppError(reason, code=f"http_{status}", status_code=status)
    body = orjson.dumps({"error": {"code": error.code, "message": error.message, "request_id": None}})
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error``'s part, in JSON (``mesg``, gunicorn's detail, is dropped)."""
    util.write_nonblock(sock, json_error(status_int, reason))


def install() -> None:
    """Have gunicorn's workers answer what they refuse with :func:`write_json_error`."""
    util.write_error = write_json_error
