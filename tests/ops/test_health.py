"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response

from tests.fakes import FakeServer

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.convoi]
provider = "convoi"
agent_id = "{convoi}"

[agents.retell]
provider = "retell"
agent_id = "{retell}"

[agents.elevenlabs]
provider = "elevenlabs"
agent_id = "{elevenlabs}"
region = "in"

[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
calls_per_minute = 3
"""


def test_readyz_probes_providers(make_app: Any) -> None:
    ready = make_app().test_client().get("/readyz")
    checks = ready.get_json()["checks"]
    # The fakes answer; LiveKit (offline here) does not.
    assert checks["provider:ravan"] == "ok" and checks["provider:convoi"] == "ok"
    assert checks["provider:retell"] == "ok" and checks["provider:elevenlabs"] == "ok"
    assert checks["provider:livekit"] == "unreachable" and ready.status_code == 503
    alive = make_app().test_client().get("/healthz")
    assert alive.get_json() == {"status": "ok"}
    # Of their moment: a CDN with a default lifetime for 200s (or 503s) must not keep them.
    assert ready.headers["Cache-Control"] == alive.headers["Cache-Control"] == "no-store"


def test_readyz_names_a_provider_that_does_not_answer(make_app: Any) -> None:
    app = make_app(RETELL_BASE_URL="http://127.0.0.1:9", ELEVENLABS_BASE_URL="http://127.0.0.1:9")
    checks = app.test_client().get("/readyz").get_json()["checks"]
    assert checks["provider:retell"] == "unreachable" and checks["provider:elevenlabs"] == "unreachable"
    assert checks["provider:ravan"] == "ok"


def test_readyz_calls_a_provider_answering_server_errors_unreachable(make_app: Any) -> None:
    """A provider behind a gateway that answers 503 to everything: /readyz said ready (any answer
    counted) while every call failed."""
    down = Flask("down")
    down.add_url_rule("/", "root", lambda: Response("no healthy upstream", status=503))
    server = FakeServer(down).start()
    try:
        checks = make_app(RAVAN_BASE_URL=server.url).test_client().get("/readyz").get_json()["checks"]
    finally:
        server.stop()
    assert checks["provider:ravan"] == "unreachable" and checks["provider:convoi"] == "ok"
