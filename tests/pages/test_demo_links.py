"""Signed, expiring sales-demo links: presets, tampering, expiry and the CLI."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask
from itsdangerous.encoding import base64_decode, base64_encode

from tests.support.apps import build_app
from webapp.pages.demo_links import parse_expiry, sign_demo_link

SECRET = "demo-link-secret-0123456789abcdefghij"
CATALOGUE = """
[agents.sales]
provider = "livekit"
agent_id = "webcall-demo"
title = "Acme sales"
variables = { company = "you" }

[agents.private]
provider = "livekit"
agent_id = "webcall-demo"
"""


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    """The app with two agents and a stable secret key."""
    return build_app(tmp_path, CATALOGUE, WEBCALL_SECRET_KEY=SECRET)


def call(app: Flask, agent: str, **fields: Any) -> Any:
    """POST a call from our own page."""
    return app.test_client().post("/api/calls", json={"agent": agent, **fields})


def link_token(agent: str = "sales", expires_in_s: int = 3600, **variables: str) -> str:
    """A demo link token signed like the CLI signs it."""
    return sign_demo_link(SECRET, agent, variables, int(time.time()) + expires_in_s)


def test_valid_demo_link_presets_the_variables(app: Flask) -> None:
    token = link_token(company="Acme", name="Jo")
    page = app.test_client().get(f"/demo/sales?t={token}")
    assert page.status_code == 200 and "Acme" in page.get_data(as_text=True)
    answer = call(app, "sales", demo_token=token).get_json()
    claims = jwt.decode(answer["livekit"]["token"], options={"verify_signature": False})
    assert '"company": "Acme"' in claims["roomConfig"]["agents"][0]["metadata"]


def test_the_demo_page_sends_no_token_in_its_referers(app: Flask) -> None:
    """The page's own requests (assets, the API) send its origin as their referer, not its
    address with the link's token, whether the link is good or refused."""
    client = app.test_client()
    for token in (link_token(company="Acme"), link_token(company="Acme") + "x"):
        assert client.get(f"/demo/sales?t={token}").headers["Referrer-Policy"] == "strict-origin"
    assert client.get("/talk/sales").headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_a_demo_links_page_is_its_visitors_alone_to_keep(app: Flask) -> None:
    """The page holds the link's token: it was `no-cache`, which a shared cache may store (and
    hand out), compressed as pages with nothing secret in them are, and indexable. A page
    without a link is as before."""
    client = app.test_client()
    token = link_token(company="Acme")
    page = client.get(f"/demo/sales?t={token}", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200 and token in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "private, no-cache" and page.headers["X-Robots-Tag"] == "noindex"
    assert "Content-Encoding" not in page.headers
    again = client.get(f"/demo/sales?t={token}", headers={"If-None-Match": page.headers["ETag"]})
    assert again.status_code == 304  # the visitor's own browser still revalidates it
    plain = client.get("/demo/sales", headers={"Accept-Encoding": "gzip"})
    assert plain.headers["Cache-Control"] == "no-cache" and plain.headers["Content-Encoding"] == "gzip"
    assert "X-Robots-Tag" not in plain.headers


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


def forge(token: str, **changes: object) -> str:
    """The token with one field of its signed payload changed and the old signature kept."""
    payload, signature = token.rsplit(".", 1)
    data = json.loads(base64_decode(payload))
    data.update(changes)
    return f"{base64_encode(json.dumps(data, separators=(',', ':'))).decode()}.{signature}"


def test_a_tampered_variable_is_refused(app: Flask) -> None:
    good = link_token(company="Acme")
    forged = forge(good, v={"company": "Evil"})
    assert app.test_client().get(f"/demo/sales?t={good}").status_code == 200
    assert app.test_client().get(f"/demo/sales?t={forged}").status_code == 403
    assert call(app, "sales", demo_token=forged).get_json()["error"]["code"] == "invalid_demo_link"


def test_a_tampered_expiry_is_refused(app: Flask) -> None:
    expired = link_token(company="Acme", expires_in_s=-60)
    forged = forge(expired, e=int(time.time()) + 10**8)  # pushed into the future
    page = app.test_client().get(f"/demo/sales?t={forged}")
    assert page.status_code == 403 and "not valid" in page.get_data(as_text=True)
    assert call(app, "sales", demo_token=forged).get_json()["error"]["code"] == "invalid_demo_link"


def test_expired_link(app: Flask) -> None:
    token = link_token(expires_in_s=-1)
    page = app.test_client().get(f"/demo/sales?t={token}")
    assert page.status_code == 410 and "This demo link has expired." in page.get_data(as_text=True)
    assert 'id="talk"' not in page.get_data(as_text=True)
    error = call(app, "sales", demo_token=token).get_json()["error"]
    assert (error["code"], error["message"]) == (
        "demo_link_expired",
        "This demo link has expired. Ask for a new one.",
    )


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
    month_ahead = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    dated = app.test_cli_runner().invoke(args=["demo-link", "sales", "--expires", month_ahead])
    assert dated.output.startswith("http://127.0.0.1:8000/demo/sales?t=")  # no WEBCALL_PUBLIC_URL here
    past = app.test_cli_runner().invoke(args=["demo-link", "sales", "--expires", "2001-01-01"])
    assert past.exit_code == 2 and "that moment has passed" in past.output  # a dead link is no link
    for item in ("bad name=x", "=x", "company"):
        refused = app.test_cli_runner().invoke(args=["demo-link", "sales", "--var", item])
        assert refused.exit_code == 2 and "--var" in refused.output, item


def test_a_date_means_through_that_day() -> None:
    day = datetime(2026, 12, 31, tzinfo=UTC)
    earlier = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    assert parse_expiry("2026-12-31", now=earlier) == int((day + timedelta(days=1)).timestamp())
    assert parse_expiry("2026-12-31T18:00:00Z", now=earlier) == int((day + timedelta(hours=18)).timestamp())
    assert parse_expiry("7d", now=100) == 100 + 7 * 86400
    for too_far in ("530w", "9999-12-31", "9999-12-31T23:59:59Z", "99999999999d"):
        with pytest.raises(ValueError, match="ten years at most"):  # not an OverflowError's traceback
            parse_expiry(too_far, now=time.time())
    late = datetime(2026, 12, 31, 23, tzinfo=UTC).timestamp()
    assert parse_expiry("2026-12-31", now=late) == int((day + timedelta(days=1)).timestamp())  # an hour
    for past in ("2026-12-30", "2026-12-31T22:59:59Z", "0001-01-01T00:00:00+14:00", "0001-01-01"):
        with pytest.raises(ValueError, match="that moment has passed"):
            parse_expiry(past, now=late)


def test_cli_links_in_another_language(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["demo-link", "sales", "--lang", "de", "--base-url", "https://x.test"]
    )
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("https://x.test/demo/sales?t=") and link.endswith("&lang=de")
    page = app.test_client().get(link.removeprefix("https://x.test")).get_data(as_text=True)
    assert '<html lang="de"' in page
    refused = app.test_cli_runner().invoke(args=["demo-link", "sales", "--lang", "klingon"])
    assert refused.exit_code == 2 and "--lang" in refused.output


def test_cli_links_point_at_the_public_url(tmp_path: Path) -> None:
    """README: with WEBCALL_PUBLIC_URL set, every link the app builds points there."""
    app = build_app(
        tmp_path, CATALOGUE, WEBCALL_SECRET_KEY=SECRET, WEBCALL_PUBLIC_URL="https://calls.example.com"
    )
    result = app.test_cli_runner().invoke(args=["demo-link", "sales", "--var", "company=Acme"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("https://calls.example.com/demo/sales?t=")
