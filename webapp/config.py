"""Settings: the only place that reads the environment or ``.env``.

``Settings.from_env()`` validates everything at start-up and raises
:class:`ConfigError` naming every problem at once, so an operator fixes a bad
deployment in one go instead of one restart per typo.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from .agents import Agent, load_agents_file, parse_agent, valid_rate_limit

DEFAULT_BASE_URLS = {
    "ravan": "https://api.ravan.ai",
    "zudu": "https://api.zudu.ai",
    "convoi": "https://go.convoi.ai/backend",
    "unleashx": "https://www.tryunleashx.com",
}
# Which environment variables hold each provider's credentials.
CREDENTIAL_VARS = {
    "ravan": {"api_key": "RAVAN_API_KEY"},
    "zudu": {"api_key": "ZUDU_API_KEY", "api_secret": "ZUDU_API_SECRET"},
    "convoi": {"api_key": "CONVOI_API_KEY"},
    "unleashx": {"api_token": "UNLEASHX_API_TOKEN"},
    "livekit": {"url": "LIVEKIT_URL", "api_key": "LIVEKIT_API_KEY", "api_secret": "LIVEKIT_API_SECRET"},
}


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("webcall is not configured correctly:\n  - " + "\n  - ".join(problems))


class Secret(str):
    """A string that never shows itself in ``repr`` (and so in tracebacks or debug logs)."""

    def __repr__(self) -> str:
        return "Secret('***')"


@dataclass(frozen=True)
class ProviderSettings:
    """Where a provider lives and the credentials we send it."""

    name: str
    base_url: str
    credentials: Mapping[str, Secret] = field(repr=False)


@dataclass(frozen=True)
class Settings:
    """Everything the app needs, validated."""

    agents: Mapping[str, Agent]
    providers: Mapping[str, ProviderSettings]
    secret_key: Secret = field(repr=False)
    max_body_bytes: int = 16 * 1024
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    token_ttl_s: int = 600
    rate_limits: str = "10/minute;60/hour"  # per client IP
    global_rate_limit: str = "600/minute"  # all clients together
    agent_calls_per_minute: int = 30  # per agent, unless the agent sets calls_per_minute
    agent_daily_budget: int = 1000  # per agent, unless the agent sets daily_budget
    ratelimit_storage_uri: str = "memory://"
    trusted_proxies: int = 0
    idempotency_window_s: int = 120
    turnstile_site_key: str | None = None
    turnstile_secret_key: Secret | None = field(default=None, repr=False)
    turnstile_verify_url: str = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    turnstile_script_url: str = "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit"
    secret_key_configured: bool = False  # False: a random per-process key (demo links won't verify)
    log_level: str = "INFO"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
    ) -> Settings:
        """Build settings from ``.env`` overlaid by the real environment (which wins)."""
        env: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        env.update(os.environ if environ is None else environ)
        return cls.from_mapping(env)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        """Validate ``env`` and build settings, or raise ConfigError listing every problem."""
        problems: list[str] = []
        providers_used: set[str] = set()
        agents = _load_agents(env, problems, providers_used)
        providers = _load_providers(env, providers_used, problems)
        numbers = {
            "max_body_bytes": _number(env, "WEBCALL_MAX_BODY_BYTES", 16 * 1024, int, problems),
            "connect_timeout_s": _number(env, "WEBCALL_CONNECT_TIMEOUT_S", 3.0, float, problems),
            "read_timeout_s": _number(env, "WEBCALL_READ_TIMEOUT_S", 10.0, float, problems),
            "token_ttl_s": _number(env, "WEBCALL_TOKEN_TTL_S", 600, int, problems),
            "trusted_proxies": _number(env, "WEBCALL_TRUSTED_PROXIES", 0, int, problems, minimum=0),
            "agent_calls_per_minute": _number(env, "WEBCALL_AGENT_CALLS_PER_MINUTE", 30, int, problems),
            "agent_daily_budget": _number(env, "WEBCALL_AGENT_DAILY_BUDGET", 1000, int, problems),
            "idempotency_window_s": _number(env, "WEBCALL_IDEMPOTENCY_WINDOW_S", 120, int, problems),
        }
        limits = {
            "rate_limits": env.get("WEBCALL_RATE_LIMITS", cls.rate_limits),
            "global_rate_limit": env.get("WEBCALL_GLOBAL_RATE_LIMIT", cls.global_rate_limit),
        }
        for name, value in limits.items():
            if not valid_rate_limit(value):
                problems.append(f"WEBCALL_{name.upper()} must look like '10/minute;60/hour', got {value!r}")
        storage = env.get("WEBCALL_RATELIMIT_STORAGE_URI", cls.ratelimit_storage_uri)
        if not storage.startswith(("memory://", "redis://", "rediss://", "redis+sentinel://")):
            problems.append("WEBCALL_RATELIMIT_STORAGE_URI must be memory:// or a redis:// URL")
        ts_site, ts_secret = env.get("WEBCALL_TURNSTILE_SITE_KEY"), env.get("WEBCALL_TURNSTILE_SECRET_KEY")
        if bool(ts_site) != bool(ts_secret):
            problems.append(
                "set both WEBCALL_TURNSTILE_SITE_KEY and WEBCALL_TURNSTILE_SECRET_KEY, or neither"
            )
        if 0 < len(env.get("WEBCALL_SECRET_KEY", "")) < 32:
            problems.append("WEBCALL_SECRET_KEY must be at least 32 characters (it signs demo links)")
        if problems:
            raise ConfigError(problems)
        return cls(
            agents=agents,
            providers=providers,
            secret_key=Secret(env.get("WEBCALL_SECRET_KEY") or secrets.token_urlsafe(32)),
            secret_key_configured=bool(env.get("WEBCALL_SECRET_KEY")),
            ratelimit_storage_uri=storage,
            turnstile_site_key=ts_site or None,
            turnstile_secret_key=Secret(ts_secret) if ts_secret else None,
            turnstile_verify_url=env.get("WEBCALL_TURNSTILE_VERIFY_URL", cls.turnstile_verify_url),
            turnstile_script_url=env.get("WEBCALL_TURNSTILE_SCRIPT_URL", cls.turnstile_script_url),
            rate_limits=limits["rate_limits"],
            global_rate_limit=limits["global_rate_limit"],
            log_level=env.get("WEBCALL_LOG_LEVEL", cls.log_level).upper(),
            **numbers,  # type: ignore[arg-type]
        )


def _load_agents(env: Mapping[str, str], problems: list[str], providers_used: set[str]) -> dict[str, Agent]:
    """Read the catalogue file, or the one-agent quick start from two variables."""
    provider, agent_id = env.get("WEBCALL_PROVIDER"), env.get("WEBCALL_AGENT_ID")
    if provider or agent_id:
        table = {"provider": provider, "agent_id": agent_id, "title": env.get("WEBCALL_AGENT_TITLE")}
        table = {k: v for k, v in table.items() if v}
        if not agent_id:
            problems.append("WEBCALL_AGENT_ID is required with WEBCALL_PROVIDER")
        where = "WEBCALL_PROVIDER/WEBCALL_AGENT_ID"
        agent = parse_agent("default", table, problems, where=where, providers_used=providers_used)
        return {"default": agent} if agent else {}
    path = Path(env.get("WEBCALL_AGENTS_FILE", "agents.toml"))
    if "WEBCALL_AGENTS_FILE" not in env and not path.is_file():
        problems.append(
            "no agents configured: create agents.toml (see agents.example.toml), "
            "set WEBCALL_AGENTS_FILE, or set WEBCALL_PROVIDER and WEBCALL_AGENT_ID"
        )
        return {}
    return load_agents_file(path, problems, providers_used)


def _load_providers(
    env: Mapping[str, str], used: set[str], problems: list[str]
) -> dict[str, ProviderSettings]:
    """Collect base URLs and credentials; a provider some agent uses must have them all."""
    providers = {}
    for name, variables in CREDENTIAL_VARS.items():
        credentials = {key: Secret(env.get(var, "").strip()) for key, var in variables.items()}
        missing = [var for key, var in variables.items() if not credentials[key]]
        if name in used and missing and name in CREDENTIAL_VARS:
            problems.append(f"{', '.join(missing)} must be set: an agent uses provider {name!r}")
            continue
        if missing:
            continue
        base_var = f"{name.upper()}_BASE_URL"
        default = DEFAULT_BASE_URLS.get(name) or _livekit_http_url(credentials.get("url", ""))
        base_url = env.get(base_var, default).rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            problems.append(f"{base_var} must be an http(s) URL")
        if name == "livekit" and not credentials["url"].startswith(
            ("ws://", "wss://", "http://", "https://")
        ):
            problems.append("LIVEKIT_URL must be a ws(s):// or http(s):// URL")
        providers[name] = ProviderSettings(name, base_url, credentials)
    return providers


def _livekit_http_url(url: str) -> str:
    """The HTTP address of LiveKit's server API for a client ``LIVEKIT_URL``."""
    return url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    kind: type[int] | type[float],
    problems: list[str],
    *,
    minimum: float = 1e-9,
) -> float:
    """Parse a positive number setting, recording a problem when it is not one."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        problems.append(f"{name} must be a number, got {raw!r}")
        return default
    if value < minimum:
        problems.append(f"{name} must be at least {minimum:g}")
    return value
