"""The public agent catalogue: what a browser may name, and what each name means.

The browser only ever sends a slug. Everything else (provider, the provider's agent id,
greeting, which prompt variables a page may set, who may embed it) comes from the
operator's TOML file or, for a quick start, two variables. One pydantic model,
:class:`Agent`, validates a table; the provider registry supplies the provider names,
what each can do and its agent-id rule.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
from limits import parse_many
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from .providers import registry

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"
PHONE_NUMBER_ID_PATTERN = r"^phn_[A-Za-z0-9_-]{1,128}$"  # Convoi's phone number ids
VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
ORIGIN_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$"  # exact origins: no wildcards
COLOR_PATTERN = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"
# The languages the call page speaks (webapp/pages/words.py), by their BCP 47 codes.
PageLanguage = Literal[
    "en", "es", "fr", "de", "it", "nl", "pt", "ja", "hi", "bn", "mr", "ta", "te", "ar", "ur"
]  # fmt: skip


def valid_rate_limit(value: str) -> bool:
    """True when ``value`` is a rate limit string the ``limits`` library understands, each of
    its limits allowing at least one (``0/minute`` would refuse every call, for good)."""
    try:
        items = parse_many(value)
    except ValueError:
        return False
    return bool(items) and all(item.amount >= 1 for item in items)


def _rate_limit(value: str) -> str:
    """A limit like ``5/minute;30/hour``."""
    if not valid_rate_limit(value):
        raise ValueError("must look like '5/minute;30/hour', each at least 1 a period")
    return value


def _site_url(value: str) -> str:
    """An https:// URL, or a path on this site (not ``//host/…`` or ``/\\host/…``, which browsers
    load from another host, over whatever scheme the page has)."""
    if not value.startswith(("https://", "/")) or value.startswith(("//", "/\\")):
        raise ValueError("must be an https:// URL or a path on this site")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _number_as_text(value: object) -> object:
    """A whole number written without quotes (UnleashX's agent ids are integers) read as its digits."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


AgentId = Annotated[Text, BeforeValidator(_number_as_text)]  # the provider's id: text, or a whole number
VariableName = Annotated[str, StringConstraints(pattern=VARIABLE_PATTERN)]


def _origin(value: str) -> str:
    """An origin as browsers send it: lower case, no trailing slash, no default port (a browser
    on https://shop.example.com never sends ``:443``, so a listed one would never match)."""
    origin = value.rstrip("/").lower()
    return origin.removesuffix(":443" if origin.startswith("https:") else ":80")


Origin = Annotated[str, StringConstraints(pattern=ORIGIN_PATTERN), AfterValidator(_origin)]
RateLimit = Annotated[Text, AfterValidator(_rate_limit)]
CallMode = Literal["voice", "text"]  # a call with the microphone, or a chat without it
MODES: dict[str, tuple[CallMode, ...]] = {"off": ("voice",), "allowed": ("voice", "text"), "only": ("text",)}


def _country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code that libphonenumber knows (upper case)."""
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not an ISO 3166 country code with phone numbers (like 'US', 'GB')")
    return code


def _e164(value: str) -> str:
    """A number in E.164 form (+ and 7 to 15 digits, spaces allowed), as digits.

    Our own caller id, not a number a visitor gives: its form is checked, not whether
    libphonenumber knows it as valid (a provider's test number, +1 555 …, is not).
    """
    digits = "".join(value.split())
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", digits):
        raise ValueError("must be a phone number in E.164 form, like +14155550123")
    return digits


CountryCode = Annotated[str, AfterValidator(_country)]
E164 = Annotated[str, AfterValidator(_e164)]


class PhoneSettings(BaseModel):
    """``[agents.<slug>.phone]``: whether and whom an agent may call back, and what its provider needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: StrictBool = False
    allowed_countries: tuple[CountryCode, ...] = ()  # required when enabled: no number elsewhere is dialled
    consent_text: Text | None = None  # what the caller accepts before we dial
    cooldown_s: Annotated[StrictInt, Field(ge=0, le=7 * 86400)] = 600  # per destination number
    daily_cap_per_number: Annotated[StrictInt, Field(ge=1, le=100)] = 3
    # Calls cost money per minute: the bot check must pass first unless this, or else the agent's
    # own ``bot_check``, says false (see Agent.phone_checks_bots).
    bot_check: StrictBool | None = None
    from_number: E164 | None = None  # Ravan: the caller id (a number bought or connected in Ravan)
    phone_number_id: Annotated[str, StringConstraints(pattern=PHONE_NUMBER_ID_PATTERN)] | None = None
    agent_id: AgentId | None = None  # the provider's agent for phone calls, when not the web one

    @model_validator(mode="after")
    def _countries_when_enabled(self) -> PhoneSettings:
        """No country list, no calls."""
        if self.enabled and not self.allowed_countries:
            raise ValueError("allowed_countries is required when phone calls are enabled")
        return self


class Agent(BaseModel):
    """One public agent: a slug bound to a provider's agent and its per-call settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
    provider: str
    agent_id: AgentId  # the provider's agent id; for livekit, the agent name to dispatch
    title: Text
    description: str = ""
    # the first message the agent says, where the provider takes one (``first_message`` is the
    # same setting, by the name Retell's and ElevenLabs' dashboards give it)
    greeting: Text | None = Field(default=None, validation_alias=AliasChoices("greeting", "first_message"))
    system_prompt: Text | None = None  # Convoi only: per-call system prompt override
    variables: dict[VariableName, str] = Field(default_factory=dict)  # default prompt variables
    allowed_variables: frozenset[VariableName] = frozenset()  # names a page may set
    allowed_origins: tuple[Origin, ...] = ()  # other sites that may start calls
    max_call_s: Annotated[StrictInt, Field(ge=10, le=86400)] | None = None  # None: WEBCALL_MAX_CALL_S
    bot_check: StrictBool | None = None  # web calls; None: on where Turnstile is configured
    calls_per_minute: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = None  # None: deployment default
    daily_budget: Annotated[StrictInt, Field(ge=1, le=10_000_000)] | None = None  # None: deployment default
    ip_rate_limit: RateLimit | None = None  # per-client limit for this agent, e.g. "5/minute"
    accent_color: Annotated[str, StringConstraints(pattern=COLOR_PATTERN)] | None = None
    logo_url: Annotated[Text, AfterValidator(_site_url)] | None = None
    consent_text: Text | None = None  # shown once before the first call; the caller must accept it
    theme: Literal["system", "light", "dark"] = "system"
    # The call page's words (and its lang); "auto": the caller's browser language, if the page has it.
    page_language: Literal["auto", PageLanguage] = "en"
    web: StrictBool | None = None  # browser calls; by default on where the provider has them
    phone: PhoneSettings | None = None  # phone callbacks ("Call my phone"), off by default
    # Media beyond the voice (see "Video, camera, screen share, chat and push-to-talk" in the README).
    agent_video: StrictBool = True  # the agent's video (an avatar) in place of the visualizer
    avatar: StrictBool = False  # livekit: ask the agent worker for an avatar video (in its dispatch metadata)
    camera: Literal["off", "optional", "on"] = "off"  # the caller's camera: offered, or on from the start
    screen_share: StrictBool = False  # the caller may share a screen or a window
    text_only: Literal["off", "allowed", "only"] = "off"  # "Chat instead": a call without the microphone
    push_to_talk: StrictBool = False  # the microphone is open only while the caller holds the button or Space
    feedback: StrictBool = False  # after a web call, ask the caller how it went (kept in the call log)
    # Where the provider keeps the call's data, for providers that offer a choice (their
    # ``regions``); None: the provider's default.
    region: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _agent_id_from_phone(cls, data: Any) -> Any:
        """An agent that names its provider's agent only in its phone table (UnleashX's integer
        id, a Convoi workforce) uses that one for everything."""
        if isinstance(data, dict) and data.get("agent_id") is None:
            phone = data.get("phone")
            if isinstance(phone, dict) and phone.get("agent_id") is not None:
                return {**data, "agent_id": phone["agent_id"]}
        return data

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, provider: str) -> str:
        """A provider in the registry."""
        if provider not in registry():
            usable = [
                name for name, s in registry().items() if s.supports("web_call") or s.supports("phone_call")
            ]
            raise ValueError(f"provider must be one of {', '.join(usable)}")
        return provider

    @model_validator(mode="after")
    def _consistent(self) -> Agent:
        """The settings against the provider and each other: every problem at once."""
        problems = [*self._provider_problems(), *self._media_problems()]
        region = registry()[self.provider].check_region(self.region) if self.region is not None else None
        if region:
            problems.append(f"region: {region}")  # one the provider offers (where it keeps the data)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _provider_problems(self) -> list[str]:
        """What the provider can do (web, phone) and its own rules for ids and phone settings."""
        spec = registry()[self.provider]
        if not spec.supports("web_call") and (self.web or not self.takes_phone_calls):
            web = [name for name, s in registry().items() if s.supports("web_call")]
            fix = (
                "remove web = true (its page and widget offer the phone form)"
                if self.web
                else f"enable [agents.{self.slug}.phone], or use one of {', '.join(web)} for a web agent"
            )
            return [f"provider {self.provider!r} places phone calls only and has no web call: {fix}"]
        problems = []
        if not self.takes_web_calls and not self.takes_phone_calls:
            problems.append("neither web calls nor phone calls are on: turn one of them on")
        if self.takes_phone_calls and not spec.supports("phone_call"):
            problems.append(f"phone.enabled: {spec.no_phone_reason or f'{spec.title} places no phone calls'}")
        elif self.phone is not None and self.takes_phone_calls and spec.check_phone:
            problems.extend(f"phone: {p}" for p in spec.check_phone(self.agent_id, self.phone))
        problem = spec.check_agent_id(self.agent_id, web=self.takes_web_calls)
        if problem:
            problems.append(f"agent_id: {problem}")
        return problems

    @property
    def takes_web_calls(self) -> bool:
        """True when browsers may call this agent: by default where the provider has web calls,
        except for a phone agent whose id takes none (a Convoi workforce, ``sqd_…``)."""
        if self.web is not None:
            return self.web
        spec = registry()[self.provider]
        if self.takes_phone_calls:
            return spec.web_call_fits(self.agent_id)
        return spec.supports("web_call")

    @property
    def takes_phone_calls(self) -> bool:
        """True when this agent calls visitors back on their phone."""
        return self.phone is not None and self.phone.enabled

    def _media_problems(self) -> list[str]:
        """Media settings that contradict each other or the provider."""
        problems = []
        if self.push_to_talk and self.text_only == "only":
            problems.append("push_to_talk needs the microphone, which text_only = 'only' never opens")
        if self.avatar and self.provider != "livekit":
            problems.append("avatar is sent in LiveKit's agent dispatch: only the livekit provider has one")
        if self.avatar and not self.agent_video:
            problems.append("avatar = true asks for a video that agent_video = false would not show")
        spec = registry()[self.provider]
        if self.text_only != "off" and not spec.reads_typed_messages:
            problems.append(f"text_only: {spec.title}'s agents read nothing the page types, so no chat")
        return problems

    @property
    def modes(self) -> tuple[CallMode, ...]:
        """The kinds of call this agent takes, the default first."""
        return MODES[self.text_only]

    def browser_devices(self) -> dict[str, bool]:
        """The devices this agent's calls use in a browser (its page's Permissions-Policy, and
        what an iframe of it must allow): the microphone unless it only chats, the camera and
        screen capture where enabled; none for a phone-only agent, whose page runs no call."""
        web = self.takes_web_calls
        return {
            "microphone": web and self.text_only != "only",
            "camera": web and self.camera != "off",
            "display_capture": web and self.screen_share,
        }

    def publish_sources(self, mode: CallMode) -> list[str]:
        """What a caller in a ``mode`` call may publish (LiveKit's track sources)."""
        sources = ["microphone"] if mode == "voice" else []
        if self.camera != "off":
            sources.append("camera")
        if self.screen_share:
            sources.append("screen_share")
        return sources

    def checks_bots(self, configured: bool) -> bool:
        """Whether a web call must pass the bot check: the agent's ``bot_check``, else whether
        the deployment has one (``configured``)."""
        return configured if self.bot_check is None else self.bot_check

    @property
    def phone_checks_bots(self) -> bool:
        """Whether a phone call must pass the bot check: the phone table's ``bot_check``, else
        the agent's own, else yes (required by default: each call costs money per minute)."""
        phone = self.phone.bot_check if self.phone is not None else None
        return next((choice for choice in (phone, self.bot_check) if choice is not None), True)

    def needs_bot_check(self, configured: bool) -> bool:
        """Whether a page of this agent runs the bot check: for its web calls or its phone form."""
        phone = self.takes_phone_calls and self.phone_checks_bots
        return (self.takes_web_calls and self.checks_bots(configured)) or phone

    def media(self) -> dict[str, Any]:
        """What the call page needs to know to offer each kind of media."""
        return self.model_dump(include={"agent_video", "camera", "screen_share", "text_only", "push_to_talk"})

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
        problems.extend(f"{where}: {line}" for line in _table_problems(data, error))
        return None


def _table_problems(data: dict[str, Any], error: ValidationError) -> list[str]:
    """The table's own checks (the settings against the provider and each other), which pydantic
    runs only once every field is valid: run on the table without its broken fields, so that one
    start-up lists every problem. None when the provider or the agent id is what is broken."""
    errors = error.errors()
    if any(not problem["loc"] for problem in errors):  # they ran: what they found is told already
        return []
    broken = {problem["loc"][0] for problem in errors}
    if broken & {"provider", "agent_id"}:
        return []
    rest = {name: value for name, value in data.items() if name not in broken}
    if "slug" in broken:
        rest["slug"] = "agent"  # any valid one: the checks do not read it
    try:
        Agent.model_validate(rest)
    except ValidationError as more:
        found = zip(more.errors(), describe(more), strict=True)
        return [line for problem, line in found if not problem["loc"]]
    return []


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
    # Anything beside [agents.*] would be dropped without a word: a `max_call_s` above every
    # table, a typo'd [agent.x.phone], a [defaults] table. Refused, as an agent's unknown keys are.
    problems.extend(
        f"{path}: {key[:64]!r} is not a setting here: every setting goes in an [agents.<slug>] table"
        for key in data
        if key != "agents"
    )
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
