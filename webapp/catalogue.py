"""The public agent catalogue: what a browser may name, and what each name means.

The browser only ever sends a slug. Everything else (provider, the provider's agent id,
greeting, which prompt variables a page may set, who may embed it) comes from the
operator's TOML file or, for a quick start, two variables. One pydantic model,
:class:`Agent`, validates a table; the provider registry supplies the provider names,
what each can do and its agent-id rule.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from limits import parse_many
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from .providers import registry

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
ORIGIN_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$"  # exact origins: no wildcards
COLOR_PATTERN = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"


def valid_rate_limit(value: str) -> bool:
    """True when ``value`` is a rate limit string Flask-Limiter understands."""
    try:
        return bool(parse_many(value))
    except ValueError:
        return False


def _rate_limit(value: str) -> str:
    """A limit like ``5/minute;30/hour``."""
    if not valid_rate_limit(value):
        raise ValueError("must look like '5/minute;30/hour'")
    return value


def _site_url(value: str) -> str:
    """An https:// URL, or a path on this site."""
    if not value.startswith(("https://", "/")):
        raise ValueError("must be an https:// URL or a path on this site")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
VariableName = Annotated[str, StringConstraints(pattern=VARIABLE_PATTERN)]
Origin = Annotated[
    str, StringConstraints(pattern=ORIGIN_PATTERN), AfterValidator(lambda o: o.rstrip("/").lower())
]
RateLimit = Annotated[Text, AfterValidator(_rate_limit)]


class Agent(BaseModel):
    """One public agent: a slug bound to a provider's agent and its per-call settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
    provider: str
    agent_id: Text  # the provider's agent id; for livekit, the agent name to dispatch
    title: Text
    description: str = ""
    greeting: Text | None = None  # first message the agent says, where the provider takes one
    system_prompt: Text | None = None  # Convoi only: per-call system prompt override
    variables: dict[VariableName, str] = Field(default_factory=dict)  # default prompt variables
    allowed_variables: frozenset[VariableName] = frozenset()  # names a page may set
    allowed_origins: tuple[Origin, ...] = ()  # other sites that may start calls
    max_call_s: Annotated[StrictInt, Field(ge=10, le=86400)] | None = None
    calls_per_minute: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = None  # None: deployment default
    daily_budget: Annotated[StrictInt, Field(ge=1, le=10_000_000)] | None = None  # None: deployment default
    ip_rate_limit: RateLimit | None = None  # per-client limit for this agent, e.g. "5/minute"
    accent_color: Annotated[str, StringConstraints(pattern=COLOR_PATTERN)] | None = None
    logo_url: Annotated[Text, AfterValidator(_site_url)] | None = None
    consent_text: Text | None = None  # shown once before the first call; the caller must accept it
    theme: Literal["system", "light", "dark"] = "system"
    # Where the provider keeps the call's data, for providers that offer a choice (their
    # ``regions``); None: the provider's default.
    region: Text | None = None

    @field_validator("provider")
    @classmethod
    def _known_web_provider(cls, provider: str) -> str:
        """A provider in the registry that can place a browser call."""
        spec = registry().get(provider)
        web = [name for name, s in registry().items() if s.supports("web_call")]
        if spec is None:
            raise ValueError(f"provider must be one of {', '.join(web)}")
        if not spec.supports("web_call"):
            raise ValueError(
                f"provider {provider!r} places phone calls only and has no web call; "
                f"use one of {', '.join(web)} for a web agent"
            )
        return provider

    @field_validator("agent_id")
    @classmethod
    def _fits_the_provider(cls, agent_id: str, info: ValidationInfo) -> str:
        """The provider's own agent-id rule (checked when the provider is valid)."""
        spec = registry().get(info.data.get("provider", ""))
        problem = spec.check_agent_id(agent_id) if spec else None
        if problem:
            raise ValueError(problem)
        return agent_id

    @field_validator("region")
    @classmethod
    def _offered_by_the_provider(cls, region: str | None, info: ValidationInfo) -> str | None:
        """One of the provider's regions (checked when the provider is valid)."""
        spec = registry().get(info.data.get("provider", ""))
        problem = spec.check_region(region) if spec and region is not None else None
        if problem:
            raise ValueError(problem)
        return region

    def public(self) -> dict[str, Any]:
        """The fields a page may show: nothing about the provider's ids or prompts."""
        return self.model_dump(
            include={
                "slug",
                "title",
                "description",
                "accent_color",
                "logo_url",
                "max_call_s",
                "consent_text",
                "theme",
            }  # fmt: skip
        )


def parse_agent(slug: str, table: Any, problems: list[str], *, where: str) -> Agent | None:
    """Validate one agent table; return the agent, or None after adding its problems."""
    if not isinstance(table, dict):
        problems.append(f"{where} must be a table")
        return None
    data = {"title": slug, **table, "slug": slug}
    if "slug" in table:
        problems.append(f"{where}: unknown setting 'slug'")
        return None
    try:
        return Agent.model_validate(data)
    except ValidationError as error:
        problems.extend(f"{where}: {line}" for line in describe(error))
        return None


def load_catalogue(path: Path, problems: list[str], providers_named: set[str]) -> dict[str, Agent]:
    """Read ``[agents.<slug>]`` tables from ``path``, adding every problem found to ``problems``.

    ``providers_named`` collects the provider of every table, valid or not, so that
    missing credentials are reported together with the tables' own problems.
    """
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
        if isinstance(table, dict) and isinstance(table.get("provider"), str):
            providers_named.add(table["provider"])
        agent = parse_agent(slug, table, problems, where=f"{path}: [agents.{slug}]")
        if agent is not None:
            agents[slug] = agent
    return agents


def describe(error: ValidationError) -> list[str]:
    """Each problem of a validation error as ``setting: what is wrong``, for an operator."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in problem["loc"] if part != "[key]")
        if problem["type"] == "extra_forbidden":
            lines.append(f"unknown setting {where!r}")
            continue
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "string_pattern_mismatch":
            message = f"does not look right (expected {problem.get('ctx', {}).get('pattern')})"
        lines.append(f"{where}: {message}" if where else message)
    return lines
