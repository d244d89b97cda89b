"""A request's body is read in time and whole, or the request is refused with a clear answer.

gunicorn's gevent worker gives up on a request's headers after ``keepalive`` seconds but waits
for its body, and for a client to take its answer, as long as the client likes: one that sent
its headers and then stalled held a connection (of ``worker_connections``) until it left.
Each read and write on a request's socket now waits at most ``WEBCALL_CLIENT_TIMEOUT_S``. A
body that stalls, or whose chunked framing is broken, is answered 408 or 400 in JSON, never a
500 with a traceback, and the rest of it is not read: the connection closes after the answer.
"""

from __future__ import annotations

import socket
from contextlib import suppress
from typing import Any

from flask import Flask, Response, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected

from ..errors import BadRequest, RequestTimeout
from .error_handlers import error_response


def init_app(app: Flask, client_timeout_s: float) -> None:
    """Bound every wait on a request's socket, and answer a body that cannot be read."""

    @app.before_request
    def bound_client_waits() -> None:
        client = request.environ.get("gunicorn.socket")
        if client is not None:
            client.settimeout(client_timeout_s)

    @app.after_request
    def unbind_once_answered(response: Response) -> Response:
        # Between requests gunicorn's own keep-alive timeout applies (it ends an idle connection
        # quietly; a socket timeout there would be logged as a socket error).
        client = request.environ.get("gunicorn.socket")
        if client is not None:
            response.call_on_close(lambda: client.settimeout(None))
        return response

    @app.errorhandler(ClientDisconnected)
    def body_not_received(error: ClientDisconnected) -> Response:
        # Werkzeug reports a read that failed (a timeout among them) as a disconnected client.
        stalled = isinstance(error.__context__, TimeoutError)
        return _refuse(RequestTimeout() if stalled else BadRequest("The request body ended early."))

    @app.errorhandler(ParseException)
    def body_not_readable(error: ParseException) -> Response:
        return _refuse(BadRequest("The request body's chunked framing is not valid."))


def _refuse(error: BadRequest | RequestTimeout) -> Response:
    """Answer ``error`` and read nothing more from this connection: the rest of its body is lost."""
    client: Any = request.environ.get("gunicorn.socket")
    if client is not None:
        with suppress(OSError):
            client.shutdown(socket.SHUT_RD)
    return error_response(error)
