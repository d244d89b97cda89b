"""Who may read the call log: a bearer token for the API; a password, a session and CSRF for the view.

Secrets are compared in constant time (as digests, so not even their length shows). The
session cookie holds a keyed fingerprint of the password it was opened with: changing
``WEBCALL_ADMIN_PASSWORD`` signs every session out. The cookie is scoped to ``/admin``,
``HttpOnly``, ``SameSite=Lax`` and ``Secure`` whenever the request came over HTTPS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import Flask, Request, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from ..errors import AdminTokenRequired
from ..state import app_state

SIGNED_IN = "admin"  # session key: the password's fingerprint
CSRF = "csrf"  # session key: this session's form token
SESSION_LIFETIME = timedelta(hours=8)
ADMIN_PATH = "/admin"  # the session cookie's path: the only place a session exists
LOGIN_LIMIT = "5/minute;30/hour"  # password guesses per client


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality that does not even leak the length."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def require_token() -> None:
    """The request carries ``Authorization: Bearer <WEBCALL_ADMIN_TOKEN>``, or ``AdminTokenRequired``."""
    expected = app_state().settings.admin_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if (
        expected is None
        or scheme.lower() != "bearer"
        or not same_secret(given.strip(), expected.get_secret_value())
    ):
        raise AdminTokenRequired()


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
    """Open a fresh session (a new CSRF token too: nothing from before sign-in carries over)."""
    session.clear()
    session.permanent = True
    session[SIGNED_IN] = _fingerprint()
    session[CSRF] = secrets.token_urlsafe(32)


def signed_in() -> bool:
    """True when this session was opened with the current password."""
    fingerprint = session.get(SIGNED_IN)
    return isinstance(fingerprint, str) and hmac.compare_digest(fingerprint, _fingerprint())


def sign_out() -> None:
    """Forget the session."""
    session.clear()


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
