"""Guards on every call: origin, limits and budgets, idempotency, the bot check, security headers."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ..settings import Settings
from . import headers
from .limits import limiter


def init_app(app: Flask, settings: Settings) -> None:
    """Trust proxies as configured, attach the limiter and the always-on headers."""
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.config["RATELIMIT_STORAGE_URI"] = settings.ratelimit_storage_uri
    limiter.init_app(app)
    headers.init_app(app)
