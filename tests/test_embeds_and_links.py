"""Who may embed an agent (CORS, Origin, frame-ancestors) and signed sales-demo links."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import build_app
from webapp.demo_links import sign_demo_link

SECRET = "demo-link-secret-0123456789abcdefghij"
CATALOGUE = """
[agents.sales]
provider = "livekit"
agent_id = "webcall-demo"
title = "Acme sales"
variables = { company = "you" }
allowed_origins = ["https://shop.example.com", "http://127.0.0.1:8123"]

[agents.private]
provider = "livekit"
agent_id = "webcall-demo"
"""


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    """The app with an embeddable agent and a private one."""
    return build_app(tmp_path, CATALOGUE, WEBCALL_SECRET_KEY=SECRET)


def call(app: Flask, agent: str, origin: str | None, **extra: Any) -> Any:
    """POST a call as a browser on ``origin`` would."""
    headers = {"Origin": origin, "Sec-Fetch-Site": "cross-site"} if origin else {}
    return app.test_client().post("/api/calls", json={"agent": agent, **extra}, headers=headers)


def test_allowed_origin_gets_a_call_and_cors(app: Flask) -> None:
    response = call(app, "sales", "https://shop.example.com")
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "Origin" in response.headers["Vary"]


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


def test_an_origin_allowed_for_one_agent_is_not_allowed_for_another(app: Flask) -> None:
    assert call(app, "private", "https://shop.example.com").status_code == 403


def test_own_origin_is_always_allowed(app: Flask) -> None:
    assert call(app, "private", "http://localhost").status_code == 201


def test_iframe_page_names_exactly_the_allowed_ancestors(app: Flask) -> None:
    response = app.test_client().get("/embed/sales")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    ancestors = re.search(r"frame-ancestors ([^;]+)", csp).group(1).split()  # type: ignore[union-attr]
    assert ancestors == ["'self'", "https://shop.example.com", "http://127.0.0.1:8123"]
    private = app.test_client().get("/embed/private").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in private and "shop.example.com" not in private
    assert "frame-ancestors 'none'" in app.test_client().get("/talk/sales").headers["Content-Security-Policy"]


def link_token(agent: str = "sales", expires_in_s: int = 3600, **variables: str) -> str:
    """A demo link token signed like the CLI signs it."""
    return sign_demo_link(SECRET, agent, variables, int(time.time()) + expires_in_s)


def test_valid_demo_link_presets_the_variables(app: Flask) -> None:
    token = link_token(company="Acme", name="Jo")
    page = app.test_client().get(f"/demo/sales?t={token}")
    assert page.status_code == 200 and "Acme" in page.get_data(as_text=True)
    answer = call(app, "sales", None, demo_token=token).get_json()
    import jwt

    claims = jwt.decode(answer["livekit"]["token"], options={"verify_signature": False})
    assert '"company": "Acme"' in claims["roomConfig"]["agents"][0]["metadata"]


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), 403),  # tampered signature
        (lambda t: link_token(company="Evil") + "x", 403),
    ],
)
def test_tampered_link_shows_a_clear_page_and_no_call(app: Flask, mutate: Any, status: int) -> None:
    page = app.test_client().get(f"/demo/sales?t={mutate(link_token(company='Acme'))}")
    assert page.status_code == status
    body = page.get_data(as_text=True)
    assert "not valid" in body and 'id="talk"' not in body


def test_tampered_variable_or_expiry_is_refused(app: Flask) -> None:
    """Changing the payload (a variable or the expiry) breaks the signature."""
    good = link_token(company="Acme")
    payload, signature = good.rsplit(".", 1)
    forged_payload = link_token(company="Evil", expires_in_s=10**8).rsplit(".", 1)[0]
    for forged in (f"{forged_payload}.{signature}",):
        assert app.test_client().get(f"/demo/sales?t={forged}").status_code == 403
        refused = call(app, "sales", None, demo_token=forged)
        assert refused.get_json()["error"]["code"] == "invalid_demo_link"
    assert payload != forged_payload


def test_expired_link(app: Flask) -> None:
    token = link_token(expires_in_s=-1)
    page = app.test_client().get(f"/demo/sales?t={token}")
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    assert 'id="talk"' not in page.get_data(as_text=True)
    assert call(app, "sales", None, demo_token=token).get_json()["error"]["code"] == "demo_link_expired"


def test_link_for_another_or_unknown_agent(app: Flask) -> None:
    assert app.test_client().get(f"/demo/private?t={link_token()}").status_code == 403
    assert app.test_client().get(f"/demo/nobody?t={link_token('nobody')}").status_code == 404


def test_cli_prints_a_working_link(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "demo-link",
            "sales",
            "--var",
            "company=Acme",
            "--expires",
            "7d",
            "--base-url",
            "https://x.test",
        ]
    )
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("https://x.test/demo/sales?t=")
    token = link.split("?t=", 1)[1]
    assert app.test_client().get(f"/demo/sales?t={token}").status_code == 200
    bad = app.test_cli_runner().invoke(args=["demo-link", "sales", "--expires", "soon"])
    assert bad.exit_code != 0
    dated = app.test_cli_runner().invoke(args=["demo-link", "sales", "--expires", "2001-01-01"])
    expired = dated.output.strip().split("?t=", 1)[1]
    assert app.test_client().get(f"/demo/sales?t={expired}").status_code == 410
