"""Settings for the demo agent worker, read once from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_AGENT_NAME = "webcall-demo"
URL_SCHEMES = ("ws", "wss", "http", "https")  # livekit-agents reads http(s):// as ws(s)://, as the app does
MAX_PORT = 65535


class SettingsError(ValueError):
    """One or more settings are missing or malformed; the message names all of them."""


@dataclass(frozen=True)
class AgentSettings:
    """Everything the worker needs to register with LiveKit and take calls."""

    # ws(s):// (or http(s)://) address of the LiveKit server
    url: str
    api_key: str
    # kept out of repr so a logged settings object never leaks it
    api_secret: str = field(repr=False)
    # explicit-dispatch name; browsers' tokens must name it to get this agent
    agent_name: str = DEFAULT_AGENT_NAME
    # health-check HTTP port on 127.0.0.1; 0 picks a free one
    health_port: int = 0
    # calls handled at once before the worker reports itself full
    max_calls: int = 8
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AgentSettings:
        """Build settings from `environ` (default: `os.environ`), naming every problem at once."""
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def required(name: str) -> str:
            """Return a non-empty variable, or record that it is missing."""
            value = env.get(name, "").strip()
            if not value:
                problems.append(f"{name} is not set")
            return value

        def integer(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
            """Return an integer variable from `minimum` to `maximum` (if any), or record why not."""
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name} must be an integer, got {raw!r}")
                return default
            if value < minimum or (maximum is not None and value > maximum):
                limits = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
                problems.append(f"{name} must be {limits}, got {value}")
            return value

        url = required("LIVEKIT_URL")
        if url and not is_livekit_url(url):
            problems.append(
                f"LIVEKIT_URL must be a ws://, wss://, http:// or https:// URL with a host, got {url!r}"
            )
        settings = cls(
            url=url,
            api_key=required("LIVEKIT_API_KEY"),
            api_secret=required("LIVEKIT_API_SECRET"),
            agent_name=env.get("WEBCALL_DEMO_AGENT_NAME", "").strip() or DEFAULT_AGENT_NAME,
            health_port=integer("WEBCALL_DEMO_AGENT_HEALTH_PORT", 0, 0, MAX_PORT),
            max_calls=integer("WEBCALL_DEMO_AGENT_MAX_CALLS", 8, 1),
            log_level=env.get("WEBCALL_DEMO_AGENT_LOG_LEVEL", "").strip().upper() or "INFO",
        )
        if settings.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            problems.append(f"WEBCALL_DEMO_AGENT_LOG_LEVEL is not a log level: {settings.log_level!r}")
        if problems:
            raise SettingsError("bad demo agent settings: " + "; ".join(problems))
        return settings


def is_livekit_url(url: str) -> bool:
    """Whether `url` can be a LiveKit server's address: a known scheme, a host, a port (if any) in
    range, and no spaces or control characters (which would also break the one-line log)."""
    if not url.isprintable() or any(char.isspace() for char in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (reading it checks it: a number from 0 to 65535)
    except ValueError:
        return False
    return parts.scheme in URL_SCHEMES and url.startswith(f"{parts.scheme}://") and bool(parts.hostname)
