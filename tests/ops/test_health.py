"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.convoi]
provider = "convoi"
agent_id = "{convoi}"

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
    assert checks["provider:livekit"] == "unreachable" and ready.status_code == 503
    assert make_app().test_client().get("/healthz").get_json() == {"status": "ok"}
