"""Guards on every call: origin, limits and budgets, idempotency, the bot check, security headers."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ..settings import ProxyNetwork, Settings
from . import headers
from .limits import host_of

log = logging.getLogger(__name__)


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


class UntrustedForwarding:
    """WSGI middleware with no proxy trusted: says once when a request names a forwarded client.

    Behind a proxy left out of ``WEBCALL_TRUSTED_PROXIES`` every visitor is the proxy's address,
    so they all share one allowance of the limits: a silent 429 for everyone at the busy hour.
    """

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app
        self.warned = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Warn at the first ``X-Forwarded-For``, then hand on."""
        if not self.warned and "HTTP_X_FORWARDED_FOR" in environ:
            self.warned = True
            log.warning(
                "a request came with X-Forwarded-For and WEBCALL_TRUSTED_PROXIES is 0: limits count "
                "the address that connects. Behind a proxy that is the proxy's, for every visitor alike: "
                "set WEBCALL_TRUSTED_PROXIES to the number of proxies in front (said once per process)"
            )
        return self.wsgi_app(environ, start_response)


# What a proxy tells the app about the request; from anyone else, a visitor's own words.
FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_REQUEST_ID")


class ProxiesAt:
    """WSGI middleware: forwarded headers believed only from the proxies at these addresses.

    A request from one of them is its proxy's: the visitor is the nearest address in
    ``X-Forwarded-For`` that is not another of them (a chain of trusted proxies is walked
    back), the scheme and host are the nearest proxy's. From any other address those headers
    (and ``X-Request-ID``) are dropped, so a visitor who reaches the app directly cannot
    name themselves someone else and escape the per-client limits.
    """

    def __init__(self, wsgi_app: Any, networks: Sequence[ProxyNetwork]) -> None:
        self.wsgi_app = wsgi_app
        self.networks = tuple(networks)
        self.fixes: dict[int, ProxyFix] = {}  # by the number of proxies a request came through
        self.warned = False

    def trusted(self, address: str) -> bool:
        """Whether ``address`` (a port a proxy wrote after it aside) is one of the proxies'."""
        try:
            ip = ipaddress.ip_address(host_of(address.strip()))
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Hand on through ProxyFix for as many hops as came through our proxies, or without
        the forwarded headers."""
        if not self.trusted(environ.get("REMOTE_ADDR", "")):
            if not self.warned and "HTTP_X_FORWARDED_FOR" in environ:
                self.warned = True
                log.warning(
                    "a request came with X-Forwarded-For from an address not in WEBCALL_TRUSTED_PROXIES: "
                    "its forwarded headers are ignored, the address that connects counts (said once per "
                    "process)"
                )
            for name in FORWARDED:
                environ.pop(name, None)
            return self.wsgi_app(environ, start_response)
        chain = environ.get("HTTP_X_FORWARDED_FOR", "").split(",")
        hops = 1
        for address in reversed(chain[1:]):  # the leftmost is the visitor's, whoever it is
            if not self.trusted(address):
                break
            hops += 1
        fix = self.fixes.get(hops)
        if fix is None:
            fix = self.fixes[hops] = ProxyFix(self.wsgi_app, x_for=hops, x_proto=1, x_host=1)
        return fix(environ, start_response)


def init_app(app: Flask, settings: Settings) -> None:
    """Trust proxies as configured and add the always-on headers."""
    if settings.public_url:
        # Innermost, so it has the last word over forwarded headers: the operator said where
        # the app lives.
        app.wsgi_app = PublicUrl(app.wsgi_app, settings.public_url)  # type: ignore[method-assign]
        app.config["PREFERRED_URL_SCHEME"] = urlsplit(settings.public_url).scheme
        app.config["SESSION_COOKIE_SECURE"] = settings.public_url.startswith("https://")
    if isinstance(settings.trusted_proxies, tuple):
        app.wsgi_app = ProxiesAt(app.wsgi_app, settings.trusted_proxies)  # type: ignore[method-assign]
    elif settings.trusted_proxies:
        # Each proxy adds itself to X-Forwarded-For, but X-Forwarded-Proto and -Host are set, not
        # added to, by nginx (docs/nginx.conf) and most proxies: the nearest one's values count.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=1, x_host=1)  # type: ignore[method-assign]
    else:
        app.wsgi_app = UntrustedForwarding(app.wsgi_app)  # type: ignore[method-assign]
    headers.init_app(app)
