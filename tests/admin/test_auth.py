"""Admin sessions: they last 8 hours from sign-in whatever refreshes their cookie, signing out ends
every copy of one (on every worker, with Redis), and a storage that cannot say signs nobody in."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from tests.admin.conftest import CATALOGUE, csrf_of, sign_in  # noqa: F401  (make_app reads CATALOGUE)
from tests.guards.conftest import DoomedRedis

Clock = Callable[[timedelta], None]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Moves this process's clock on: ``time.time``, which signs the cookie, dates the session and
    keeps the limits' windows (the test client's cookie jar keeps real time)."""
    real = time.time
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])

    def advance(by: timedelta) -> None:
        offset[0] += by.total_seconds()

    return advance


def copy_of_session(client: FlaskClient, app: Flask) -> FlaskClient:
    """Another browser holding ``client``'s session cookie (copied from a shared machine, say)."""
    cookie = client.get_cookie("webcall_admin", path="/admin")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("webcall_admin", cookie.value, path="/admin")
    return other


def sign_out(client: FlaskClient) -> Any:
    """Press "Sign out" on the list page."""
    token = csrf_of(client.get("/admin").get_data(as_text=True))
    return client.post("/admin/logout", data={"csrf_token": token})


def test_a_session_ends_8_hours_after_sign_in_however_often_its_cookie_is_refreshed(
    admin_app: Callable[..., Flask], clock: Clock
) -> None:
    """Flask re-issues a permanent session's cookie on every request and the page polls every 5 s:
    an open tab (or a copied cookie, carried forward the same way) stayed signed in for ever."""
    app = admin_app()
    client = app.test_client()
    assert sign_in(client).status_code == 303
    clock(timedelta(hours=7))
    polled = client.get("/admin/live.json")
    assert polled.status_code == 200 and "webcall_admin=" in polled.headers["Set-Cookie"]  # refreshed
    copy = copy_of_session(client, app)
    clock(timedelta(minutes=59))
    assert client.get("/admin/live.json").status_code == 200
    clock(timedelta(minutes=1))  # 8 hours since the password was given
    for browser in (client, copy):
        assert browser.get("/admin/live.json").status_code == 401
        assert browser.get("/admin").headers["Location"] == "/admin/login?next=%2Fadmin"
    for _ in range(3):  # +14 h, +20 h, +26 h: never again
        clock(timedelta(hours=6))
        assert copy.get("/admin").status_code == 303
    assert sign_in(client).status_code == 303  # the password opens a new 8 hours
    assert client.get("/admin").status_code == 200


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_signing_out_ends_every_copy_of_the_session(
    admin_app: Callable[..., Flask], storage: str, request: pytest.FixtureRequest
) -> None:
    """Signing out cleared only the signing-out browser's cookie: a copy of it kept working."""
    uri = "memory://"
    if storage == "redis":
        uri = request.getfixturevalue("redis_url")
        redis.Redis.from_url(uri).flushdb()
    app = admin_app(WEBCALL_RATELIMIT_STORAGE_URI=uri)
    # With Redis, the copy is sent to another worker or host: another app on the same Redis.
    elsewhere = admin_app(WEBCALL_RATELIMIT_STORAGE_URI=uri) if storage == "redis" else app
    client = app.test_client()
    sign_in(client)
    copy = copy_of_session(client, elsewhere)
    assert copy.get("/admin").status_code == 200
    assert sign_out(client).status_code == 303
    assert client.get("/admin").status_code == 303
    assert copy.get("/admin").status_code == 303
    assert copy.get("/admin/live.json").status_code == 401
    sign_in(client)  # a new session: the old one's copy stays out
    assert client.get("/admin").status_code == 200 and copy.get("/admin").status_code == 303


def test_while_the_storage_is_down_nobody_is_signed_in_and_nothing_fails(
    admin_app: Callable[..., Flask], doomed_redis: DoomedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Whether a session was signed out cannot be read: it is refused (not a 500), and signing in
    says it cannot be done now, on its page."""
    client = admin_app(WEBCALL_RATELIMIT_STORAGE_URI=doomed_redis.url).test_client()
    sign_in(client)
    assert client.get("/admin").status_code == 200
    doomed_redis.kill()
    with caplog.at_level(logging.ERROR, logger="webapp.admin.auth"):
        listing, live, login = [client.get(path) for path in ("/admin", "/admin/live.json", "/admin/login")]
    assert listing.status_code == 303 and listing.headers["Location"] == "/admin/login?next=%2Fadmin"
    assert (live.status_code, live.get_json()["error"]["code"]) == (401, "signed_out")
    assert login.status_code == 200 and 'type="password"' in login.get_data(as_text=True)
    refused = sign_in(client)  # the sign-in page again, saying so (it was the API's JSON)
    assert (refused.status_code, refused.mimetype) == (503, "text/html")
    assert "Signing in is not possible right now" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) >= 1
    logged = [record for record in caplog.records if record.name == "webapp.admin.auth"]
    assert logged and {record.getMessage() for record in logged} == {
        "admin: the session could not be checked, so it is refused"
    }
    assert all(record.exc_info is None for record in logged)  # a line, not a traceback
