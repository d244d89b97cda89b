"""Who may start a call: our own pages, and the sites an agent lists in ``allowed_origins``.

CORS is answered only for allowed origins: once a request has named its agent, only for that
agent's; before (a preflight, a path that names none), for any agent's. A site allowed for one
agent gets nothing from another, not even a readable refusal.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Response, request

from ..catalogue import Agent
from ..errors import OriginNotAllowed
from ..state import app_state

log = logging.getLogger(__name__)
NULL_ORIGIN = "null"  # sandboxed frames, file:// pages, some redirects: never a page of ours


def request_origin() -> str | None:
    """The request's ``Origin``, lower-cased without a trailing slash, or None when absent."""
    origin = (request.headers.get("Origin") or "").strip().lower().rstrip("/")
    return origin or None


def referer_origin() -> str | None:
    """The origin of the ``Referer`` (a page's address), or None when there is none to read.

    A Referer that is not a URL at all (``http://[``) has none: browsers send well-formed ones.
    """
    try:
        parts = urlsplit((request.headers.get("Referer") or "").strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()


def own_origin() -> str:
    """Our own origin as this request reached us (scheme corrected by trusted proxies)."""
    return request.host_url.rstrip("/").lower()


def check_origin(agent: Agent) -> None:
    """Refuse calls started from a site that is neither ours nor on the agent's list.

    Matching is exact on scheme, host and port. A browser always sends ``Origin`` on a
    cross-site POST, so a cross-site request without one is refused (by ``Sec-Fetch-Site``,
    else by the ``Referer``'s origin); an explicit ``Origin: null`` is always refused, since
    no page of ours sends it. A request with neither (curl, a server) is not a page's.
    """
    origin = request_origin()
    if origin is None:
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            raise OriginNotAllowed()
        origin = referer_origin()
        if origin is None:
            return
    own = own_origin()
    if origin != NULL_ORIGIN and (origin == own or origin in agent.allowed_origins):
        return
    _explain_scheme_mismatch(origin, own)
    raise OriginNotAllowed()


def _explain_scheme_mismatch(origin: str, own: str) -> None:
    """Log the likely fix when a page of ours was refused only for its scheme or port (a proxy)."""
    try:
        seen, ours = urlsplit(origin), urlsplit(own)
        mismatch = seen.hostname == ours.hostname and (seen.scheme, seen.port) != (ours.scheme, ours.port)
    except ValueError:  # not a URL (``http://[``, a port out of range): refused, nothing to explain
        return
    if mismatch:
        log.warning(
            "refused a call from %s: this app sees itself as %s. Behind a TLS proxy, set "
            "WEBCALL_PUBLIC_URL to the public address, and WEBCALL_TRUSTED_PROXIES to the "
            "number of proxies in front (for the visitors' own addresses; without the first, "
            "the nearest proxy must pass X-Forwarded-Proto and the Host header with its port)",
            origin,
            own,
        )


def cors_headers(response: Response, agent: Agent | None = None) -> Response:
    """Answer CORS for the origins ``agent`` allows, or any agent's before the request named one."""
    origin = request_origin()
    allowed = app_state().embed_origins if agent is None else agent.allowed_origins
    if origin is None or origin not in allowed:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers.add("Vary", "Origin")
    # Readable by the embedding page's script too: when to try again, and the reference to quote.
    response.headers["Access-Control-Expose-Headers"] = "Retry-After, X-Request-ID"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        # X-Sandbox-Id: agent-starter-react sends it to any connection-details endpoint (ignored).
        response.headers["Access-Control-Allow-Headers"] = (
            "Content-Type, Idempotency-Key, X-Bot-Token, X-Sandbox-Id"
        )
        response.headers["Access-Control-Max-Age"] = "600"
    return response
