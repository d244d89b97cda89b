"""Layered fixtures: real LiveKit server → demo agent → provider fakes → gunicorn → Chromium."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.fakes import (
    FakeServer,
    FakeState,
    create_convoi_app,
    create_ravan_app,
    create_unleashx_app,
    create_zudu_app,
)
from tests.support.livekit_server import LiveKitServer, start_livekit_server
from tests.support.processes import ROOT, Process, python_argv, start, wait_until
from tests.support.stack import AGENTS_TOML, AppServer, start_app_server
from webapp import create_app
from webapp.config import Settings

ARTIFACTS = ROOT / "test-artifacts"
DEMO_AGENT_NAME = "webcall-demo"
FAKE_KEYS = {
    "ravan": "rvn_test_key_5f1d2c",
    "zudu": "sk_zudu_test_8a7b6c",
    "zudu_secret": "s3cr3t_zudu_test_1e2f3a",
    "convoi": "sk_live_convoi_test_4d5e6f",
    "unleashx": "unleashx_test_token_7a8b9c",
}
FAKE_AGENT_IDS = {
    "ravan": "3b1f6a2e-7c1d-4e5f-9a0b-1c2d3e4f5a6b",
    "convoi": "agt_b88d642dd68747f28305c428b209abcd",
    "zudu": "agent-123",
}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where logs, screenshots and generated audio go (kept after the run for reviewers)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def livekit_server(artifacts: Path) -> Iterator[LiveKitServer]:
    """A real ``livekit-server --dev`` on loopback."""
    server = start_livekit_server(artifacts / "logs")
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def demo_agent(livekit_server: LiveKitServer, artifacts: Path) -> Iterator[Process]:
    """Our demo agent worker, registered with the server under ``webcall-demo``."""
    env = {**livekit_server.env(), "WEBCALL_DEMO_AGENT_NAME": DEMO_AGENT_NAME}
    process = start("demo-agent", python_argv("-m", "webapp.demo_agent"), env=env, log_dir=artifacts / "logs")
    wait_until(
        lambda: "registered" in process.log().lower(),
        timeout_s=60,
        what="the demo agent to register",
        process=process,
    )
    yield process
    process.stop()


def _fake_state(livekit_server: Any, **fields: Any) -> FakeState:
    """A fake provider's state, minting tokens for our LiveKit server and dispatching the demo agent."""
    return FakeState(
        livekit_url=livekit_server.url,
        livekit_api_key=livekit_server.api_key,
        livekit_api_secret=livekit_server.api_secret,
        dispatch_agent_name=DEMO_AGENT_NAME,
        **fields,
    )


class OfflineLiveKit:
    """LiveKit settings for fakes in tests that never join a room (no server needed)."""

    url = "ws://127.0.0.1:9"
    api_key = "devkey"
    api_secret = "offline-test-secret-0123456789abcdef"


def build_app(directory: Path, catalogue: str, **env: str) -> Flask:
    """The app in process from an agents catalogue, with offline LiveKit settings; ``env`` wins."""
    path = directory / "agents.toml"
    path.write_text(catalogue)
    offline = {
        "WEBCALL_AGENTS_FILE": str(path),
        "LIVEKIT_URL": OfflineLiveKit.url,
        "LIVEKIT_API_KEY": OfflineLiveKit.api_key,
        "LIVEKIT_API_SECRET": OfflineLiveKit.api_secret,
    }
    return create_app(Settings.from_mapping({**offline, **env}))


def _provider_fixture(kind: str, create: Any, **state_fields: Any) -> Any:
    """Build a function-scoped fixture for one fake provider: ``(server, state)``, fresh per test."""

    @pytest.fixture
    def fixture() -> Iterator[tuple[FakeServer, FakeState]]:
        state = _fake_state(OfflineLiveKit(), **state_fields)  # type: ignore[arg-type]
        server = FakeServer(create(state))
        server.start()
        yield server, state
        server.stop()

    fixture.__name__ = kind
    return fixture


ravan = _provider_fixture(
    "ravan", create_ravan_app, api_key=FAKE_KEYS["ravan"], agents={FAKE_AGENT_IDS["ravan"]: {}}
)
zudu = _provider_fixture(
    "zudu",
    create_zudu_app,
    api_key=FAKE_KEYS["zudu"],
    api_secret=FAKE_KEYS["zudu_secret"],
    agents={FAKE_AGENT_IDS["zudu"]: {}},
)
convoi = _provider_fixture(
    "convoi", create_convoi_app, api_key=FAKE_KEYS["convoi"], agents={FAKE_AGENT_IDS["convoi"]: {}}
)
unleashx = _provider_fixture(
    "unleashx",
    create_unleashx_app,
    api_key=FAKE_KEYS["unleashx"],
    agents={101: {"active": True, "agent_type": 3, "calling_type": 1}},
)


def provider_env(ravan_url: str, zudu_url: str, convoi_url: str) -> dict[str, str]:
    """Credentials and base URLs for the hosted providers' fakes."""
    return {
        "RAVAN_API_KEY": FAKE_KEYS["ravan"], "RAVAN_BASE_URL": ravan_url,
        "ZUDU_API_KEY": FAKE_KEYS["zudu"], "ZUDU_API_SECRET": FAKE_KEYS["zudu_secret"],
        "ZUDU_BASE_URL": zudu_url,
        "CONVOI_API_KEY": FAKE_KEYS["convoi"], "CONVOI_BASE_URL": convoi_url,
    }  # fmt: skip


class EmbedHost:
    """A stand-in for a customer's site: serves tests/embed_host/ from its own origin."""

    def __init__(self) -> None:
        self.app_url = ""  # set once the webcall app runs: pages get it for {{WEBCALL_URL}}
        host = Flask("embed_host")

        @host.get("/<path:name>")
        def page(name: str) -> Any:
            path = ROOT / "tests" / "embed_host" / name
            if not path.is_file():
                return "not found", 404
            body = path.read_text().replace("{{WEBCALL_URL}}", self.app_url)
            return (
                body,
                200,
                {"Content-Type": "text/html; charset=utf-8" if name.endswith(".html") else "text/plain"},
            )

        self.server = FakeServer(host).start()

    @property
    def origin(self) -> str:
        """The site's origin, as a browser sends it."""
        return self.server.url


@pytest.fixture(scope="session")
def embed_hosts() -> Iterator[dict[str, EmbedHost]]:
    """Two customer sites on other ports: one the widget agents allow, one they don't."""
    hosts = {"allowed": EmbedHost(), "denied": EmbedHost()}
    yield hosts
    for host in hosts.values():
        host.server.stop()


@pytest.fixture(scope="session")
def stack(
    livekit_server: LiveKitServer, demo_agent: Process, artifacts: Path, embed_hosts: dict[str, EmbedHost]
) -> Iterator[dict[str, Any]]:
    """Everything for a real call: LiveKit, the demo agent, provider fakes and gunicorn."""
    fakes = {}
    servers = []
    for kind, create, fields in [
        ("ravan", create_ravan_app, {"api_key": FAKE_KEYS["ravan"]}),
        ("zudu", create_zudu_app, {"api_key": FAKE_KEYS["zudu"], "api_secret": FAKE_KEYS["zudu_secret"]}),
        ("convoi", create_convoi_app, {"api_key": FAKE_KEYS["convoi"]}),
    ]:
        state = _fake_state(livekit_server, agents={FAKE_AGENT_IDS[kind]: {}}, **fields)
        server = FakeServer(create(state))
        server.start()
        servers.append(server)
        fakes[kind] = (server, state)
    env = {
        **livekit_server.env(),
        **provider_env(fakes["ravan"][0].url, fakes["zudu"][0].url, fakes["convoi"][0].url),
    }
    toml = AGENTS_TOML.format(
        ravan_agent=FAKE_AGENT_IDS["ravan"],
        convoi_agent=FAKE_AGENT_IDS["convoi"],
        zudu_agent=FAKE_AGENT_IDS["zudu"],
        embed_origin=embed_hosts["allowed"].origin,
    )
    app = start_app_server(env, artifacts / "logs", agents_toml=toml)
    for host in embed_hosts.values():
        host.app_url = app.url
    yield {
        "app": app,
        "livekit": livekit_server,
        "agent": demo_agent,
        "fakes": fakes,
        "embed_hosts": embed_hosts,
    }
    app.process.stop()
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def app_server(stack: dict[str, Any]) -> AppServer:
    """The gunicorn app of the stack."""
    return stack["app"]


@pytest.fixture(scope="session")
def speech_wav(artifacts: Path) -> Path:
    """A spoken sentence (espeak-ng) with pauses, 48 kHz mono, for Chromium's fake microphone."""
    path = artifacts / "caller-speech.wav"
    if path.exists():
        return path
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if not espeak or not sox:
        raise RuntimeError("espeak-ng and sox are needed for test speech: run scripts/bootstrap --test")
    raw = artifacts / "caller-speech-raw.wav"
    text = "Hello agent. This is a test call from the browser. Can you hear me clearly?"
    subprocess.run([espeak, "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(
        [sox, str(raw), "-r", "48000", "-c", "1", "-b", "16", str(path), "pad", "0.3", "1.5"], check=True
    )
    raw.unlink()
    return path


CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], speech_wav: Path) -> dict[str, Any]:
    """Debian's Chromium with a fake microphone that speaks ``speech_wav``; audio not muted."""
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    return {
        **browser_type_launch_args,
        "executable_path": executable,
        "args": [*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={speech_wav}"],
        "ignore_default_args": ["--mute-audio"],
    }


@pytest.fixture
def console_log(page: Any, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """The page's console and errors, written to test-artifacts/logs for every browser test."""
    lines: list[str] = []
    page.on("console", lambda msg: lines.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda exc: lines.append(f"pageerror: {exc}"))
    yield lines
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)
    (artifacts / "logs").mkdir(parents=True, exist_ok=True)
    (artifacts / "logs" / f"{name}.console.log").write_text("\n".join(lines))
