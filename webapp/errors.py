"""The application's error tree and the one handler that renders it.

Every error a client can see is an :class:`AppError` with an HTTP status and a
stable machine-readable ``code``. The message is written for people and never
contains a provider's body, a stack trace or a secret.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class AppError(Exception):
    """Base of every error rendered to clients as ``{"error": {"code", "message"}}``."""

    status_code = 500
    code = "internal_error"
    message = "Something went wrong on our side. Please try again."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message or self.message)
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.retry_after_s = retry_after_s


class BadRequest(AppError):
    """The request is malformed or breaks a documented limit."""

    status_code = 400
    code = "bad_request"
    message = "The request is not valid."


class OriginNotAllowed(AppError):
    """The calling page's origin may not start calls for this agent."""

    status_code = 403
    code = "origin_not_allowed"
    message = "This site is not allowed to start calls with this agent."


class UnknownAgent(AppError):
    """The requested agent slug is not in the catalogue."""

    status_code = 404
    code = "unknown_agent"
    message = "There is no agent with that name."


class PayloadTooLarge(AppError):
    """The body is larger than the configured limit."""

    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaType(AppError):
    """The body is not ``application/json``."""

    status_code = 415
    code = "unsupported_media_type"
    message = "Send the request body as JSON (Content-Type: application/json)."


class RateLimited(AppError):
    """Too many calls; ``retry_after_s`` says when to try again."""

    status_code = 429
    code = "rate_limited"
    message = "Too many calls right now. Please wait a moment and try again."


class ProviderError(AppError):
    """The voice provider refused the call or answered something unusable."""

    status_code = 502
    code = "provider_error"
    message = "The voice service could not start the call. Please try again shortly."
    upstream_status: int | None = None  # the provider's HTTP status, when it answered one


class ProviderAuthError(ProviderError):
    """The provider rejected our credentials: an operator problem, not the caller's."""

    code = "provider_auth_failed"


class ProviderBadResponse(ProviderError):
    """The provider answered with something that is not a usable web call."""

    code = "provider_bad_response"


class ProviderUnavailable(ProviderError):
    """The provider could not be reached, or is failing fast after repeated errors."""

    code = "provider_unavailable"
    message = "The voice service is unavailable right now. Please try again shortly."


class ProviderBusy(ProviderError):
    """The provider rate-limited us (a refusal: 502); the caller may retry after ``retry_after_s``."""

    code = "provider_busy"
    message = "The voice service is busy right now. Please try again in a moment."


class ProviderTimeout(ProviderError):
    """The provider did not answer in time."""

    status_code = 504
    code = "provider_timeout"
    message = "The voice service took too long to answer. Please try again."


def error_response(error: AppError) -> Response:
    """Render ``error`` as the JSON body and headers every client can rely on."""
    response = jsonify(error={"code": error.code, "message": error.message})
    response.status_code = error.status_code
    response.headers["Cache-Control"] = "no-store"
    if error.retry_after_s is not None:
        response.headers["Retry-After"] = str(max(1, int(error.retry_after_s)))
    return response


_HTTP_CODES = {
    400: BadRequest,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def _wants_json() -> bool:
    """Tell whether the failing request is an API request (JSON) or a page."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    """Register the handlers that turn every failure into a stable answer."""

    @app.errorhandler(AppError)
    def handle_app_error(error: AppError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        response = _render_http_error(error)
        allowed = getattr(error, "valid_methods", None)
        if response.status_code == 405 and allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    def _render_http_error(error: HTTPException) -> Response:
        """Our own body for an HTTP error raised by Flask or Werkzeug."""
        status = error.code or 500
        if status == 429:
            from .security import rate_limited_error

            return error_response(rate_limited_error())
        if not _wants_json():
            from .pages import render_error_page

            return render_error_page(status)
        if status == 404:
            return error_response(AppError("Not found.", code="not_found", status_code=404))
        if status == 405:
            return error_response(AppError("Method not allowed.", code="method_not_allowed", status_code=405))
        mapped = _HTTP_CODES.get(status)
        if mapped is not None:
            return error_response(mapped())
        return error_response(AppError(code=f"http_{status}", status_code=status))

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not _wants_json():
            from .pages import render_error_page

            return render_error_page(500)
        return error_response(AppError())
