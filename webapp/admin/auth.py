"""Who may read the call log: a bearer token for the API; a password, a session and CSRF for the view.

Secrets are compared in constant time (as digests, so not even their length shows). The
session cookie holds a keyed fingerprint of the password it was opened with (changing
``WEBCALL_ADMIN_PASSWORD`` signs every session out), a random id of its own and the time of
sign-in. A session lasts ``SESSION_LIFETIME`` from sign-in, however often its cookie is sent
again (Flask re-issues a permanent session's cookie on every request, and the page polls every
5 s). Signing out refuses the session's id where the limits are kept (memory, or the Redis every
worker and host shares), so a copy of the cookie is signed out too; while that storage cannot
be read, no session is signed in. The cookie is scoped to ``/admin``, ``HttpOnly``,
``SameSite=Lax`` and ``Secure`` whenever the request came over HTTPS.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from datetime import timedelta

from flask import Flask, Request, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from limits import RateLimitItemPerSecond
from limits.errors import StorageError

from ..errors import AdminTokenRequired, TooManyWrongTokens
from ..guards.limits import PER_CLIENT_SCOPES, Tally, parsed, per_client
from ..settings import same_secret
from ..state import app_state

SIGNED_IN = "admin"  # session key: the password's fingerprint
SESSION_ID = "sid"  # session key: this session's random id (what signing out refuses)
SIGNED_IN_AT = "since"  # session key: when the password was given (Unix time, whole seconds)
CSRF = "csrf"  # session key: this session's form token
SESSION_LIFETIME = timedelta(hours=8)  # from sign-in, whatever the cookie's refreshes say
# A signed-out session's id is a full window of one in the limits' storage, for as long as a
# session can live: the sign-in limit's storage, so every worker and host sees it.
SIGNED_OUT = RateLimitItemPerSecond(1, int(SESSION_LIFETIME.total_seconds()))
SIGNED_OUT_SCOPE = "admin-signed-out"
CHECKED = "webcall_admin_signed_in"  # on flask.g: this request's answer of signed_in()
ADMIN_PATH = "/admin"  # the session cookie's path: the only place a session exists
LOGIN_LIMIT = "5/minute;30/hour"  # password guesses per client
TOKEN_LIMIT = LOGIN_LIMIT  # wrong API tokens per client
TOKEN_SCOPE = "admin-token"
PER_CLIENT_SCOPES.add(TOKEN_SCOPE)  # counted per client: a full in-memory table may drop its windows
log = logging.getLogger(__name__)


def require_token() -> None:
    """The request carries ``Authorization: Bearer <WEBCALL_ADMIN_TOKEN>``, or ``AdminTokenRequired``.

    Wrong tokens are guesses, limited as passwords are (``TOKEN_LIMIT`` per client, each one
    logged): past the limit the client waits (``TooManyWrongTokens``), with the right token too. A request
    without ``Authorization`` guesses nothing: it is refused, and not counted.
    """
    header = request.headers.get("Authorization", "")
    if not header:
        raise AdminTokenRequired()
    expected = app_state().settings.admin_token
    scheme, _, given = header.partition(" ")
    client = per_client()
    if (
        expected is not None
        and scheme.lower() == "bearer"
        and same_secret(given.strip(), expected.get_secret_value())
    ):
        wait_s = _token_wait_s(client)
    else:
        log.warning("admin: an API request with a wrong token")  # never the token: a near miss is a leak
        wait_s = Tally(app_state().limits).spend(TOKEN_LIMIT, TOKEN_SCOPE, client)
        if wait_s is None:
            raise AdminTokenRequired()
    if wait_s is not None:
        raise TooManyWrongTokens(f"Too many wrong tokens. Try again in {wait_s} s.", retry_after_s=wait_s)


def _token_wait_s(client: str) -> int | None:
    """Seconds until ``client``'s wrong tokens leave a full window of ``TOKEN_LIMIT``, or None
    when none is full (nothing is counted)."""
    limits = app_state().limits
    waits = (limits.wait_s(item, TOKEN_SCOPE, client) for item in parsed(TOKEN_LIMIT))
    return next((wait_s for wait_s in waits if wait_s is not None), None)


def view_enabled() -> bool:
    """True when ``WEBCALL_ADMIN_PASSWORD`` is set (otherwise ``/admin`` does not exist)."""
    return app_state().settings.admin_password is not None


def _fingerprint() -> str:
    """A keyed fingerprint of the current password (never the password itself)."""
    settings = app_state().settings
    password = settings.admin_password.get_secret_value() if settings.admin_password else ""
    return hmac.new(settings.secret_key.encode(), password.encode(), hashlib.sha256).hexdigest()[:32]


def password_matches(given: str) -> bool:
    """True when ``given`` is the admin password."""
    password = app_state().settings.admin_password
    return password is not None and same_secret(given, password.get_secret_value())


def sign_in() -> None:
    """Open a fresh session: a new id, its start, and a new CSRF token (nothing from before
    sign-in carries over)."""
    session.clear()
    session.permanent = True
    session[SIGNED_IN] = _fingerprint()
    session[SESSION_ID] = secrets.token_urlsafe(32)
    session[SIGNED_IN_AT] = int(time.time())
    session[CSRF] = secrets.token_urlsafe(32)
    g.pop(CHECKED, None)


def signed_in() -> bool:
    """True when this session was opened with the current password less than ``SESSION_LIFETIME``
    ago and was not signed out since, in this browser or another (asked once per request)."""
    if CHECKED not in g:
        setattr(g, CHECKED, _session_valid())
    return bool(g.get(CHECKED))


def _session_valid() -> bool:
    """The checks behind :func:`signed_in`, the storage last (a round trip to Redis)."""
    fingerprint, session_id, since = (session.get(k) for k in (SIGNED_IN, SESSION_ID, SIGNED_IN_AT))
    if not isinstance(fingerprint, str) or not hmac.compare_digest(fingerprint, _fingerprint()):
        return False
    if not isinstance(session_id, str) or not isinstance(since, int):
        return False  # a session from before sessions had an id and a start
    if time.time() - since >= SESSION_LIFETIME.total_seconds():
        return False
    return not _signed_out(session_id)


def _signed_out(session_id: str) -> bool:
    """Whether ``session_id`` was signed out (its window is full); when the storage cannot say,
    it was (fail closed)."""
    try:
        return app_state().limits.is_full(SIGNED_OUT, SIGNED_OUT_SCOPE, session_id)
    except StorageError as problem:
        log.error("admin: the session could not be checked, so it is refused",
                  extra={"problem": str(problem.storage_error)})  # fmt: skip
        return True


def sign_out() -> None:
    """End the session everywhere: its id is refused from now on (any copy of the cookie too),
    then this browser's cookie is cleared.

    ``LimitsUnavailable`` (503) when the storage cannot be reached: the session is left as it
    was, to sign out again.
    """
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str):
        app_state().limits.hit(SIGNED_OUT, SIGNED_OUT_SCOPE, session_id)
    session.clear()
    g.pop(CHECKED, None)


def csrf_token() -> str:
    """This session's form token (made on first use, before sign-in too)."""
    token = session.get(CSRF)
    if not isinstance(token, str):
        token = session[CSRF] = secrets.token_urlsafe(32)
    return token


def csrf_ok(form_token: str | None) -> bool:
    """True when a form sent back this session's token."""
    token = session.get(CSRF)
    return isinstance(token, str) and isinstance(form_token, str) and same_secret(form_token, token)


class AdminSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session under ``/admin``, marked ``Secure`` whenever the request came
    over HTTPS. Nothing else has a session (the cookie's path keeps it there): other requests,
    the calls API's hot path among them, skip reading the cookie and building its signer."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """The signed session under ``/admin``; Flask's null session (it refuses writes) elsewhere."""
        if request.path != ADMIN_PATH and not request.path.startswith(ADMIN_PATH + "/"):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        """HTTPS as the request arrived (``X-Forwarded-Proto`` only behind trusted proxies)."""
        current: Request | None = request if request else None
        return bool(app.config["SESSION_COOKIE_SECURE"] or (current is not None and current.is_secure))


def init_app(app: Flask) -> None:
    """The session cookie's name, scope and flags."""
    app.config.update(
        SESSION_COOKIE_NAME="webcall_admin",
        SESSION_COOKIE_PATH=ADMIN_PATH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    app.session_interface = AdminSessionInterface()
