"""Guards on every call: origin, limits and budgets, idempotency, the bot check, security headers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ..settings import Settings
from . import headers


class PublicUrl:
    """WSGI middleware: every request is seen at the configured public origin.

    Behind a TLS proxy the app is reached over plain HTTP, so without this its own pages'
    ``https://`` Origin would not match the host it sees, and links it builds would be wrong.
    """

    def __init__(self, wsgi_app: Any, public_url: str) -> None:
        parts = urlsplit(public_url)
        self.wsgi_app = wsgi_app
        self.scheme = parts.scheme
        self.host = parts.netloc

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Set the scheme and host, then hand on."""
        environ["wsgi.url_scheme"] = self.scheme
        environ["HTTP_HOST"] = self.host
        return self.wsgi_app(environ, start_response)


def init_app(app: Flask, settings: Settings) -> None:
    """Trust proxies as configured and add the always-on headers."""
    if settings.public_url:
        # Innermost, so it has the last word over forwarded headers: the operator said where
        # the app lives.
        app.wsgi_app = PublicUrl(app.wsgi_app, settings.public_url)  # type: ignore[method-assign]
        app.config["PREFERRED_URL_SCHEME"] = urlsplit(settings.public_url).scheme
        app.config["SESSION_COOKIE_SECURE"] = settings.public_url.startswith("https://")
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    headers.init_app(app)
