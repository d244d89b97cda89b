"""Who may start a call: our own pages, the agent's allowed origins (CORS, Origin), nobody else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.support.apps import build_app

CATALOGUE = """
[agents.sales]
provider = "livekit"
agent_id = "webcall-demo"
allowed_origins = ["https://shop.example.com", "http://127.0.0.1:8123"]

[agents.private]
provider = "livekit"
agent_id = "webcall-demo"
"""


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    """The app with an embeddable agent and a private one."""
    return build_app(tmp_path, CATALOGUE)


def call(app: Flask, agent: str, origin: str | None, **extra: Any) -> Any:
    """POST a call as a browser on ``origin`` would."""
    headers = {"Origin": origin, "Sec-Fetch-Site": "cross-site"} if origin else {}
    return app.test_client().post("/api/calls", json={"agent": agent, **extra}, headers=headers)


def test_allowed_origin_gets_a_call_and_cors(app: Flask) -> None:
    response = call(app, "sales", "https://shop.example.com")
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "Origin" in response.headers["Vary"]
    # The embedding page's script may read when to try again and the reference to quote.
    assert response.headers["Access-Control-Expose-Headers"] == "Retry-After, X-Request-ID"
    assert response.headers["X-Request-ID"]


def test_preflight_answers_only_allowed_origins(app: Flask) -> None:
    client = app.test_client()
    ok = client.options(
        "/api/calls",
        headers={"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "Idempotency-Key" in ok.headers["Access-Control-Allow-Headers"]
    evil = client.options(
        "/api/calls", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in evil.headers


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://shop.example.com.evil.example",  # no suffix tricks
        "https://evil-shop.example.com",
        "http://shop.example.com",  # scheme is part of the origin
        "https://shop.example.com:8443",  # and so is the port
        "null",  # sandboxed frames and file pages
    ],
)
def test_other_origins_are_refused(app: Flask, origin: str) -> None:
    response = call(app, "sales", origin)
    assert (response.status_code, response.get_json()["error"]["code"]) == (403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cross_site_request_without_origin_is_refused(app: Flask) -> None:
    response = app.test_client().post(
        "/api/calls", json={"agent": "sales"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("referer", "status"),
    [
        ("https://evil.example/landing", 403),  # a cross-site page, seen by its address alone
        ("https://shop.example.com/pricing?x=1", 201),  # an allowed site's page
        ("http://localhost/talk/sales", 201),  # our own page
        (None, 201),  # neither header: curl or a server, not a page
    ],
)
def test_without_origin_the_referer_names_the_page(app: Flask, referer: str | None, status: int) -> None:
    """A request without Origin or Sec-Fetch-Site (an older browser, a proxy that strips them)
    was let through even when its Referer was another site's page."""
    headers = {"Referer": referer} if referer else {}
    response = app.test_client().post("/api/calls", json={"agent": "sales"}, headers=headers)
    assert response.status_code == status, response.get_json()


@pytest.mark.parametrize(
    "value", ["http://[", "http://localhost:99999", "http://localhost:-1", "http://localhost:80x"]
)
def test_an_origin_or_referer_that_is_no_url_is_answered_not_crashed_on(app: Flask, value: str) -> None:
    """Found by fuzzing: a value ``urlsplit`` refuses (or whose port is not a port) was a 500
    with a traceback. An Origin is then refused like any other site's; a Referer that cannot
    be read is none (browsers send well-formed ones), and one that names another port is refused."""
    refused = call(app, "sales", value)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (403, "origin_not_allowed")
    response = app.test_client().post("/api/calls", json={"agent": "sales"}, headers={"Referer": value})
    assert response.status_code == (201 if value == "http://[" else 403), response.get_json()


def test_an_origin_allowed_for_one_agent_is_not_allowed_for_another(app: Flask) -> None:
    response = call(app, "private", "https://shop.example.com")
    assert (response.status_code, response.get_json()["error"]["code"]) == (403, "origin_not_allowed")
    # Nor does it read the refusal: CORS answers the named agent's origins only.
    assert "Access-Control-Allow-Origin" not in response.headers


def test_own_origin_is_always_allowed(app: Flask) -> None:
    assert call(app, "private", "http://localhost").status_code == 201


def test_behind_a_tls_proxy_the_public_url_is_our_origin(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The proxy speaks plain HTTP to us; the browser's Origin is https://: one setting fixes it."""
    page = {"Origin": "https://calls.example.com", "Sec-Fetch-Site": "same-origin"}
    behind = {"base_url": "http://calls.example.com"}  # what the app sees: the proxy's plain HTTP
    unset = build_app(tmp_path, CATALOGUE).test_client()
    with caplog.at_level("WARNING", logger="webapp.guards.origin"):
        refused = unset.post("/api/calls", json={"agent": "private"}, headers=page, **behind)
    assert refused.status_code == 403
    assert "WEBCALL_PUBLIC_URL" in caplog.text  # the log says which setting to set
    fixed = build_app(tmp_path, CATALOGUE, WEBCALL_PUBLIC_URL="https://calls.example.com").test_client()
    assert fixed.post("/api/calls", json={"agent": "private"}, headers=page, **behind).status_code == 201
    panel = fixed.get("/embed/sales/panel", headers={"Origin": "https://shop.example.com"}, **behind)
    assert panel.get_json()["config"]["api_url"] == "https://calls.example.com/api/calls"
    # Another site is still refused, and says nothing about our settings.
    caplog.clear()
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert fixed.post("/api/calls", json={"agent": "private"}, headers=evil, **behind).status_code == 403
    assert "WEBCALL_PUBLIC_URL" not in caplog.text


@pytest.mark.parametrize("origin", ["https://localhost", "http://localhost:8443"])
def test_our_own_page_refused_behind_a_proxy_says_which_setting_fixes_it(
    app: Flask, origin: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The test client is http://localhost: a page of ours seen with another scheme or port."""
    assert call(app, "private", origin).status_code == 403
    assert any("WEBCALL_PUBLIC_URL" in r.getMessage() for r in caplog.records)
    caplog.clear()
    assert call(app, "private", "https://evil.example").status_code == 403
    assert not any("WEBCALL_PUBLIC_URL" in r.getMessage() for r in caplog.records)  # another site: no hint


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("GET", "/api/call", 404, "not_found"), ("GET", "/api/calls", 405, "method_not_allowed")],
)
def test_an_unrouted_api_error_answers_cors_to_allowed_origins(
    app: Flask, method: str, path: str, status: int, code: str
) -> None:
    """An embed's mistake (a mistyped path, a wrong method) reaches its page as a readable error."""
    client = app.test_client()
    allowed = client.open(path, method=method, headers={"Origin": "https://shop.example.com"})
    assert (allowed.status_code, allowed.get_json()["error"]["code"]) == (status, code)
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert allowed.headers.getlist("Vary") == ["Origin"]
    evil = client.open(path, method=method, headers={"Origin": "https://evil.example"})
    assert evil.status_code == status and "Access-Control-Allow-Origin" not in evil.headers
