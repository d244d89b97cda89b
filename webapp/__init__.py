"""webcall: talk to a voice AI agent from a web page.

``create_app()`` builds the Flask app from the environment (gunicorn runs
``webapp:create_app()``); tests pass their own :class:`Settings`.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from flask import Flask

from . import demo_links, errors, security
from .botcheck import BotVerifier, TurnstileVerifier
from .config import ConfigError, Settings
from .idempotency import MemoryReplay, RedisReplay, create_replay
from .providers import Provider, build_providers

ROOT = Path(__file__).resolve().parent.parent
WORKER_BOOT_ERROR = 3  # gunicorn's exit status for "this worker can never boot"


@dataclass(frozen=True)
class AppState:
    """What the request handlers need, stored once in ``app.extensions["webcall"]``."""

    settings: Settings
    providers: dict[str, Provider]
    replay: MemoryReplay | RedisReplay
    bot_verifier: BotVerifier | None
    http: httpx.Client
    embed_origins: frozenset[str]  # every origin some agent allows: the only ones CORS answers


def create_app(settings: Settings | None = None, *, http: httpx.Client | None = None) -> Flask:
    """Build the app: settings, providers, blueprints, security and error handling."""
    if settings is None:
        try:
            settings = Settings.from_env()
        except ConfigError as error:
            # One clear message, no traceback; exit status 3 tells gunicorn's master to stop
            # instead of restarting workers that can never boot.
            print(error, file=sys.stderr, flush=True)
            raise SystemExit(WORKER_BOOT_ERROR) from None
    _configure_logging(settings.log_level)
    app = Flask(__name__, static_folder=str(ROOT / "static"), template_folder=str(ROOT / "templates"))
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    client = http or httpx.Client(
        timeout=httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
        # Keep a connection alive per gunicorn thread, so busy threads don't reconnect.
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
        headers={"User-Agent": "webcall/0.1"},
    )
    verifier = None
    if settings.turnstile_secret_key:
        verifier = TurnstileVerifier(settings.turnstile_secret_key, settings.turnstile_verify_url, client)
    app.extensions["webcall"] = AppState(
        settings=settings,
        providers=build_providers(settings, client),
        replay=create_replay(settings.ratelimit_storage_uri, settings.idempotency_window_s),
        bot_verifier=verifier,
        http=client,
        embed_origins=frozenset(o for a in settings.agents.values() for o in a.allowed_origins),
    )
    security.init_app(app, settings)
    errors.init_app(app)
    demo_links.init_app(app)
    from . import api, embed, health, openapi, pages

    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(embed.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    return app


def _configure_logging(level: str) -> None:
    """One-line logs on stderr (gunicorn collects them); never reconfigure a host's logging."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("webapp").setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full URLs
