"""The optional bot check (Turnstile) before a call is created."""

from __future__ import annotations

from typing import Any

from tests.fakes import FakeTurnstile
from tests.support.apps import codes, post

CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
calls_per_minute = 3
"""


def test_bot_check_with_turnstile(make_app: Any) -> None:
    turnstile = FakeTurnstile(secret="ts-secret")
    with turnstile.server as server:
        app = make_app(
            WEBCALL_TURNSTILE_SITE_KEY="ts-site",
            WEBCALL_TURNSTILE_SECRET_KEY="ts-secret",
            WEBCALL_TURNSTILE_VERIFY_URL=f"{server.url}/siteverify",
        )
        assert codes([post(app, {"agent": "local"})]) == ["bot_check_required"]
        assert codes([post(app, {"agent": "local", "bot_token": "forged"})]) == ["bot_check_failed"]
        assert post(app, {"agent": "local", "bot_token": "good-token"}).status_code == 201
    assert turnstile.verified[-1]["remoteip"] == "127.0.0.1"
    down = make_app(
        WEBCALL_TURNSTILE_SITE_KEY="ts-site",
        WEBCALL_TURNSTILE_SECRET_KEY="ts-secret",
        WEBCALL_TURNSTILE_VERIFY_URL="http://127.0.0.1:9/siteverify",
    )
    assert codes([post(down, {"agent": "local", "bot_token": "good-token"})]) == ["bot_check_unavailable"]
