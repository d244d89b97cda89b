"""Every answer carries a request id; errors quote it; a trusted proxy's id is kept."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tests.support.apps import build_app
from webapp.ops.logging import RequestIdFilter, json_formatter

CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
"""
PROXY_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # nginx's $request_id: 32 hex digits


def test_a_fresh_id_in_every_answer_and_error_body(tmp_path: Path) -> None:
    client = build_app(tmp_path, CATALOGUE).test_client()
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    refused = client.post("/api/calls", json={"agent": "nobody"})
    assert refused.get_json()["error"]["request_id"] == refused.headers["X-Request-ID"]
    # Without a trusted proxy, a client cannot choose the id (and so cannot forge log lines).
    chosen = client.get("/healthz", headers={"X-Request-ID": PROXY_ID})
    assert chosen.headers["X-Request-ID"] != PROXY_ID


def test_an_error_page_shows_its_reference(tmp_path: Path) -> None:
    """The HTML pages' refusals (an unknown agent, a tampered demo link) show the id as the call
    page does a refused call's: a screenshot leads to the log lines."""
    client = build_app(tmp_path, CATALOGUE, WEBCALL_SECRET_KEY="k" * 40).test_client()
    for path in ("/talk/nobody", "/demo/local?t=tampered"):
        page = client.get(path)
        assert page.status_code >= 400 and page.mimetype == "text/html", path
        assert f"Reference: {page.headers['X-Request-ID']}" in page.get_data(as_text=True), path


def test_a_trusted_proxys_id_is_kept_when_well_formed(tmp_path: Path) -> None:
    client = build_app(tmp_path, CATALOGUE, WEBCALL_TRUSTED_PROXIES="1").test_client()
    assert client.get("/healthz", headers={"X-Request-ID": PROXY_ID}).headers["X-Request-ID"] == PROXY_ID
    forged = 'x" {"level":"forged"}'
    odd = client.get("/healthz", headers={"X-Request-ID": forged})
    assert odd.headers["X-Request-ID"] != forged and len(odd.headers["X-Request-ID"]) == 32


def test_log_lines_are_json_with_the_request_id(tmp_path: Path) -> None:
    app = build_app(tmp_path, CATALOGUE)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(handler.format(record))  # type: ignore[method-assign]
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("webapp")
    logger.addHandler(handler)
    try:
        answer = app.test_client().post("/api/calls", json={"agent": "local"})
    finally:
        logger.removeHandler(handler)
    created = [json.loads(line) for line in lines if '"call created"' in line]
    assert len(created) == 1
    entry = created[0]
    assert entry["request_id"] == answer.headers["X-Request-ID"]
    assert (entry["level"], entry["logger"], entry["agent"], entry["provider"]) == (
        "INFO", "webapp.calls.service", "local", "livekit",
    )  # fmt: skip
    assert entry["call_id"] == answer.get_json()["call_id"] and entry["time"].endswith("+00:00")
    assert entry["mode"] == "voice"  # or "text", for a chat
