"""The public agent catalogue: what a browser may name, and what each name means.

The browser only ever sends a slug. Everything else (provider, the provider's
agent id, greeting, which prompt variables a page may set, who may embed it)
comes from the operator's TOML file or, for a quick start, two variables.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limits import parse_many

WEB_PROVIDERS = ("ravan", "zudu", "convoi", "livekit")
PHONE_ONLY_PROVIDERS = ("unleashx",)
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
ORIGIN_RE = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?/?$", re.IGNORECASE)  # no wildcards
COLOR_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_TEXT_KEYS = ("description", "greeting", "system_prompt", "accent_color", "logo_url", "consent_text", "theme")
THEMES = ("system", "light", "dark")
_KEYS = {
    "provider", "agent_id", "title", "variables", "allowed_variables", "allowed_origins",
    "max_call_s", "calls_per_minute", "daily_budget", "ip_rate_limit", *_TEXT_KEYS,
}  # fmt: skip


@dataclass(frozen=True)
class Agent:
    """One public agent: a slug bound to a provider's agent and its per-call settings."""

    slug: str
    provider: str
    agent_id: str  # the provider's agent id; for livekit, the agent name to dispatch
    title: str
    description: str = ""
    greeting: str | None = None  # first message the agent says, where the provider takes one
    system_prompt: str | None = None  # Convoi only: per-call system prompt override
    variables: Mapping[str, str] = field(default_factory=dict)  # default prompt variables
    allowed_variables: frozenset[str] = frozenset()  # names a page may set
    allowed_origins: tuple[str, ...] = ()  # other sites that may start calls
    max_call_s: int | None = None
    calls_per_minute: int | None = None  # cap on calls started per minute (deployment default if None)
    daily_budget: int | None = None  # calls per day (deployment default if None)
    ip_rate_limit: str | None = None  # per-client limit for this agent, e.g. "5/minute"
    accent_color: str | None = None
    logo_url: str | None = None
    consent_text: str | None = None  # shown once before the first call; the caller must accept it
    theme: str = "system"  # light, dark, or follow the system

    def public(self) -> dict[str, Any]:
        """The fields a page may show: nothing about the provider's ids or prompts."""
        return {
            "slug": self.slug,
            "title": self.title,
            "description": self.description,
            "accent_color": self.accent_color,
            "logo_url": self.logo_url,
            "max_call_s": self.max_call_s,
            "consent_text": self.consent_text,
            "theme": self.theme,
        }


def load_agents_file(path: Path, problems: list[str], providers_used: set[str]) -> dict[str, Agent]:
    """Read ``[agents.<slug>]`` tables from ``path``, adding every problem found to ``problems``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"WEBCALL_AGENTS_FILE: {path} does not exist")
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"WEBCALL_AGENTS_FILE: {path} is not valid TOML ({exc})")
        return {}
    tables = data.get("agents")
    if not isinstance(tables, dict) or not tables:
        problems.append(f"{path}: define at least one [agents.<slug>] table")
        return {}
    agents = {}
    for slug, table in tables.items():
        where = f"{path}: [agents.{slug}]"
        agent = parse_agent(slug, table, problems, where=where, providers_used=providers_used)
        if agent is not None:
            agents[slug] = agent
    return agents


def parse_agent(
    slug: str, table: Any, problems: list[str], *, where: str, providers_used: set[str] | None = None
) -> Agent | None:
    """Validate one agent table; return the agent, or None after recording its problems.

    ``providers_used`` collects the provider of every table, valid or not, so that
    missing credentials are reported together with the table's own problems.
    """
    before = len(problems)
    if not isinstance(table, dict):
        problems.append(f"{where} must be a table")
        return None
    if providers_used is not None and isinstance(table.get("provider"), str):
        providers_used.add(table["provider"])
    if not SLUG_RE.match(slug):
        problems.append(f"{where}: the slug must be lowercase letters, digits and dashes")
    for key in sorted(set(table) - _KEYS):
        problems.append(f"{where}: unknown setting {key!r}")
    provider = table.get("provider")
    if provider in PHONE_ONLY_PROVIDERS:
        problems.append(
            f"{where}: provider {provider!r} places phone calls only and has no web call; "
            f"use one of {', '.join(WEB_PROVIDERS)} for a web agent"
        )
    elif provider not in WEB_PROVIDERS:
        problems.append(f"{where}: provider must be one of {', '.join(WEB_PROVIDERS)}")
    agent_id = _text(table, "agent_id", where, problems, required=True)
    if provider == "convoi" and agent_id and not agent_id.startswith("agt_"):
        # Convoi web calls are single-agent: a workforce id (sqd_…) is refused with 422.
        problems.append(f"{where}: Convoi web calls need an agent id starting with 'agt_'")
    title = _text(table, "title", where, problems) or slug
    variables = table.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and VARIABLE_RE.match(k) and isinstance(v, str) for k, v in variables.items()
    ):
        problems.append(f"{where}: variables must map names to strings")
        variables = {}
    allowed = _names(table, "allowed_variables", where, problems, VARIABLE_RE)
    origins = _names(table, "allowed_origins", where, problems, ORIGIN_RE)
    texts = {key: _text(table, key, where, problems) for key in _TEXT_KEYS}
    if texts["accent_color"] and not COLOR_RE.match(texts["accent_color"]):
        problems.append(f"{where}: accent_color must be a hex colour like '#4f46e5'")
    if texts["theme"] and texts["theme"] not in THEMES:
        problems.append(f"{where}: theme must be one of {', '.join(THEMES)}")
    if texts["logo_url"] and not texts["logo_url"].startswith(("https://", "/")):
        problems.append(f"{where}: logo_url must be an https:// URL or a path on this site")
    numbers = {
        "max_call_s": _whole(table, "max_call_s", 10, 86400, where, problems),
        "calls_per_minute": _whole(table, "calls_per_minute", 1, 100000, where, problems),
        "daily_budget": _whole(table, "daily_budget", 1, 10_000_000, where, problems),
    }
    ip_rate_limit = _text(table, "ip_rate_limit", where, problems)
    if ip_rate_limit and not valid_rate_limit(ip_rate_limit):
        problems.append(f"{where}: ip_rate_limit must look like '5/minute;30/hour'")
    if len(problems) > before or not isinstance(provider, str):
        return None
    return Agent(
        slug=slug,
        provider=provider,
        agent_id=agent_id or "",
        title=title,
        description=texts["description"] or "",
        greeting=texts["greeting"],
        system_prompt=texts["system_prompt"],
        variables=dict(variables),
        allowed_variables=frozenset(allowed),
        allowed_origins=tuple(o.rstrip("/").lower() for o in origins),
        max_call_s=numbers["max_call_s"],
        calls_per_minute=numbers["calls_per_minute"],
        daily_budget=numbers["daily_budget"],
        ip_rate_limit=ip_rate_limit,
        accent_color=texts["accent_color"],
        logo_url=texts["logo_url"],
        consent_text=texts["consent_text"],
        theme=texts["theme"] or "system",
    )


def valid_rate_limit(value: str) -> bool:
    """True when ``value`` is a rate limit string Flask-Limiter understands."""
    try:
        return bool(parse_many(value))
    except ValueError:
        return False


def _whole(
    table: dict[str, Any], key: str, low: int, high: int, where: str, problems: list[str]
) -> int | None:
    """An optional whole number within ``low``..``high``."""
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{where}: {key} must be a whole number from {low} to {high}")
        return None
    return value


def _text(
    table: dict[str, Any], key: str, where: str, problems: list[str], *, required: bool = False
) -> str | None:
    """Return ``table[key]`` when it is a non-empty string; record a problem otherwise."""
    value = table.get(key)
    if value is None:
        if required:
            problems.append(f"{where}: {key} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: {key} must be a non-empty string")
        return None
    return value.strip()


def _names(
    table: dict[str, Any], key: str, where: str, problems: list[str], pattern: re.Pattern[str]
) -> list[str]:
    """Return ``table[key]`` as a list of strings matching ``pattern``."""
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and pattern.match(v) for v in value):
        problems.append(f"{where}: {key} must be a list of strings like {pattern.pattern!r}")
        return []
    return value
