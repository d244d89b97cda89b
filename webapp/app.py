"""The app's wiring: ``create_app()`` builds the Flask app from the environment (gunicorn runs
``webapp:create_app()``); tests pass their own :class:`Settings`."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import httpx
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from . import guards, state, tracing
from .admin import api as admin_api
from .admin import auth as admin_auth
from .admin import events as admin_events
from .admin import events_api as admin_events_api
from .admin import links as admin_links
from .admin import links_api as admin_links_api
from .admin import views as admin_views
from .calls import api as calls_api
from .calls import feedback, token_endpoint
from .errors import ConfigError, StartupRefused
from .guards.botcheck import TurnstileVerifier
from .guards.idempotency import create_replay
from .guards.limits import Limits
from .history import events, sync, webhooks
from .history.store import CallStore
from .ops import cli, error_handlers, health, json_provider, metrics, openapi, request_bodies
from .ops.logging import configure_logging
from .pages import assets, embed, views, words
from .phone import api as phone_api
from .providers import ProviderContext, build_providers
from .providers.http11 import HTTP11Transport
from .settings import Settings, events_key

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)
WORKER_BOOT_ERROR = 3  # gunicorn's exit status for "this worker can never boot"
REPLACED_WORKER_PAUSE_S = 5.0  # a worker replacing another, that cannot start, waits this long to exit


def create_app(settings: Settings | None = None, *, http: httpx.Client | None = None) -> Flask:
    """Build the app: settings, providers, guards, blueprints and error handling."""
    try:
        settings = settings or Settings.from_env()
        browser_code = assets.Assets(ROOT / "static" / "dist")
    except ConfigError as error:
        # One clear message, no traceback, and the status that stops gunicorn (boot_failed).
        print(error, file=sys.stderr, flush=True)
        raise StartupRefused(error, boot_failed()) from None
    configure_logging(settings.log_level, settings.log_format)
    for warning in settings.warnings():
        log.warning("configuration: %s", warning)
    app = Flask(__name__, static_folder=str(ROOT / "static"), template_folder=str(ROOT / "templates"))
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    json_provider.init_app(app)
    client = http or httpx.Client(
        timeout=httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
        # A connection per request in flight, kept alive: a busy worker neither reconnects
        # nor waits for another call's connection; llhttp reads the answers (http11.py).
        transport=HTTP11Transport(),
        headers={"User-Agent": f"webcall/{openapi.VERSION}"},
    )
    history = open_call_log(settings, app.instance_path)
    sender = event_sender(settings, history)
    turnstile = settings.turnstile_secret_key
    context = ProviderContext(
        http=client,
        deadline_s=settings.provider_deadline_s,
        token_ttl_s=settings.token_ttl_s,
    )
    shared = state.AppState(
        settings=settings,
        providers=build_providers(settings.providers, context),
        replay=create_replay(
            settings.ratelimit_storage_uri, settings.idempotency_window_s, work_s=context.deadline_s
        ),
        limits=Limits(settings.ratelimit_storage_uri),
        bot_verifier=TurnstileVerifier(turnstile.get_secret_value(), settings.turnstile_verify_url, client)
        if turnstile
        else None,
        http=client,
        embed_origins=frozenset(o for a in settings.agents.values() for o in a.allowed_origins),
        assets=browser_code,
        history=history,
    )
    state.init_app(app, shared)
    tracing.init_app(app, trust_header=bool(settings.trusted_proxies))  # (ProxiesAt drops others')
    guards.init_app(app, settings)
    assets.init_app(app, browser_code)  # outermost: static files skip everything else
    words.init_app(app)
    admin_auth.init_app(app)
    sync.init_app(app, periodic_sync(shared))
    events.init_app(app, sender)
    error_handlers.init_app(app)
    request_bodies.init_app(app, settings.client_timeout_s)
    cli.init_app(app)
    metrics.init_app(app, settings)
    blueprints = (
        calls_api.bp,
        feedback.bp,
        token_endpoint.bp,
        phone_api.bp,
        views.bp,
        embed.bp,
        health.bp,
        openapi.bp,
        webhooks.bp,
        admin_api.bp,
        admin_views.bp,
        admin_links.bp,
        admin_links_api.bp,
        admin_events.bp,
        admin_events_api.bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app


def periodic_sync(shared: state.AppState) -> sync.PeriodicSync | None:
    """The background history sync, when ``WEBCALL_HISTORY_SYNC_INTERVAL_S`` asks for one."""
    interval_s = shared.settings.history_sync_interval_s
    if not interval_s:
        return None

    def run() -> None:
        sync.sync_all(shared.providers, shared.settings.agents.values(), shared.history)

    return sync.PeriodicSync(run, shared.history, interval_s)


def event_sender(settings: Settings, history: CallStore) -> events.EventSender | None:
    """What sends events to ``WEBCALL_EVENTS_URL``, when it is set."""
    if not settings.events_url or settings.events_secret is None:
        return None
    key = events_key(settings.events_secret.get_secret_value())
    return events.EventSender(history, settings.events_url, key, user_agent=f"webcall/{openapi.VERSION}")


def open_call_log(settings: Settings, instance_path: str) -> CallStore:
    """The call log, created or upgraded on the spot; a database we cannot use stops the start.
    With ``WEBCALL_EVENTS_URL`` set, it keeps an event with each change to a call (of the
    types ``WEBCALL_EVENTS_TYPES`` names)."""
    events = settings.events_types if settings.events_url else ()
    try:
        store = CallStore(settings.database_url_in(instance_path), events=events)
        store.migrate()
    except (SQLAlchemyError, OSError) as error:
        # The driver's first line names the problem (a URL's password never appears in it).
        cause = getattr(error, "orig", None) or error
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]
        print(
            f"webcall cannot open its call log (WEBCALL_DATABASE_URL): {reason}", file=sys.stderr, flush=True
        )
        raise SystemExit(boot_failed()) from None
    return store


def boot_failed() -> int:
    """The exit status of a process that cannot start. For gunicorn's first workers 3, which tells
    its master to stop rather than start workers that can never boot. A worker replacing another
    (gunicorn.conf.py's ``post_fork`` says so) exits 1 after a pause instead: its master starts
    another until one can (a database back from a restart, a reload reading a mended ``.env``),
    where 3 would stop the server that was serving until then."""
    if os.environ.get("WEBCALL_WORKER_REPLACES"):
        time.sleep(REPLACED_WORKER_PAUSE_S)
        return 1
    return WORKER_BOOT_ERROR
