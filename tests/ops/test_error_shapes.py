"""Which failures are JSON and which a page: a program's address fails in JSON, a browser's page as a page.

The embed widget's panel (``/embed/<slug>/panel``) is a program's address outside ``/api/``:
its 405 and 500 were HTML pages, which its script cannot read.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.support.apps import app_state_of, build_app

CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
allowed_origins = ["https://shop.example.com"]
"""
HOST_PAGE = {"Origin": "https://shop.example.com"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    """The app with one agent that shop.example.com may embed."""
    return build_app(tmp_path, CATALOGUE)


def json_error(answer: TestResponse) -> str:
    """The code of an error answer in the API's shape (failing the test if it is not one)."""
    assert answer.mimetype == "application/json", answer.get_data(as_text=True)[:200]
    error = answer.get_json()["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["request_id"] == answer.headers["X-Request-ID"]
    return str(error["code"])


@pytest.mark.parametrize("headers", [{}, BROWSER], ids=["no Accept", "a browser's Accept"])
def test_the_panels_errors_are_json_whatever_the_request_accepts(app: Flask, headers: dict[str, str]) -> None:
    client = app.test_client()
    assert (
        json_error(client.post("/embed/local/panel", headers={**HOST_PAGE, **headers}))
        == "method_not_allowed"
    )
    assert json_error(client.get("/embed/nobody/panel", headers={**HOST_PAGE, **headers})) == "unknown_agent"
    del app_state_of(app).assets.entries["widget.js"]  # a deploy that lost the widget's script
    broken = client.get("/embed/local/panel", headers={**HOST_PAGE, **headers})
    assert (broken.status_code, json_error(broken)) == (500, "internal_error")


WIDGET = {"Accept": "application/json"}  # what the widget's fetch sends (static/src/embed/panel.js)


@pytest.mark.parametrize("slug", ["local%2Feu", "x%2Fy", "%2F", "", "a/b"])
@pytest.mark.parametrize("headers", [WIDGET, {}, BROWSER], ids=["widget", "no Accept", "browser"])
def test_a_panel_for_a_name_with_a_slash_is_refused_as_any_unknown_agent(
    app: Flask, slug: str, headers: dict[str, str]
) -> None:
    """The widget asks for ``/embed/<its agent's name, encoded>/panel``: a name with a slash reached
    no route (an HTML 404, or a 308 for ``%2F``) and its 404 had no CORS, so the host page's
    widget saw a network failure. It gets what any other unknown name gets, readable by any page."""
    client = app.test_client()
    routed = client.get("/embed/nobody/panel", headers={**HOST_PAGE, **headers})
    answer = client.get(f"/embed/{slug}/panel", headers={**HOST_PAGE, **headers})
    assert (routed.status_code, json_error(routed)) == (404, "unknown_agent")
    assert (answer.status_code, json_error(answer)) == (404, "unknown_agent")
    assert answer.get_json()["error"]["message"] == routed.get_json()["error"]["message"]
    assert routed.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Location" not in answer.headers
    other = client.post(f"/embed/{slug}/panel", headers={**HOST_PAGE, **headers})  # the panel takes GET
    assert (other.status_code, json_error(other), other.headers["Access-Control-Allow-Origin"]) == (
        404, "not_found", "*",
    )  # fmt: skip


def test_json_documents_and_probes_fail_in_json(app: Flask) -> None:
    client = app.test_client()
    for path in ("/openapi.json", "/healthz", "/readyz"):
        refused = client.post(path, headers=BROWSER)
        assert (refused.status_code, json_error(refused)) == (405, "method_not_allowed"), path


def test_metrics_and_the_api_and_probes_without_their_exact_path_fail_in_json(tmp_path: Path) -> None:
    client = build_app(tmp_path, CATALOGUE, WEBCALL_METRICS_TOKEN="m" * 40).test_client()
    refused = client.post("/metrics", headers=BROWSER)
    assert (refused.status_code, json_error(refused)) == (405, "method_not_allowed")
    for path in ("/api", "/healthz/", "/readyz/"):
        missing = client.get(path, headers=BROWSER)
        assert (missing.status_code, json_error(missing)) == (404, "not_found"), path
    # A line break in the path (%0A) is part of it: these were HTML pages.
    for path in ("/api/%0a", "/api/calls%0A", "/api/x%0Ay.json"):
        missing = client.get(path, headers=BROWSER)
        assert (missing.status_code, json_error(missing)) == (404, "not_found"), path
    refused = client.get("/webhooks/ravan/%0atoken", headers=BROWSER)
    assert refused.status_code in (404, 405) and json_error(refused), refused.status_code


def test_pages_still_fail_as_pages(app: Flask) -> None:
    client = app.test_client()
    for path in ("/talk/local", "/embed/local"):
        refused = client.post(path, headers=BROWSER)
        assert (refused.status_code, refused.mimetype) == (405, "text/html"), path
    assert client.get("/nowhere", headers=BROWSER).mimetype == "text/html"
    del app_state_of(app).assets.entries["call.js"]  # a deploy that lost the call page's script
    broken = client.get("/talk/local", headers=BROWSER)
    assert (broken.status_code, broken.mimetype) == (500, "text/html")
    assert "Traceback" not in broken.get_data(as_text=True)


def test_a_client_that_prefers_json_gets_json_anywhere(app: Flask) -> None:
    """What ``fetch`` sends with ``Accept: application/json`` (or a JSON-first list, as axios does)."""
    client = app.test_client()
    for accept in ("application/json", "application/json, text/plain, */*"):
        assert json_error(client.get("/nowhere", headers={"Accept": accept})) == "not_found"
    assert client.get("/nowhere", headers={"Accept": "*/*"}).mimetype == "text/html"
