"""Who may call, how often, and the headers every answer carries.

Rate limits use Flask-Limiter (memory by default; Redis via
``WEBCALL_RATELIMIT_STORAGE_URI`` so that several workers share one count).
``X-Forwarded-For`` is believed only behind ``WEBCALL_TRUSTED_PROXIES`` proxies.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from werkzeug.middleware.proxy_fix import ProxyFix

from .agents import Agent
from .config import Settings
from .errors import OriginNotAllowed, RateLimited


def client_ip() -> str:
    """The caller's address (already corrected by ProxyFix when proxies are trusted)."""
    return request.remote_addr or "unknown"


# The moving window is exact: no burst at a window's edge, and Retry-After says precisely when
# the oldest counted call leaves the window (the sliding-window counter only estimates it).
limiter = Limiter(key_func=client_ip, strategy="moving-window")


def request_origin() -> str | None:
    """The request's ``Origin``, lower-cased, or None when absent or ``null``."""
    origin = (request.headers.get("Origin") or "").strip().lower().rstrip("/")
    return None if origin in ("", "null") else origin


def check_origin(agent: Agent) -> None:
    """Refuse calls started from a site that is neither ours nor on the agent's list.

    Matching is exact on scheme, host and port. A browser always sends ``Origin``
    on a cross-site POST, so a cross-site request without one (or with ``null``,
    as sandboxed frames send) is refused too.
    """
    origin = request_origin()
    own = request.host_url.rstrip("/").lower()
    if origin is None:
        if request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none"):
            return
        raise OriginNotAllowed()
    if origin != own and origin not in agent.allowed_origins:
        raise OriginNotAllowed()


def cors_headers(response: Response) -> Response:
    """Answer CORS for origins some agent allows, and only those; each call still checks its agent."""
    origin = request_origin()
    if origin is None or origin not in current_app.extensions["webcall"].embed_origins:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers.add("Vary", "Origin")
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Idempotency-Key"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def csp_nonce() -> str:
    """A fresh nonce for this response's inline scripts."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def _origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, for a CSP source."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def page_headers(
    response: Response, *, microphone: bool, frame_ancestors: tuple[str, ...] = ("'none'",)
) -> Response:
    """A strict policy for our HTML pages; the microphone only where a call runs.

    ``frame_ancestors`` lists exactly who may frame the page (the iframe embed
    passes ``'self'`` and the agent's allowed origins). Turnstile's script and
    frame are allowed only when a bot check is configured.
    """
    settings = current_app.extensions["webcall"].settings
    turnstile = f" {_origin_of(settings.turnstile_script_url)}" if settings.turnstile_site_key else ""
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{csp_nonce()}'{turnstile}; style-src 'self'; "
        f"img-src 'self' data: https:; media-src 'self' blob:; frame-src 'self'{turnstile}; "
        "connect-src 'self' ws: wss: https:; worker-src 'self' blob:; "
        f"base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors {' '.join(frame_ancestors)}"
    )
    response.headers["Permissions-Policy"] = (
        "microphone=(self), autoplay=(self), camera=()" if microphone else "microphone=(), camera=()"
    )
    return response


def init_app(app: Flask, settings: Settings) -> None:
    """Trust proxies as configured, attach the limiter and the always-on headers."""
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.config["RATELIMIT_STORAGE_URI"] = settings.ratelimit_storage_uri
    limiter.init_app(app)

    @app.after_request
    def always(response: Response) -> Response:
        if request.path.startswith("/static/"):
            # Public, credential-free assets: embed widgets load them from other sites.
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def rate_limited_error() -> RateLimited:
    """The 429 for the limit just hit, with the seconds until it resets."""
    current = limiter.current_limit
    if current is None:
        return RateLimited(retry_after_s=60)
    window_s = current.limit.get_expiry()
    return RateLimited(retry_after_s=max(1, min(window_s, round(current.reset_at - time.time()))))
