"""Settings: the only reader of the environment and ``.env`` (pydantic-settings).

:meth:`Settings.from_env` validates everything at start-up (these variables, the agent
catalogue, each provider's credentials) and raises :class:`ConfigError` naming every
problem at once, so an operator fixes a bad deployment in one go instead of one restart
per typo. Every field's alias is its variable's name, so :meth:`Settings.from_mapping`
validates a plain mapping the same way (tests, tools).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .catalogue import Agent, load_catalogue, parse_agent, valid_rate_limit
from .errors import ConfigError
from .providers import ProviderSettings, registry
from .providers.base import ENV_SETTINGS, is_web_url, no_space, port_ok

# Not redis+sentinel://: limits could count there, but the replays' client (redis.Redis.from_url) cannot.
STORAGE_SCHEMES = ("memory://", "redis://", "rediss://")
HOUR_S = 3600
DAY_S = 24 * HOUR_S
DATABASE_SCHEMES = ("sqlite:///", "postgresql://", "postgres://", "postgresql+psycopg://")
URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")  # one URL path segment, nothing to escape
EVENTS_SECRET_PREFIX = "whsec_"
HEADER_SAFE = re.compile(r"[!-~]+")  # printable ASCII, no spaces: what an HTTP header carries as it is
MIN_INTERVAL_S = 60  # the periodic history sync: providers limit how often we may read


def _rate_limits(value: str) -> str:
    """A rate limit string (``limits``' notation)."""
    if not valid_rate_limit(value):
        raise ValueError(f"must look like '10/minute;60/hour', each at least 1 a period, got {value!r}")
    return value


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of a secret that does not even leak its length (both are hashed)."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def _storage(value: str) -> str:
    """Where limits, budgets and replays are counted."""
    no_space(value)  # two settings on one .env line would be read as one URL
    if not value.startswith(STORAGE_SCHEMES):
        raise ValueError("must be memory:// or a redis:// or rediss:// URL (Redis Sentinel is not supported)")
    parts = urlsplit(value)
    if not port_ok(parts):
        raise ValueError("has a port that is not a number from 0 to 65535")
    database = parts.path.strip("/")
    if parts.scheme != "memory" and database and not database.isdigit():
        # Else accepted here, and every call refused later with limits_unavailable.
        raise ValueError(f"names Redis database {database!r}: its path is a database's number (/0)")
    return value


def origin_url(value: str) -> str:
    """``scheme://host[:port]``, nothing after it (no user, a port that is a port): browsers
    send no such Origin, so every call from the app's own pages would be refused."""
    no_space(value)
    parts = urlsplit(value.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path.strip("/")
        or parts.query
        or not port_ok(parts)
    ):
        raise ValueError("must be the public origin, like https://calls.example.com (no user, no path)")
    return f"{parts.scheme}://{parts.netloc}".lower()


ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted_proxies(value: object) -> int | tuple[ProxyNetwork, ...]:
    """How many proxies are in front (``1``), or the addresses they connect from (``10.0.0.2,
    10.1.0.0/16``): forwarded headers are then believed from those addresses only."""
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return int(value)
    if not isinstance(value, str):
        raise ValueError("must be a number of proxies or a list of their addresses")
    try:
        parts = (part.strip() for part in value.split(","))
        networks = tuple(ipaddress.ip_network(part, strict=False) for part in parts if part)
    except ValueError:
        raise ValueError(
            "must be the number of proxies in front (1) or their addresses, comma-separated "
            "(10.0.0.2, 10.1.0.0/16)"
        ) from None
    return networks


TrustedProxies = Annotated[int | tuple[ProxyNetwork, ...], NoDecode, BeforeValidator(_trusted_proxies)]


def _web_url(value: str) -> str:
    """An http(s) URL with a host: a page's script and a server-side request go there."""
    no_space(value)
    if not is_web_url(value):
        raise ValueError("must be an http(s) URL with a host, like https://example.com/hook")
    return value.strip()


def _log_level(value: str) -> str:
    """A level name the logging module knows."""
    level = value.strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


def _database_url(value: SecretStr | None) -> SecretStr | None:
    """SQLite (a file) or PostgreSQL; unset or empty means the SQLite file in the instance folder."""
    if value is None or not value.get_secret_value().strip():
        return None
    url = value.get_secret_value().strip()
    if not url.startswith(DATABASE_SCHEMES):
        raise ValueError("must be sqlite:///<file> or a postgresql:// URL")
    if url.startswith("sqlite:///") and url.removeprefix("sqlite:///") in ("", ":memory:"):
        raise ValueError("an SQLite call log needs a file: sqlite:///<path> (each worker shares it)")
    # A password's own @ ends it early and the rest reads as the host (which the driver's error
    # would then print), or as a port that is not a number: refused here, in words without the URL.
    try:
        readable = "@" not in (make_url(url).host or "")
    except (ArgumentError, ValueError):
        readable = False
    if not readable:
        raise ValueError("cannot be read: write an @, : or / in the user name or password as %40, %3A, %2F")
    return SecretStr(url)


def _secret(*, url_safe: bool = False, header_safe: bool = False) -> AfterValidator:
    """An optional secret: empty means unset. A short one is allowed (tests, a first try) and
    warned about at start-up (:meth:`Settings.warnings`)."""

    def check(value: SecretStr | None) -> SecretStr | None:
        """Unset, or a secret without surrounding spaces (URL-safe, or fit for a header, where asked)."""
        if value is None or not value.get_secret_value():
            return None
        text = value.get_secret_value()
        if url_safe and not URL_SAFE.fullmatch(text):
            raise ValueError("may hold only letters, digits, '-' and '_'")
        if header_safe and not HEADER_SAFE.fullmatch(text):
            # Sent in an Authorization header: a client sends other characters as UTF-8 bytes,
            # which no server reads back as the same text, so such a token could never match.
            raise ValueError("may hold only ASCII letters, digits and punctuation (no spaces)")
        if text != text.strip():
            raise ValueError("must not start or end with spaces")
        return value

    return AfterValidator(check)


def events_key(secret: str) -> bytes:
    """The key of a ``whsec_<base64>`` secret (Standard Webhooks' form); ValueError if it is none."""
    if not secret.startswith(EVENTS_SECRET_PREFIX):
        raise ValueError(f"must be {EVENTS_SECRET_PREFIX} and base64 (a Standard Webhooks secret)")
    try:
        key = base64.b64decode(secret.removeprefix(EVENTS_SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError(f"must be {EVENTS_SECRET_PREFIX} and base64 (a Standard Webhooks secret)") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"must hold 24 to 64 bytes in base64 after {EVENTS_SECRET_PREFIX} (32 are usual)")
    return key


def _events_secret(value: SecretStr | None) -> SecretStr | None:
    """Unset, or a Standard Webhooks secret."""
    if value is not None and value.get_secret_value():
        events_key(value.get_secret_value())
        return value
    return None


# What ``WEBCALL_EVENTS_URL`` may be sent: ``history.store.EventType``'s (a test keeps them alike).
EVENT_TYPES = ("call.created", "call.started", "call.ended", "call.rated", "demo_link.opened")


def _event_types(value: object) -> tuple[str, ...]:
    """The events to send, named comma-separated (``call.ended, call.rated``), in their own order;
    every one when none is named."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise ValueError("must name events, comma-separated")
    named = [str(part).strip() for part in value if str(part).strip()]
    unknown = [name for name in named if name not in EVENT_TYPES]
    if unknown:
        raise ValueError(
            f"{unknown[0][:40]!r} is no event: name some of {', '.join(EVENT_TYPES)}, comma-separated"
        )
    return tuple(kind for kind in EVENT_TYPES if kind in named) or EVENT_TYPES


EventTypes = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_event_types)]
OptionalSecret = SecretStr | None
EventsSecret = Annotated[OptionalSecret, AfterValidator(_events_secret)]
DatabaseUrl = Annotated[OptionalSecret, AfterValidator(_database_url)]
Secret = Annotated[OptionalSecret, _secret()]
BearerToken = Annotated[OptionalSecret, _secret(header_safe=True)]
UrlSafeToken = Annotated[OptionalSecret, _secret(url_safe=True)]
# What resists guessing: below these lengths a secret is used, and warned about at start-up.
STRONG_CHARS = {"WEBCALL_ADMIN_PASSWORD": 12, "WEBCALL_ADMIN_TOKEN": 32, "WEBCALL_WEBHOOK_TOKEN": 32,
                "WEBCALL_METRICS_TOKEN": 16}  # fmt: skip


def _var(name: str, default: Any = None, **constraints: Any) -> Any:
    """A field read from the variable ``name``."""
    return Field(default, validation_alias=name, **constraints)


RateLimits = Annotated[str, AfterValidator(_rate_limits)]
WebUrl = Annotated[str, AfterValidator(_web_url)]


class CatalogueSource(BaseSettings):
    """Where the agents come from: a catalogue file, or the one-agent quick start."""

    model_config = ENV_SETTINGS

    agents_file: Path = _var("WEBCALL_AGENTS_FILE", Path("agents.toml"))
    # The one-agent quick start (slug "default") instead of a catalogue file.
    quick_provider: str | None = _var("WEBCALL_PROVIDER")
    quick_agent_id: str | None = _var("WEBCALL_AGENT_ID")
    quick_agent_title: str | None = _var("WEBCALL_AGENT_TITLE")


class TurnstileKeys(BaseSettings):
    """The bot check's two keys, which only make sense together. Checked apart from Settings:
    a model's own checks wait for its fields, and one start-up must list every problem."""

    model_config = ENV_SETTINGS

    site_key: str | None = _var("WEBCALL_TURNSTILE_SITE_KEY")
    secret_key: SecretStr | None = _var("WEBCALL_TURNSTILE_SECRET_KEY")

    @model_validator(mode="after")
    def _both_or_neither(self) -> TurnstileKeys:
        """Both set, or neither."""
        if bool(self.site_key) != bool(self.secret_key):
            raise ValueError(
                "set both WEBCALL_TURNSTILE_SITE_KEY and WEBCALL_TURNSTILE_SECRET_KEY, or neither"
            )
        return self


class EventsTarget(BaseSettings):
    """Where events go and the secret that signs them, which only make sense together (checked
    apart from Settings, as the Turnstile keys are)."""

    model_config = ENV_SETTINGS

    url: str | None = _var("WEBCALL_EVENTS_URL")
    secret: SecretStr | None = _var("WEBCALL_EVENTS_SECRET")

    @model_validator(mode="after")
    def _both_or_neither(self) -> EventsTarget:
        """Both set, or neither."""
        if bool(self.url) != bool(self.secret and self.secret.get_secret_value()):
            raise ValueError("set both WEBCALL_EVENTS_URL and WEBCALL_EVENTS_SECRET, or neither")
        return self


class Settings(CatalogueSource):
    """Everything the app needs, validated; ``agents`` and ``providers`` come with it."""

    # Signs demo links: keep it stable across workers and restarts. Unset: a random per-process key.
    secret_key_value: SecretStr | None = _var("WEBCALL_SECRET_KEY")
    # A call's body with its variables takes a few hundred bytes: less than 1 KiB would refuse
    # calls (413) for good; more than 1 MiB only lets bigger junk in.
    max_body_bytes: PositiveInt = _var("WEBCALL_MAX_BODY_BYTES", 16 * 1024, ge=1024, le=1024 * 1024)
    # Upper bounds: past them a value is a mistake, and a huge one (1e10, inf) would fail every
    # request or call when a socket timeout, a date or a sleep cannot hold it.
    connect_timeout_s: PositiveFloat = _var("WEBCALL_CONNECT_TIMEOUT_S", 3.0, le=300, allow_inf_nan=False)
    read_timeout_s: PositiveFloat = _var("WEBCALL_READ_TIMEOUT_S", 10.0, le=HOUR_S, allow_inf_nan=False)
    # The longest a client may pause while sending a request's body or taking its answer.
    client_timeout_s: PositiveFloat = _var("WEBCALL_CLIENT_TIMEOUT_S", 15.0, le=HOUR_S, allow_inf_nan=False)
    # livekit: participant token lifetime
    token_ttl_s: PositiveInt = _var("WEBCALL_TOKEN_TTL_S", 600, le=DAY_S)
    rate_limits: RateLimits = _var("WEBCALL_RATE_LIMITS", "10/minute;60/hour")  # per client IP
    global_rate_limit: RateLimits = _var("WEBCALL_GLOBAL_RATE_LIMIT", "600/minute")  # all clients
    agent_calls_per_minute: PositiveInt = _var("WEBCALL_AGENT_CALLS_PER_MINUTE", 30)
    agent_daily_budget: PositiveInt = _var("WEBCALL_AGENT_DAILY_BUDGET", 1000)
    # The longest call of an agent without its own max_call_s (ended by the server on self-hosted
    # LiveKit, by the page for hosted providers, which document no such setting).
    max_call_s: int = _var("WEBCALL_MAX_CALL_S", 1800, ge=10, le=DAY_S)
    ratelimit_storage_uri: Annotated[str, AfterValidator(_storage)] = _var(
        "WEBCALL_RATELIMIT_STORAGE_URI", "memory://"
    )
    # How many proxies set X-Forwarded-For in front of the app, or their addresses (then believed
    # from those alone); 0: none, the address that connects is the visitor's.
    trusted_proxies: TrustedProxies = _var("WEBCALL_TRUSTED_PROXIES", 0)
    # Where visitors reach the app (behind a TLS proxy: https://calls.example.com); unset: as requested.
    public_url: Annotated[str, AfterValidator(origin_url)] | None = _var("WEBCALL_PUBLIC_URL")
    idempotency_window_s: PositiveInt = _var("WEBCALL_IDEMPOTENCY_WINDOW_S", 120, le=DAY_S)
    turnstile_site_key: str | None = _var("WEBCALL_TURNSTILE_SITE_KEY")
    turnstile_secret_key: SecretStr | None = _var("WEBCALL_TURNSTILE_SECRET_KEY")
    turnstile_verify_url: WebUrl = _var(
        "WEBCALL_TURNSTILE_VERIFY_URL", "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    )
    turnstile_script_url: WebUrl = _var(
        "WEBCALL_TURNSTILE_SCRIPT_URL",
        "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit",
    )
    log_level: Annotated[str, AfterValidator(_log_level)] = _var("WEBCALL_LOG_LEVEL", "INFO")
    log_format: Literal["json", "text"] = _var("WEBCALL_LOG_FORMAT", "json")  # text: for a terminal
    # /metrics (Prometheus) answers only with "Authorization: Bearer <this>"; unset: no /metrics.
    metrics_token: BearerToken = _var("WEBCALL_METRICS_TOKEN")
    # The call log. Unset: an SQLite file in the instance folder (one host); PostgreSQL for more.
    database_url: DatabaseUrl = _var("WEBCALL_DATABASE_URL")
    # Pull the providers' call history this often, inside the app (0: only `flask history sync`).
    history_sync_interval_s: int = _var("WEBCALL_HISTORY_SYNC_INTERVAL_S", 0, ge=0, le=7 * DAY_S)
    # The secret path segment of POST /webhooks/<provider>/<token> (unset: webhooks are off).
    webhook_token: UrlSafeToken = _var("WEBCALL_WEBHOOK_TOKEN")
    # /admin's password (unset: the admin view is off) and the admin API's bearer token (unset: off).
    admin_password: Secret = _var("WEBCALL_ADMIN_PASSWORD")
    admin_token: BearerToken = _var("WEBCALL_ADMIN_TOKEN")
    # POST call.created, call.started, call.ended, call.rated and demo_link.opened here (unset: no
    # events; only those named, when named), signed with the secret (Standard Webhooks: whsec_ and
    # base64; see history.events).
    events_url: WebUrl | None = _var("WEBCALL_EVENTS_URL")
    events_secret: EventsSecret = _var("WEBCALL_EVENTS_SECRET")
    events_types: EventTypes = _var("WEBCALL_EVENTS_TYPES", EVENT_TYPES)

    @field_validator("secret_key_value")
    @classmethod
    def _strong_key(cls, key: SecretStr | None) -> SecretStr | None:
        """A key that signs links must not be guessable."""
        if key is not None and 0 < len(key.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (it signs demo links)")
        return key

    @field_validator("history_sync_interval_s")
    @classmethod
    def _not_too_often(cls, interval_s: int) -> int:
        """Off, or at most once a minute (providers limit how often we may read their lists)."""
        if 0 < interval_s < MIN_INTERVAL_S:
            raise ValueError(f"must be 0 (off) or at least {MIN_INTERVAL_S} seconds")
        return interval_s

    # Filled in by load(): the catalogue, and the settings of every configured provider.
    _agents: dict[str, Agent] = {}
    _providers: dict[str, ProviderSettings] = {}
    _secret_key: str = ""
    _storage_key: str = ""

    @property
    def agents(self) -> Mapping[str, Agent]:
        """The catalogue, by slug."""
        return self._agents

    @property
    def providers(self) -> Mapping[str, ProviderSettings]:
        """Settings of every provider whose credentials are all set, by name."""
        return self._providers

    @property
    def secret_key(self) -> str:
        """The key that signs demo links (and Flask's session)."""
        return self._secret_key

    @property
    def provider_deadline_s(self) -> float:
        """The longest a request to a provider may take: its connect and read timeouts."""
        return self.connect_timeout_s + self.read_timeout_s

    @property
    def storage_key(self) -> str:
        """The key that hides phone numbers and callers' addresses in what is stored (a number's
        cooldown and daily cap in the limits' storage, a call's client_ref in the call log):
        ``WEBCALL_SECRET_KEY``, or when that is unset one derived from the configured providers'
        credentials. Not the random per-process key: every worker and host sharing a Redis or a
        call log must hash alike, or each would start a number's cooldown and cap afresh."""
        return self._storage_key

    def database_url_in(self, instance_path: str | Path) -> str:
        """The call log's URL: the configured one, or an SQLite file in ``instance_path``."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{Path(instance_path).resolve() / 'webcall.db'}"

    def warnings(self) -> list[str]:
        """What starts but should not go to production as it is: logged once at start-up."""
        found = []
        secrets_ = {
            "WEBCALL_ADMIN_PASSWORD": self.admin_password,
            "WEBCALL_ADMIN_TOKEN": self.admin_token,
            "WEBCALL_WEBHOOK_TOKEN": self.webhook_token,
            "WEBCALL_METRICS_TOKEN": self.metrics_token,
        }
        for name, value in secrets_.items():
            if value is not None and len(value.get_secret_value()) < STRONG_CHARS[name]:
                found.append(f"{name} is shorter than {STRONG_CHARS[name]} characters: easy to guess")
        quick = self.quick_provider or self.quick_agent_id
        if quick and ("agents_file" in self.model_fields_set or self.agents_file.is_file()):
            # Set, or the default file there (made as the README says, after a quick start).
            there = "is there" if self.agents_file.is_file() else "is set"
            found.append(f"WEBCALL_AGENTS_FILE ({self.agents_file}) {there}, and WEBCALL_PROVIDER's one "
                         "agent is used instead: the catalogue file is not read")  # fmt: skip
        if self.admin_password is not None and not self.secret_key_configured:
            found.append("WEBCALL_ADMIN_PASSWORD is set without WEBCALL_SECRET_KEY: admin sign-ins are "
                         "signed with a key of each process's own, so they end at every restart and hold "
                         "in one worker only")  # fmt: skip
        if self.public_url and self.public_url.startswith("https://") and not self.trusted_proxies:
            found.append("WEBCALL_PUBLIC_URL is https and WEBCALL_TRUSTED_PROXIES is 0: behind a TLS proxy "
                         "every visitor is counted as the proxy's address, one allowance for all of them; "
                         "set WEBCALL_TRUSTED_PROXIES to the number of proxies in front, "
                         "or their addresses")  # fmt: skip
        ravan = self.providers.get("ravan")
        if self.webhook_token is not None and ravan is not None and not getattr(ravan, "org_id", None):
            found.append("WEBCALL_WEBHOOK_TOKEN is set without RAVAN_ORG_ID: every Ravan webhook is refused "
                         "(wrong_org) until it is set")  # fmt: skip
        if not self.turnstile_secret_key:
            found.extend(
                f"[agents.{a.slug}]: bot_check = true, and no Turnstile is configured: every web call "
                "is refused (bot_check_required) until WEBCALL_TURNSTILE_SITE_KEY and "
                "WEBCALL_TURNSTILE_SECRET_KEY are set"
                for a in self.agents.values()
                if a.bot_check and a.takes_web_calls
            )
            found.extend(
                f"[agents.{a.slug}.phone]: phone calls need the bot check, and no Turnstile is configured: "
                "every phone call is refused (bot_check_required) until WEBCALL_TURNSTILE_SITE_KEY and "
                "WEBCALL_TURNSTILE_SECRET_KEY are set, or bot_check = false in this table or the agent's "
                "(calls then cost money whenever a script asks)"
                for a in self.agents.values()
                if a.takes_phone_calls and a.phone_checks_bots
            )
        return found

    @property
    def secret_key_configured(self) -> bool:
        """False when the key is random per process (demo links then won't verify elsewhere)."""
        return self.secret_key_value is not None and bool(self.secret_key_value.get_secret_value())

    @classmethod
    def from_env(cls, *, dotenv_path: str | Path | None = ".env") -> Settings:
        """Read the real environment and ``.env`` (the environment wins), then validate it all."""
        env_file = dotenv_path if dotenv_path is not None and Path(dotenv_path).is_file() else None
        if env_file is not None:
            try:
                Path(env_file).read_text(encoding="utf-8")
            except UnicodeDecodeError as error:
                raise ConfigError(
                    [f"{env_file} is not UTF-8 text (byte {error.start}): save it as UTF-8"]
                ) from None
        return cls._load(lambda model: model(_env_file=env_file))

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        """Validate ``env`` (variable name → value) as if it were the whole environment."""
        given = {name: value for name, value in env.items() if value != ""}  # ``NAME=`` is unset, as in .env
        return cls._load(lambda model: model.model_validate(given))

    @classmethod
    def _load(cls, read: Any) -> Settings:
        """Read these settings and every provider's with ``read(model)``; raise one ConfigError."""
        problems: list[str] = []
        used: set[str] = set()  # providers the catalogue names, even in tables with other problems
        try:
            agents = _load_agents(read(CatalogueSource), problems, used)
        except ValidationError as error:
            problems.extend(_name_variables(error, CatalogueSource))
            agents = {}
        try:
            settings = read(cls)
        except ValidationError as error:
            problems.extend(p for p in _name_variables(error, cls) if p not in problems)
            settings = None
        for pair in (TurnstileKeys, EventsTarget):
            try:
                read(pair)
            except ValidationError as error:
                problems.extend(p for p in _name_variables(error, pair) if p not in problems)
        provider_settings = {}
        for name, spec in registry().items():
            try:
                provider_settings[name] = read(spec.settings)
            except ValidationError as error:
                problems.extend(_name_variables(error, spec.settings))
                if name in used:  # its unset keys too: every problem at once, not one per start
                    problems.extend(_unset_credentials(read, spec.settings, name))
        configured = {}
        for name, values in provider_settings.items():
            missing = values.missing()
            if missing and name in used:
                problems.append(_unset_problem(missing, name))
            elif not missing:
                configured[name] = values
        if problems or settings is None:
            raise ConfigError(problems)
        settings._agents = {
            slug: agent.model_copy(update={"max_call_s": settings.max_call_s})
            if agent.max_call_s is None
            else agent
            for slug, agent in agents.items()
        }
        settings._providers = configured
        secret = settings.secret_key_value.get_secret_value() if settings.secret_key_value else ""
        settings._secret_key = secret or secrets.token_urlsafe(32)
        settings._storage_key = secret or _derived_key(configured.values())
        return settings


def _unset_problem(missing: list[str], provider: str) -> str:
    """The start-up problem of an agent's provider without its keys."""
    return f"{', '.join(missing)} must be set: an agent uses provider {provider!r}"


def _unset_credentials(read: Any, model: type[ProviderSettings], provider: str) -> list[str]:
    """The unset keys of a provider whose other variables were refused."""
    try:
        missing = read(model.credentials_model()).missing()
    except ValidationError:  # a key itself refused: said already
        return []
    return [_unset_problem(missing, provider)] if missing else []


def _derived_key(providers: Iterable[ProviderSettings]) -> str:
    """A key every process of one deployment derives alike, and nobody without its secrets can:
    from the providers' credentials (a phone call always has some: its provider's)."""
    material = "\0".join(sorted(value for p in providers for value in p.secret_values()))
    return hmac.new(b"webcall storage key", material.encode(), hashlib.sha256).hexdigest()


def _load_agents(settings: CatalogueSource, problems: list[str], used: set[str]) -> dict[str, Agent]:
    """The catalogue file, or the one-agent quick start from two variables."""
    if settings.quick_provider:
        used.add(settings.quick_provider)
    if settings.quick_provider or settings.quick_agent_id:
        table = {
            "provider": settings.quick_provider,
            "agent_id": settings.quick_agent_id,
            "title": settings.quick_agent_title,
        }
        if not settings.quick_agent_id:
            problems.append("WEBCALL_AGENT_ID is required with WEBCALL_PROVIDER")
            return {}
        agent = parse_agent(
            "default",
            {k: v for k, v in table.items() if v},
            problems,
            where="WEBCALL_PROVIDER/WEBCALL_AGENT_ID",
        )
        return {"default": agent} if agent else {}
    path = settings.agents_file
    if "agents_file" not in settings.model_fields_set and not path.is_file():
        problems.append(
            "no agents configured: create agents.toml (see agents.example.toml), "
            "set WEBCALL_AGENTS_FILE, or set WEBCALL_PROVIDER and WEBCALL_AGENT_ID"
        )
        return {}
    return load_catalogue(path, problems, used)


def _name_variables(error: ValidationError, model: type[BaseSettings]) -> list[str]:
    """Problems with the variable's name in front (a field's alias is its variable)."""
    aliases = {name: str(info.validation_alias) for name, info in model.model_fields.items()}
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        variable = aliases.get(field, field)
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"{variable}: {message}" if variable else message)
    return lines
