"""What every provider module declares, takes and gives back.

A provider is one module in this package with a module-level ``PROVIDER``: a
:class:`ProviderSpec` naming its variables (a :class:`ProviderSettings` model), its
agent-id rule and its adapter class. The adapter's capabilities are its methods:
``create_web_call``, ``create_phone_call``, ``list_calls``, ``get_call``, ``end_call``;
a capability the provider lacks is a method the class does not have. Request building
and answer parsing are pure functions in the module; :mod:`.transport` does the I/O.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol, get_args
from urllib.parse import SplitResult, urlsplit

import httpx
import orjson
from pydantic import AfterValidator, Field, SecretStr, create_model
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..errors import ProviderBadResponse, ProviderError

if TYPE_CHECKING:
    from ..catalogue import Agent

log = logging.getLogger(__name__)

# The capabilities a provider may have, and the adapter method that provides each.
CAPABILITIES = {
    "web_call": "create_web_call",
    "phone_call": "create_phone_call",
    "list_calls": "list_calls",
    "get_call": "get_call",
    "end_call": "end_call",
}


def _http_url(value: str) -> str:
    """An http(s) base URL, with a host (and a port, if any, that is one), without its trailing
    slash."""
    no_space(value)
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    if not is_web_url(value):
        raise ValueError("must be an http(s) URL with a host, like https://api.example.com")
    return value.rstrip("/")


def is_web_url(value: str) -> bool:
    """Whether ``value`` is an http(s) URL with a host and, if it names a port, one that is one."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:  # ``http://[``: no URL
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok(parts)


def port_ok(parts: SplitResult) -> bool:
    """Whether the URL's port, if any, is a number from 0 to 65535."""
    try:
        parts.port  # noqa: B018  (reading it checks it)
    except ValueError:
        return False
    return True


def no_space(value: str) -> None:
    """Refuses a URL setting with a space inside it, which no URL has: two settings written on
    one line of .env (``A=https://x  B=1``) make one value of the rest of the line."""
    if any(char.isspace() for char in value.strip()):
        raise ValueError("has a space inside it: no URL has one (one setting a line in .env)")


HttpUrlText = Annotated[str, AfterValidator(_http_url)]


# What a provider's answer may hand the browser (and the call log keeps): longer is no answer.
MAX_ID_CHARS = 255  # a call's id: the call log's column, and what Ravan's webhook takes
# A LiveKit participant token: a few kB, but the providers put the page's variables and
# metadata in its dispatch (JSON in JSON in base64: an emoji's 4 bytes grow to about 19), so a
# 16 KiB request can make one of 80 kB. The call exists by then: refusing it would leave it
# running at the provider, so only a broken answer is longer than this.
MAX_TOKEN_CHARS = 1024 * 1024
MAX_URL_CHARS = 2 * 1024
LIVEKIT_URL_SCHEMES = ("ws", "wss", "http", "https")  # the SDK reads http(s):// the same as ws(s)://
CLOCK_SKEW_S = 30  # a token that expired longer ago than this is not a clock running ahead of ours


def livekit_url_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a LiveKit server's client URL, or None.

    The one rule for every URL a browser is sent to a room with: our settings' and the
    providers' answers'.
    """
    if len(value) > MAX_URL_CHARS:
        return f"must be at most {MAX_URL_CHARS} characters"
    if not value.isprintable() or any(char.isspace() for char in value):
        return "must be a URL without spaces or control characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (reading it checks the port: a number in range)
    except ValueError:
        return "must be a ws(s):// or http(s):// URL with a host"
    if parts.scheme not in LIVEKIT_URL_SCHEMES or not value.startswith(f"{parts.scheme}://"):
        return "must be a ws(s):// or http(s):// URL"
    if not parts.hostname:
        return "must be a ws(s):// or http(s):// URL with a host"
    return None


def _livekit_url(value: str) -> str:
    """A LiveKit server's client URL, for a setting."""
    problem = livekit_url_problem(value)
    if problem:
        raise ValueError(problem)
    return value


LiveKitUrlText = Annotated[str, AfterValidator(_livekit_url)]


def credential(env_var: str) -> Any:
    """A variable the provider cannot work without (unset: the provider is not configured)."""
    return Field(None, validation_alias=env_var, json_schema_extra={"credential": True})


def _is_credential(field: FieldInfo) -> bool:
    """Whether a settings field was declared with `credential`."""
    return isinstance(field.json_schema_extra, dict) and bool(field.json_schema_extra.get("credential"))


def base_url(env_var: str, default: str | None) -> Any:
    """Where the provider's API lives; ``env_var`` overrides it (staging, tests)."""
    return Field(default, validation_alias=env_var)


# How every settings model reads the environment (and .env): other variables ignored, values
# kept out of error messages, and ``NAME=`` (as .env.example writes them) read as unset: the
# default, not a value to refuse.
ENV_SETTINGS = SettingsConfigDict(
    extra="ignore", frozen=True, hide_input_in_errors=True, env_ignore_empty=True
)


class ProviderSettings(BaseSettings):
    """A provider's environment variables; each provider module declares its own subclass.

    Fields use the variable's full name as alias, so the same model reads the real
    environment and ``.env`` (pydantic-settings) or a plain mapping (``model_validate``).
    """

    model_config = ENV_SETTINGS

    def credential_vars(self) -> dict[str, str]:
        """Field name → environment variable, for every credential this provider needs."""
        fields = type(self).model_fields.items()
        return {name: str(info.validation_alias) for name, info in fields if _is_credential(info)}

    @classmethod
    def credentials_model(cls) -> type[ProviderSettings]:
        """A model of this provider's credentials alone: which are unset can be said even when
        another of its variables is refused."""
        fields: dict[str, Any] = {
            name: (info.annotation, info) for name, info in cls.model_fields.items() if _is_credential(info)
        }
        return create_model(f"{cls.__name__}Credentials", __base__=ProviderSettings, **fields)

    def missing(self) -> list[str]:
        """The credential variables that are unset or empty."""
        return [var for name, var in self.credential_vars().items() if not _text(getattr(self, name))]

    def secret_values(self) -> list[str]:
        """Every secret's value, for scrubbing logs."""
        values = [getattr(self, name) for name in type(self).model_fields]
        return [v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value()]

    def is_configured(self) -> bool:
        """True when every credential is set."""
        return not self.missing()

    def creates_per_minute(self) -> int | None:
        """Calls one key may create a minute (a field of providers that document a limit), else None."""
        return self._per_minute("create_limit_per_minute")

    def reads_per_minute(self) -> int | None:
        """Reads one key may make a minute (a field of providers that document a limit), else None."""
        return self._per_minute("read_limit_per_minute")

    def _per_minute(self, name: str) -> int | None:
        value = getattr(self, name, None)
        return value if isinstance(value, int) else None


def _text(value: object) -> str:
    """A setting's text (a secret's value), stripped."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value.strip() if isinstance(value, str) else ""


def secret(value: SecretStr | None) -> str:
    """The value of a credential the registry checked was set."""
    return value.get_secret_value().strip() if value is not None else ""


@dataclass(frozen=True)
class ProviderContext:
    """What the app gives every adapter: one shared HTTP client and the deadlines."""

    http: httpx.Client
    deadline_s: float = 12.0  # connect + read timeout: no call to a provider takes longer
    token_ttl_s: int = 600  # livekit: participant token lifetime


AGENT_KEY = "webcall_agent"  # in every call's metadata: the agent's slug (ours, not the page's)


@dataclass(frozen=True)
class WebCallRequest:
    """A validated request for one browser call with one agent."""

    agent: Agent
    variables: Mapping[str, str] = field(default_factory=dict)  # defaults + allowed page values
    # The page's, as far as the provider takes it (see ``ProviderSpec.page_metadata``), and ours.
    metadata: Mapping[str, Any] = field(default_factory=dict)
    participant_name: str | None = None
    # Ours, scoped by agent and client: two visitors never share one (None: no key was sent).
    idempotency_key: str | None = None
    mode: Literal["voice", "text"] = "voice"  # text: a chat, the caller publishes no audio
    # A shorter life for a token we mint (livekit): for clients that keep tokens (see /api/token).
    token_ttl_s: int | None = None


@dataclass(frozen=True)
class WebCall:
    """What the browser needs to join the call's LiveKit room."""

    call_id: str
    livekit_url: str
    token: str = field(repr=False)
    room: str | None = None
    identity: str | None = None
    expires_at: datetime | None = None
    # What the page's protocol adapter for this provider needs besides the room (JSON values;
    # ElevenLabs: the message to send first). Empty for providers whose agents need nothing.
    protocol: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PhoneCallRequest:
    """A validated request for a provider to call one phone number with one agent."""

    agent: Agent
    to_number: str = field(repr=False)  # E.164; never logged or repr'd (the masked form is)
    masked_number: str = ""
    name: str | None = None  # the person's name, where the provider takes one
    variables: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None  # ours, scoped by agent and client


@dataclass(frozen=True)
class PhoneCall:
    """What a provider says about an outbound call it accepted."""

    call_id: str  # the provider's id for the call
    status: CallStatus = "created"
    provider_status: str | None = None


# One vocabulary for every provider's call states (each module maps its own words onto it).
CallStatus = Literal[
    "created",  # the provider has the call; nobody has joined yet
    "in_progress",
    "completed",
    "failed",
    "no_answer",
    "busy",
    "voicemail",
    "unknown",  # the provider said something we don't know (its word is kept as provider_status)
]
CALL_STATUSES: tuple[str, ...] = get_args(CallStatus)
FINAL_STATUSES = frozenset({"completed", "failed", "no_answer", "busy", "voicemail"})
Channel = Literal["web", "phone"]
CHANNELS: tuple[str, ...] = get_args(Channel)


@dataclass(frozen=True)
class TranscriptLine:
    """One utterance: who spoke (``agent`` or ``user``, the caller), what they said, and when."""

    role: str
    text: str
    at: datetime | None = None


@dataclass(frozen=True)
class ProviderCall:
    """One call as a provider's history reports it; None means "not in this answer"."""

    call_id: str  # the provider's id
    agent_id: str | None = None  # the provider's agent id
    status: CallStatus | None = None
    provider_status: str | None = None  # the provider's own word for the status
    channel: Channel | None = None
    room: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    cost: float | None = None
    cost_currency: str | None = None
    summary: str | None = None
    recording_url: str | None = None
    transcript: tuple[TranscriptLine, ...] | None = None  # list pages usually carry none
    # False: the provider has more to tell of this call (an ended call it is still analysing, its
    # summary to come), so a full read of it now is not its last.
    settled: bool = True


@dataclass(frozen=True)
class HistoryQuery:
    """Which calls ``list_calls`` asks for: one agent's, within a time range.

    ``filters`` are the provider's own documented list filters, passed on as they are
    (each adapter checks the names it knows); providers that cannot filter on the
    server filter what they receive.
    """

    agent_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    filters: Mapping[str, str] = field(default_factory=dict)
    region: str | None = None  # the agent's region, where its provider keeps data per region


@dataclass(frozen=True)
class CallPage:
    """One page of a provider's call list.

    ``next_cursor`` is where the next page starts (None: this was the last). A page the
    provider broke comes back with ``error`` set and no calls; its ``next_cursor`` is
    set only when the paging lets the caller step over it (numbered pages can be, a
    lost cursor cannot).
    """

    calls: tuple[ProviderCall, ...] = ()
    next_cursor: str | None = None
    skipped: int = 0  # entries that were not calls we could read
    error: ProviderError | None = None
    # Each entry is the whole call, as ``get_call`` answers it: nothing is left to read in full.
    whole: bool = False


class Provider(Protocol):
    """An adapter. Capability methods (see ``CAPABILITIES``) are present only where supported."""

    name: ClassVar[str]

    def is_reachable(self, timeout_s: float) -> bool:
        """True when the provider answers (for ``/readyz``)."""
        ...

    def livekit_url_before_call(self) -> str | None:
        """The LiveKit URL when known before a call is created (the page warms it up), else None."""
        ...


@dataclass(frozen=True)
class ProviderSpec:
    """One provider: its name, its variables, its agent-id rule and its adapter."""

    name: str
    title: str
    settings: type[ProviderSettings]
    adapter: Any  # a class: adapter(settings, context) -> Provider
    agent_id_pattern: str  # what the provider's agent ids look like
    agent_id_hint: str  # said to the operator when an id does not match
    # Where the provider keeps data, for agents that choose (an agent's ``region``); empty when
    # the provider offers no choice.
    regions: tuple[str, ...] = ()
    # False when the provider's agents read nothing the page types (no chat box, no text-only calls).
    reads_typed_messages: bool = True
    # False when the provider reports no call summary (the admin view says so, not "not yet").
    writes_summaries: bool = True
    # True when the provider answers a create sent again with the same Idempotency-Key with its first
    # call (Convoi, for a day): a retry then gets that call whenever it comes, token and all.
    replays_key: bool = False
    # Where a page's free-form ``metadata`` goes: a field of its own (``own``); the object that
    # also carries the prompt variables (``variables``: Convoi, Zudu), where each key is held to the
    # agent's ``allowed_variables`` like a variable; or nowhere, the provider having no such field.
    page_metadata: Literal["own", "variables", "nowhere"] = "own"
    # Stricter for browser calls, where a provider needs it (Convoi: a workforce calls phones only).
    web_agent_id_pattern: str | None = None
    web_agent_id_hint: str | None = None
    # Why a provider without create_phone_call cannot call phones (said when an operator asks it to).
    no_phone_reason: str | None = None
    # Checks a [agents.<slug>.phone] table for what this provider needs there (its caller id, ...).
    check_phone: Any = None  # (phone config) -> list of problems

    @property
    def capabilities(self) -> frozenset[str]:
        """The capabilities whose method the adapter class has."""
        return frozenset(
            cap for cap, method in CAPABILITIES.items() if callable(getattr(self.adapter, method, None))
        )

    def supports(self, capability: str) -> bool:
        """True when the adapter has ``capability``."""
        return capability in self.capabilities

    def check_agent_id(self, agent_id: str, *, web: bool = True) -> str | None:
        """None when ``agent_id`` fits this provider (for a browser call when ``web``), else what is wrong."""
        if not re.fullmatch(self.agent_id_pattern, agent_id):
            return self.agent_id_hint
        if web and self.web_agent_id_pattern and not re.fullmatch(self.web_agent_id_pattern, agent_id):
            return self.web_agent_id_hint or self.agent_id_hint
        return None

    def web_call_fits(self, agent_id: str) -> bool:
        """True when this provider has web calls and ``agent_id`` may take one (a workforce may not)."""
        if not self.supports("web_call"):
            return False
        return not self.web_agent_id_pattern or re.fullmatch(self.web_agent_id_pattern, agent_id) is not None

    def check_region(self, region: str) -> str | None:
        """None when agents of this provider may choose ``region``, else what is wrong."""
        if region in self.regions:
            return None
        if not self.regions:
            return f"provider {self.name!r} offers no choice of region"
        return f"provider {self.name!r} has the regions {', '.join(self.regions)}"


def complete_from_token(call: WebCall, *, now: datetime | None = None) -> WebCall:
    """Fill room, identity and expiry from the LiveKit token's claims where the provider gave none.

    Providers don't document their tokens' lifetime, so the token itself is the
    source of truth. It is decoded, not verified: we don't hold the provider's key.
    A token that has already expired (beyond ``CLOCK_SKEW_S``) is logged: the page will not
    join with it. It is still handed on, as a provider's (or its test double's) clock or fixed
    token may be off and LiveKit's server is the judge of its own tokens.
    """
    claims = unverified_claims(call.token)
    video = first_dict(claims.get("video"))
    exp = claims.get("exp")
    token_expires_at = from_unix(exp) if not isinstance(exp, bool) and isinstance(exp, int | float) else None
    if token_expires_at is not None:
        late_s = ((now or datetime.now(UTC)) - token_expires_at).total_seconds()
        if late_s > CLOCK_SKEW_S:
            log.warning("provider answered a token that expired %d s ago: the page may not join", late_s)
    expires_at = call.expires_at or token_expires_at
    return dataclasses.replace(
        call,
        room=call.room or optional_str(video.get("room")),
        identity=call.identity or optional_str(claims.get("sub")),
        expires_at=expires_at,
    )


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's claims, read without checking its signature (PyJWT's unverified decode took 30 us
    a call for the same answer); anything that is not a JWT with a JSON object inside is a bad answer."""
    try:
        _header, payload, _signature = token.split(".")
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise ProviderBadResponse() from exc
    if not isinstance(claims, dict):
        raise ProviderBadResponse()
    return claims


def optional_str(value: object) -> str | None:
    """``value`` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def require_str(value: object, max_chars: int = MAX_ID_CHARS) -> str:
    """``value`` stripped, if it is a non-empty string of at most ``max_chars`` (an id's, by
    default); a provider answer without it is unusable."""
    if not isinstance(value, str) or not value.strip():
        raise ProviderBadResponse()
    text = value.strip()
    if len(text) > max_chars:
        log.error("provider answered a text of %d characters where at most %d fit", len(text), max_chars)
        raise ProviderBadResponse()
    return text


def require_token(value: object) -> str:
    """A participant token from a provider's answer: text of at most ``MAX_TOKEN_CHARS``."""
    return require_str(value, MAX_TOKEN_CHARS)


def require_livekit_url(value: object) -> str:
    """The LiveKit URL in a provider's answer, by the rule our settings follow (``livekit_url_problem``)."""
    url = require_str(value, MAX_URL_CHARS)
    problem = livekit_url_problem(url)
    if problem:
        log.error("provider answered a LiveKit url that %s: the page could not join", problem)
        raise ProviderBadResponse()
    return url


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text or epoch milliseconds; None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return from_unix(value / 1000)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved past the calendar's end
        return None


def from_unix(seconds: float) -> datetime | None:
    """The aware UTC moment ``seconds`` after the Unix epoch; None when it is off the calendar."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def shifted(moment: datetime | None, seconds: float | None) -> datetime | None:
    """``moment`` plus ``seconds`` (a duration, an offset into a call); None when either is
    missing or the sum is off the calendar (a provider's absurd duration must not fail its call)."""
    if moment is None or seconds is None:
        return None
    try:
        return moment + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None


def refused_in_answer() -> ProviderBadResponse:
    """A 2xx answer that says the request failed (``success: false``, ``error: true``): no call to
    use, and a refusal in so many words (nothing was dialled), as a 4xx would be."""
    error = ProviderBadResponse()
    error.upstream_status = 200
    return error


def optional_number(value: object) -> float | None:
    """A finite number from a number or numeric text (providers send costs as either)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and value == value and abs(value) != float("inf"):
        return float(value)
    return None


def first_dict(*candidates: object) -> dict[str, Any]:
    """The first candidate that is a dict (providers nest the same fields differently)."""
    for candidate in candidates:
        if isinstance(candidate, dict):
            return candidate
    return {}
