"""Layered fixtures for end-to-end tests: real LiveKit server → demo agent → fakes → gunicorn → Chromium."""

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
    create_convoi_app,
    create_elevenlabs_app,
    create_ravan_app,
    create_retell_app,
    create_zudu_app,
)
from tests.support.apps import DEMO_AGENT_NAME, FAKE_AGENT_IDS, FAKE_KEYS, fake_state, provider_env
from tests.support.browser import CHROMIUM_ARGS
from tests.support.livekit_server import LiveKitServer, start_demo_agent, start_livekit_server
from tests.support.processes import ROOT, Process
from tests.support.protocol_agents import ProtocolAgents
from tests.support.stack import AGENTS_TOML, AppServer, start_app_server


@pytest.fixture(scope="session")
def livekit_server(artifacts: Path) -> Iterator[LiveKitServer]:
    """A real ``livekit-server --dev`` on loopback."""
    server = start_livekit_server(artifacts / "logs")
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def demo_agent(livekit_server: LiveKitServer, artifacts: Path) -> Iterator[Process]:
    """Our demo agent worker, registered with the server under ``webcall-demo``."""
    process = start_demo_agent(livekit_server, artifacts / "logs", WEBCALL_DEMO_AGENT_NAME=DEMO_AGENT_NAME)
    yield process
    process.stop()


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
def protocol_agents(livekit_server: LiveKitServer, artifacts: Path) -> Iterator[ProtocolAgents]:
    """Retell's and ElevenLabs' own agents (faked), joining the rooms their fakes create."""
    agents = ProtocolAgents(livekit_server, artifacts / "logs")
    yield agents
    agents.stop()


@pytest.fixture(scope="session")
def stack(
    livekit_server: LiveKitServer,
    demo_agent: Process,
    protocol_agents: ProtocolAgents,
    artifacts: Path,
    embed_hosts: dict[str, EmbedHost],
) -> Iterator[dict[str, Any]]:
    """Everything for a real call: LiveKit, the demo agent, provider fakes and gunicorn."""
    fakes = {}
    servers = []
    for kind, create, fields in [
        ("ravan", create_ravan_app, {"api_key": FAKE_KEYS["ravan"]}),
        ("zudu", create_zudu_app, {"api_key": FAKE_KEYS["zudu"], "api_secret": FAKE_KEYS["zudu_secret"]}),
        ("convoi", create_convoi_app, {"api_key": FAKE_KEYS["convoi"]}),
        ("retell", create_retell_app, {"api_key": FAKE_KEYS["retell"], "on_web_call": protocol_agents.join}),
        ("elevenlabs", create_elevenlabs_app,
         {"api_key": FAKE_KEYS["elevenlabs"], "on_web_call": protocol_agents.join}),
    ]:  # fmt: skip
        agents: dict[Any, dict[str, Any]] = {FAKE_AGENT_IDS[kind]: {}}
        if kind == "elevenlabs":
            agents[FAKE_AGENT_IDS["elevenlabs_late"]] = {"join_delay_s": 3.0}
        state = fake_state(livekit_server, agents=agents, **fields)
        server = FakeServer(create(state))
        server.start()
        servers.append(server)
        fakes[kind] = (server, state)
    urls = {"retell_url": fakes["retell"][0].url, "elevenlabs_url": fakes["elevenlabs"][0].url}
    env = {
        **livekit_server.env(),
        **provider_env(
            fakes["ravan"][0].url,
            fakes["zudu"][0].url,
            fakes["convoi"][0].url,
            **urls,
            livekit_url=livekit_server.url,
        ),  # fmt: skip
    }
    toml = AGENTS_TOML.format(
        ravan_agent=FAKE_AGENT_IDS["ravan"],
        convoi_agent=FAKE_AGENT_IDS["convoi"],
        zudu_agent=FAKE_AGENT_IDS["zudu"],
        retell_agent=FAKE_AGENT_IDS["retell"],
        elevenlabs_agent=FAKE_AGENT_IDS["elevenlabs"],
        elevenlabs_late_agent=FAKE_AGENT_IDS["elevenlabs_late"],
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
        "protocol_agents": protocol_agents,
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
