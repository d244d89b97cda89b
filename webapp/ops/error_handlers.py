"""The one place that renders failures: the error tree as JSON for the API, a page for browsers."""

from __future__ import annotations

import logging
import re

from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import RequestRedirect

from ..errors import AppError, MethodNotAllowed, NotFound, PayloadTooLarge, UnknownAgent, UnsupportedMediaType
from ..errors import BadRequest as BadRequestError
from ..guards.origin import cors_headers
from ..metrics import LIMIT_REFUSALS
from ..pages.render import render_error_page
from ..tracing import current_request_id
from .logging import mask_secret_paths

log = logging.getLogger(__name__)
# The embed widget's panel, whatever the slug: one the panel's route takes, or one it never sees
# (a slash in it, ``%2F`` included, or none at all).
PANEL_PATHS = re.compile(r"/embed/.*/panel", re.DOTALL)
# The addresses that answer programs, so fail in JSON whatever the request accepts: the API,
# providers' webhooks, the embed widget's panel, the JSON documents (``/openapi.json``,
# ``/admin/live.json``), the health probes and ``/metrics``. Told by the path, as a 404 or 405
# has no route. Any character counts, a line break (``%0A``) too.
MACHINE_PATHS = re.compile(
    rf"/(api|webhooks)(/.*)?|{PANEL_PATHS.pattern}|.*\.json|/(healthz|readyz|metrics)/?", re.DOTALL
)


class ErrorDetail(BaseModel):
    """What went wrong: a stable code for programs, a sentence for people."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    request_id: str | None = Field(None, description="Quote it when you report a problem: it finds the logs.")


class Error(BaseModel):
    """Every error answer of the API."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


_HTTP_ERRORS: dict[int, type[AppError]] = {
    400: BadRequestError,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def error_response(error: AppError) -> Response:
    """Render ``error`` as the JSON body and headers every client can rely on."""
    body = Error(error=ErrorDetail(code=error.code, message=error.message, request_id=current_request_id()))
    response = jsonify(body.model_dump())
    response.status_code = error.status_code
    response.headers["Cache-Control"] = "no-store"
    if error.retry_after_s is not None:
        response.headers["Retry-After"] = str(max(1, int(error.retry_after_s)))
    if error.www_authenticate:
        response.headers["WWW-Authenticate"] = error.www_authenticate
    return response


def _wants_json() -> bool:
    """Tell whether the failing request is a program's (an address that answers JSON, or a client
    that prefers JSON to a page) or a browser's, which gets a page."""
    if MACHINE_PATHS.fullmatch(request.path):
        return True
    return request.accept_mimetypes.best_match(("text/html", "application/json")) == "application/json"


def _render_http_error(error: HTTPException) -> Response:
    """Our own body for an HTTP error raised by Flask or Werkzeug."""
    status = error.code or 500
    if not _wants_json():
        return render_error_page(status)
    mapped = _HTTP_ERRORS.get(status)
    return error_response(mapped() if mapped else AppError(code=f"http_{status}", status_code=status))


def init_app(app: Flask) -> None:
    """Register the handlers that turn every failure into a stable answer."""

    @app.before_request
    def unknown_agent_for_any_panel() -> None:
        # The widget asks for ``/embed/<its agent's name, encoded>/panel``: a name holding a
        # slash (``sales%2Feu``, ``%2F``) reaches no route, or a redirect (slashes merged), where
        # any other unknown name gets the panel's own 404 unknown_agent. The same answer for
        # both: its message names the mistake (the widget's agent), which "Not found" does not.
        routed = request.routing_exception is None
        if not routed and request.method in ("GET", "HEAD") and PANEL_PATHS.fullmatch(request.path):
            raise UnknownAgent()

    @app.after_request
    def readable_panel_refusals(response: Response) -> Response:
        # As the panel's route does for its own refusals (pages/embed.py): any page can read why,
        # so its widget says it instead of a network failure. The body holds nothing of an agent.
        if request.url_rule is None and response.status_code >= 400 and PANEL_PATHS.fullmatch(request.path):
            response.headers.setdefault("Access-Control-Allow-Origin", "*")
        return response

    @app.before_request
    def no_redirect_for_programs() -> None:
        # Werkzeug answers a path it can mend (``/api//calls``: slashes merged) with an HTML 308
        # that Flask sends as it is, past the handlers below, quoting the path back (a webhook's
        # token too). A program gets the 404 it would get for any other wrong path; a browser
        # still follows the redirect to the page. With a method the mended path does not take,
        # Werkzeug says 405 instead (``GET /api//calls``): no route has a doubled slash, so 404.
        mended = isinstance(request.routing_exception, RequestRedirect) or (
            request.routing_exception is not None and "//" in request.path
        )
        if mended and MACHINE_PATHS.fullmatch(request.path):
            raise NoRoute()

    @app.errorhandler(AppError)
    def handle_app_error(error: AppError) -> Response:
        if error.status_code == 429:
            LIMIT_REFUSALS.labels(error.code).inc()
        return error_response(error)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        response = _render_http_error(error)
        allowed = getattr(error, "valid_methods", None)
        if response.status_code == 405 and allowed:
            response.headers["Allow"] = ", ".join(allowed)
        if request.url_rule is None and request.path.startswith("/api/"):
            # No route, so no blueprint answered CORS: an embed on an allowed origin still
            # reads why (a mistyped path, a wrong method).
            cors_headers(response)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, mask_secret_paths(request.path))
        if not _wants_json():
            return render_error_page(500)
        return error_response(AppError())
