"""A real LiveKit server on loopback with a strong test key pair."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from livekit import api

from .processes import (
    Process,
    find_livekit_server,
    free_port,
    free_udp_port,
    http_ok,
    python_argv,
    start,
    wait_until,
)


@dataclass
class LiveKitServer:
    """Where the server listens and the key pair it accepts."""

    port: int
    api_key: str
    api_secret: str
    process: Process
    udp_port: int  # its media's (ICE over UDP)

    @property
    def url(self) -> str:
        """The client (WebSocket) URL."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        """The server API URL."""
        return f"http://127.0.0.1:{self.port}"

    def agent_token(self, room: str, identity: str) -> str:
        """A token that joins ``room`` as an agent (a test's own, in place of a worker's)."""
        grants = api.VideoGrants(room_join=True, room=room)
        token = api.AccessToken(self.api_key, self.api_secret).with_identity(identity).with_kind("agent")
        return token.with_grants(grants).to_jwt()

    def env(self) -> dict[str, str]:
        """The variables the app and the agent read."""
        return {
            "LIVEKIT_URL": self.url,
            "LIVEKIT_API_KEY": self.api_key,
            "LIVEKIT_API_SECRET": self.api_secret,
        }


def start_livekit_server(
    log_dir: Path,
    *,
    port: int | None = None,
    api_secret: str | None = None,
    webhook_urls: Sequence[str] = (),
    media_via: str | None = None,
) -> LiveKitServer:
    """Start ``livekit-server --dev`` bound to 127.0.0.1, media on loopback only.

    ``port`` and ``api_secret`` (default: fresh ones) let a test configure the app before the
    server starts; ``webhook_urls`` get the server's webhooks, signed with the ``devkey`` pair.
    With ``media_via`` (another loopback address, where a relay listens on the server's UDP
    port), the media has that one way in, as across a NAT: LiveKit names that address in its
    candidates, has no ICE over TCP (which listens on every address) and runs ICE lite (so it
    answers the browser's checks instead of sending its own to the browser's local addresses).
    """
    port, udp_port = port or free_port(), free_udp_port()
    tcp_port = 0 if media_via else free_port()  # 0: no ICE over TCP
    api_key, api_secret = "devkey", api_secret or secrets.token_urlsafe(32)  # PyJWT wants 32+ bytes
    config = log_dir / "livekit.yaml"
    log_dir.mkdir(parents=True, exist_ok=True)
    webhook = "".join(f"    - {url}\n" for url in webhook_urls)
    config.write_text(
        f"port: {port}\n"
        "rtc:\n"
        f"  tcp_port: {tcp_port}\n"
        f"  udp_port: {udp_port}\n"
        "  use_external_ip: false\n"
        f"  node_ip: {media_via or '127.0.0.1'}\n"
        "  enable_loopback_candidate: true\n"
        # its UDP socket on 127.0.0.1 alone, leaving the port free at the relay's address
        + ("  ips:\n    includes: [127.0.0.1/32]\n  use_ice_lite: true\n" if media_via else "")
        + (f"webhook:\n  api_key: {api_key}\n  urls:\n{webhook}" if webhook else "")
    )
    argv = [find_livekit_server(), "--dev", "--bind", "127.0.0.1", "--config", str(config)]
    # The key pair goes by environment, not argv (visible to every user) or the config file.
    process = start("livekit-server", argv, env={"LIVEKIT_KEYS": f"{api_key}: {api_secret}"}, log_dir=log_dir)
    server = LiveKitServer(port, api_key, api_secret, process, udp_port)
    wait_until(http_ok(server.http_url), timeout_s=20, what="livekit-server to listen", process=process)
    return server


def start_demo_agent(server: LiveKitServer, log_dir: Path, **env: str) -> Process:
    """Our demo agent worker on ``server`` (with ``env`` on top), once it has registered."""
    process = start(
        "demo-agent", python_argv("-m", "webapp.demo_agent"), env={**server.env(), **env}, log_dir=log_dir
    )
    wait_until(
        lambda: "registered" in process.log().lower(),
        timeout_s=60,
        what="the demo agent to register",
        process=process,
    )
    return process
