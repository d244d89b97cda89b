"""What every fake does around its endpoints: record, slow down, misbehave, authenticate.

A provider module describes how it speaks (`ProviderStyle`) and `attach_fake` wires the
shared request hooks and error handlers into its Flask app.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from .state import REMOVE, FakeState, HeaderDict, RecordedRequest, current_state

_HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} Error</title></head>"
    "<body><h1>{status} Error</h1><p>The upstream server returned an error.</p>"
    "<hr><center>nginx</center></body></html>"
)


class FakeError(Exception):
    """A rejection, rendered in the provider's own error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "invalid_request",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Remember the HTTP status, a human message, a machine code and extra headers."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


@dataclass(frozen=True)
class ProviderStyle:
    """How one provider speaks, for the shared hooks."""

    # Raises FakeError(401/403) unless the request carries this provider's valid credentials.
    check_auth: Callable[[FakeState], None]
    # Renders a FakeError as this provider's error response.
    render_error: Callable[[FakeError], Response]
    # The body of a 200 that still says the call failed (kind "success_false").
    failure_body: Callable[[], dict[str, Any]]
    # A success body with the LiveKit url/token taken out (kind "missing_credentials").
    strip_credentials: Callable[[dict[str, Any]], dict[str, Any]]


def json_response(body: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    """A JSON response with an explicit status and content type."""
    return Response(json.dumps(body), status=status, mimetype=mimetype)


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 naming what is wrong with it."""
    if not request.is_json:
        raise FakeError(400, "Content-Type must be application/json", "invalid_content_type")
    try:
        body = json.loads(request.get_data())
    except ValueError as exc:
        raise FakeError(400, f"Request body is not valid JSON: {exc}", "invalid_json") from exc
    if not isinstance(body, dict):
        raise FakeError(400, "Request body must be a JSON object", "invalid_json")
    return body


def drop_keys(body: Any, keys: frozenset[str]) -> Any:
    """A copy of `body` without any of `keys`, at any depth."""
    if isinstance(body, dict):
        return {k: drop_keys(v, keys) for k, v in body.items() if k not in keys}
    if isinstance(body, list):
        return [drop_keys(item, keys) for item in body]
    return body


def patched(body: Any, changes: dict[str, Any]) -> Any:
    """`body` with each dotted path in `changes` set to its value (taken out for `REMOVE`)."""
    for path, value in changes.items():
        *parents, name = path.split(".")
        target = body
        for parent in parents:
            target = target.setdefault(parent, {})
        if value is REMOVE:
            target.pop(name, None)
        else:
            target[name] = value
    return body


def attach_fake(app: Flask, state: FakeState, style: ProviderStyle) -> Flask:
    """Give `app` its state, the shared hooks and error handlers in `style`'s shape."""
    app.extensions["fake_state"] = state

    @app.before_request
    def record_and_misbehave() -> Response | None:
        """Record the request, add latency, apply a queued fault, then check credentials."""
        state = current_state()
        raw = request.get_data()
        state.record(
            RecordedRequest(
                method=request.method,
                path=request.path,
                headers=HeaderDict(request.headers.items()),
                json=_parse_quietly(raw),
                raw=raw,
                query=request.args.to_dict(),
            )
        )
        if state.latency_s:
            time.sleep(state.latency_s)
        fault = state.pop_fault()
        g.fake_fault = fault
        if fault is not None:
            answer = _answer_fault(fault, style)
            if answer is not None:
                return answer
        style.check_auth(state)
        return None

    @app.after_request
    def damage_response(response: Response) -> Response:
        """Apply the faults that need the normal response first."""
        fault = g.get("fake_fault")
        if fault is None:
            return response
        if fault.kind == "missing_credentials" and response.is_json and response.status_code < 300:
            response.set_data(json.dumps(style.strip_credentials(response.get_json())))
        elif fault.kind == "patch" and response.is_json and response.status_code < 300:
            response.set_data(json.dumps(patched(response.get_json(), fault.body or {})))
        elif fault.kind == "malformed_json":
            data = response.get_data()
            response.set_data(data[: max(1, len(data) // 2)])
            response.status_code = 200
            response.mimetype = "application/json"
        return response

    @app.errorhandler(FakeError)
    def render_fake_error(error: FakeError) -> Response:
        """Render a rejection in the provider's shape."""
        response = style.render_error(error)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(HTTPException)
    def render_http_error(error: HTTPException) -> Response:
        """Unknown path, wrong method and the like, in the provider's shape too."""
        status = error.code or 500
        return style.render_error(FakeError(status, error.description or error.name, "http_error"))

    return app


def _parse_quietly(raw: bytes) -> Any:
    """The body parsed as JSON, or None."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _answer_fault(fault: Any, style: ProviderStyle) -> Response | None:
    """The response a fault replaces normal handling with, or None to go on handling."""
    if fault.kind == "delay":
        time.sleep(fault.delay_s)
        return None
    if fault.kind == "status":
        body = fault.body if fault.body is not None else {"error": "fault injected"}
        if isinstance(body, str):
            response = Response(body, status=fault.status or 500, mimetype="text/plain")
        else:
            response = json_response(body, fault.status or 500)
    elif fault.kind == "html":
        status = fault.status or 502
        page = fault.body if isinstance(fault.body, str) else _HTML_ERROR_PAGE.format(status=status)
        response = Response(page, status=status, mimetype="text/html")
    elif fault.kind == "success_false":
        body = fault.body if isinstance(fault.body, dict) else style.failure_body()
        response = json_response(body, fault.status or 200)
    elif fault.kind == "drop":
        _drop_connection()
        response = Response(b"", status=500)
    else:  # applied after normal handling, in damage_response
        return None
    response.headers.update(fault.headers)
    return response


def _drop_connection() -> None:
    """Shut the client's socket, so it sees the connection close without a response."""
    sock = request.environ.get("werkzeug.socket")
    if sock is None:  # not served by werkzeug (e.g. Flask's test client): nothing to drop
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
