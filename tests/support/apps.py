"""The app in process, against the provider fakes: settings, credentials and request helpers."""

from __future__ import annotations

import functools
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask

from tests.fakes import FakeState
from webapp import create_app
from webapp.history.store import CallStore
from webapp.settings import Settings
from webapp.state import AppState, app_state

DEMO_AGENT_NAME = "webcall-demo"
FAKE_KEYS = {
    "ravan": "rvn_test_key_5f1d2c",
    "zudu": "sk_zudu_test_8a7b6c",
    "zudu_secret": "s3cr3t_zudu_test_1e2f3a",
    "convoi": "sk_live_convoi_test_4d5e6f",
    "unleashx": "unleashx_test_token_7a8b9c",
    "retell": "key_retell_test_2b3c4d",
    "elevenlabs": "sk_elevenlabs_test_5e6f7a",
}
FAKE_AGENT_IDS = {
    "ravan": "3b1f6a2e-7c1d-4e5f-9a0b-1c2d3e4f5a6b",
    "convoi": "agt_b88d642dd68747f28305c428b209abcd",
    "zudu": "agent-123",
    "retell": "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD",
    "elevenlabs": "agent_01jzexample0000000000000000",
    "elevenlabs_late": "agent_01jzlatejoiner00000000000000",  # its agent joins after the caller
}

# One agent of each hosted web-call provider, named after it (a test module's CATALOGUE, or its start).
HOSTED_AGENTS = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.zudu]
provider = "zudu"
agent_id = "{zudu}"

[agents.convoi]
provider = "convoi"
agent_id = "{convoi}"

[agents.retell]
provider = "retell"
agent_id = "{retell}"

[agents.elevenlabs]
provider = "elevenlabs"
agent_id = "{elevenlabs}"
"""


class OfflineLiveKit:
    """LiveKit settings for fakes in tests that never join a room (no server needed)."""

    url = "ws://127.0.0.1:9"
    api_key = "devkey"
    api_secret = "offline-test-secret-0123456789abcdef"


def offline_livekit_env() -> dict[str, str]:
    """The livekit provider's variables for :class:`OfflineLiveKit`."""
    return {
        "LIVEKIT_URL": OfflineLiveKit.url,
        "LIVEKIT_API_KEY": OfflineLiveKit.api_key,
        "LIVEKIT_API_SECRET": OfflineLiveKit.api_secret,
    }


def build_app(directory: Path, catalogue: str, **env: str) -> Flask:
    """The app in process from an agents catalogue, with offline LiveKit settings; ``env`` wins."""
    path = directory / "agents.toml"
    path.write_text(catalogue)
    call_log = directory / "calls.db"
    if "WEBCALL_DATABASE_URL" not in env and not call_log.exists():
        call_log.write_bytes(migrated_sqlite_call_log())  # the app's own migrate() then finds it at head
    settings = Settings.from_mapping(
        {
            "WEBCALL_AGENTS_FILE": str(path),
            "WEBCALL_DATABASE_URL": f"sqlite:///{call_log}",
            **offline_livekit_env(),
            **env,
        }
    )
    return create_app(settings)


@functools.cache
def migrated_sqlite_call_log() -> bytes:
    """An empty SQLite call log at the latest revision, made once a run: migrating from nothing
    takes 50 ms, a thousand tests build an app, and tests/history/test_migrations.py tests it."""
    with tempfile.TemporaryDirectory() as directory:
        store = CallStore(f"sqlite:///{directory}/calls.db")
        store.migrate()
        store.close()
        return (Path(directory) / "calls.db").read_bytes()


def provider_env(
    ravan_url: str,
    zudu_url: str,
    convoi_url: str,
    *,
    retell_url: str | None = None,
    elevenlabs_url: str | None = None,
    livekit_url: str = OfflineLiveKit.url,
) -> dict[str, str]:
    """Credentials and base URLs for the hosted providers' fakes (Retell's and ElevenLabs' when
    given, with ``livekit_url`` as the LiveKit host their tokens are for)."""
    env = {
        "RAVAN_API_KEY": FAKE_KEYS["ravan"], "RAVAN_BASE_URL": ravan_url,
        "ZUDU_API_KEY": FAKE_KEYS["zudu"], "ZUDU_API_SECRET": FAKE_KEYS["zudu_secret"],
        "ZUDU_BASE_URL": zudu_url,
        "CONVOI_API_KEY": FAKE_KEYS["convoi"], "CONVOI_BASE_URL": convoi_url,
    }  # fmt: skip
    if retell_url:
        env.update(RETELL_API_KEY=FAKE_KEYS["retell"], RETELL_BASE_URL=retell_url,
                   RETELL_LIVEKIT_URL=livekit_url)  # fmt: skip
    if elevenlabs_url:
        env.update(ELEVENLABS_API_KEY=FAKE_KEYS["elevenlabs"], ELEVENLABS_BASE_URL=elevenlabs_url,
                   ELEVENLABS_LIVEKIT_URL=livekit_url)  # fmt: skip
    return env


def post(app: Flask, body: Any, **headers: str) -> Any:
    """POST a JSON body to the web-call API."""
    return app.test_client().post("/api/calls", json=body, headers=headers)


def codes(responses: list[Any]) -> list[Any]:
    """Status, or the error code, of each response."""
    return [r.status_code if r.status_code < 400 else r.get_json()["error"]["code"] for r in responses]


def fake_state(livekit_server: Any, **fields: Any) -> FakeState:
    """A fake provider's state, minting tokens for our LiveKit server and dispatching the demo agent."""
    return FakeState(
        livekit_url=livekit_server.url,
        livekit_api_key=livekit_server.api_key,
        livekit_api_secret=livekit_server.api_secret,
        dispatch_agent_name=DEMO_AGENT_NAME,
        **fields,
    )


def app_state_of(app: Flask) -> AppState:
    """The app's state, outside a request."""
    with app.app_context():
        return app_state()


def page_config(html: str) -> dict[str, Any]:
    """The config a call page's script reads (its JSON script element)."""
    found = re.search(r'<script type="application/json" id="webcall-config">(.*?)</script>', html, re.S)
    assert found, "no page config"
    return dict(json.loads(found.group(1)))


def page_config_of(app: Flask, slug: str) -> dict[str, Any]:
    """The config of the agent's call page, ``/talk/<slug>``."""
    return page_config(app.test_client().get(f"/talk/{slug}").get_data(as_text=True))
