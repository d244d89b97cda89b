"""The request id: one per request, so a screenshot of an error leads to its log lines and record.

Taken from ``X-Request-ID`` when a trusted proxy set it (``WEBCALL_TRUSTED_PROXIES``), made
fresh otherwise; returned in the ``X-Request-ID`` header, inside every error body, in every
log line written while serving the request and in the call log. A leaf module: any layer
may ask for the current id.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # what a proxy's id may look like (nginx: 32 hex)


def current_request_id() -> str | None:
    """This request's id, or None outside a request."""
    if not has_request_context():
        return None
    return g.get("request_id")


def init_app(app: Flask, *, trust_header: bool) -> None:
    """Give every request an id (a proxy's, when proxies are trusted) and answer with it."""

    @app.before_request
    def assign() -> None:
        given = request.headers.get(HEADER, "") if trust_header else ""
        g.request_id = given if _SAFE.match(given) else uuid.uuid4().hex

    @app.after_request
    def answer(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[HEADER] = request_id
        return response
