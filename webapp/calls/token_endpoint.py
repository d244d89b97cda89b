"""LiveKit's standard token endpoint, ``POST /api/token``: LiveKit's own frontends as callers.

``livekit-client``'s ``TokenSource.endpoint(url)`` (used by agent-starter-react and
agents-ui) posts LiveKit's request shape and expects ``201 {"server_url",
"participant_token"}``. The agent is ``room_config.agents[0].agent_name``, a slug of our
catalogue (any provider); the call is placed by :func:`place_web_call`, so origin checks,
limits, budgets, idempotency and the bot check (its token in ``X-Bot-Token``) apply as on
``POST /api/calls``. Everything else a client might choose (the room, its identity, the
agent's settings) is the server's: the request is refused with a code naming what.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from flask import Blueprint, Response, g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from ..catalogue import Agent
from ..errors import (
    AgentBusy,
    AgentNameRequired,
    AppError,
    BadRequest,
    BotCheckFailed,
    BotCheckRequired,
    BotCheckUnavailable,
    CallInProgress,
    DailyBudgetExhausted,
    FieldNotAllowed,
    IdempotencyKeyReused,
    IdentityNotAllowed,
    InvalidBody,
    InvalidField,
    InvalidIdempotencyKey,
    InvalidJson,
    LimitsUnavailable,
    OneAgentOnly,
    OriginNotAllowed,
    PayloadTooLarge,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderBusy,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    RequestTimeout,
    RoomNameNotAllowed,
    UnknownAgent,
    UnknownField,
    UnsupportedMediaType,
    WebCallsDisabled,
)
from ..guards.idempotency import check_key
from ..guards.limits import client_ip, limit_calls
from ..guards.origin import cors_headers, request_origin
from ..state import app_state
from .api import call_mode, read_json_bytes
from .models import MAX_KEY_CHARS, NameText, SlugText, TokenText, field_loc, json_object
from .service import AGENT, CallOrder, place_web_call, record_refusals

bp = Blueprint("token", __name__, url_prefix="/api")
record_refusals(bp, "web")  # every refused POST on record
BOT_TOKEN_HEADER = "X-Bot-Token"
# livekit-client's token sources keep a token until a minute before it expires and hand it out
# again: a second call from the same page joined the first one's room, which is closed once its
# call has ended. A token we mint for them expires within that minute, so each call fetches its own.
TOKEN_TTL_S = 60
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # LiveKit's request's fields are snake_case
# Every error POST /api/token answers with (the OpenAPI document lists them from here).
RAISES: tuple[type[AppError], ...] = (
    InvalidJson, InvalidBody, UnknownField, InvalidField, RoomNameNotAllowed, IdentityNotAllowed,
    FieldNotAllowed, OneAgentOnly, AgentNameRequired, InvalidIdempotencyKey, OriginNotAllowed,
    BotCheckRequired, BotCheckFailed, UnknownAgent, CallInProgress, IdempotencyKeyReused, PayloadTooLarge,
    RequestTimeout, BadRequest, UnsupportedMediaType,
    RateLimited, AgentBusy, DailyBudgetExhausted, ProviderError, ProviderAuthError, ProviderBadResponse,
    ProviderUnavailable, ProviderBusy, BotCheckUnavailable, ProviderTimeout, WebCallsDisabled,
    LimitsUnavailable,
)  # fmt: skip

# A field the server chooses: only absent or empty is accepted (clients send "" for unset).
ServerChosen = Annotated[str, StringConstraints(max_length=0)]


class AgentDispatch(BaseModel):
    """One entry of ``room_config.agents``: which of our agents to talk to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_name: SlugText | ServerChosen | None = Field(
        None,
        description="The agent's slug in webcall's catalogue; may be left out (or empty) when there is "
        "one agent.",
    )
    metadata: ServerChosen | None = Field(
        None, description="Must be empty: the agent's settings come from the catalogue."
    )


class RoomConfig(BaseModel):
    """``room_config``: only the agent may be chosen; the room's settings are the server's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ServerChosen | None = Field(None, description="Must be empty: the server names the room.")
    agents: Annotated[list[AgentDispatch], Field(max_length=1)] | None = Field(
        None, description="At most one: the agent of the call."
    )


class TokenRequest(BaseModel):
    """``POST /api/token``: LiveKit's token request (``TokenSource.endpoint``) as a client may fill it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    room_name: ServerChosen | None = Field(None, description="Must be empty: the server names the room.")
    participant_name: NameText | ServerChosen | None = Field(
        None, description="The caller's display name in the room."
    )
    participant_identity: ServerChosen | None = Field(
        None, description="Must be empty: the server chooses the identity."
    )
    participant_metadata: ServerChosen | None = Field(None, description="Must be empty.")
    participant_attributes: Annotated[dict[str, str], Field(max_length=0)] | None = Field(
        None, description="Must be empty."
    )
    room_config: RoomConfig | None = None


class TokenAnswer(BaseModel):
    """The answer ``TokenSource.endpoint`` reads: where to connect, and with what."""

    model_config = ConfigDict(extra="forbid")

    server_url: str = Field(description="The LiveKit server's WebSocket URL.")
    participant_token: str = Field(description="The participant token: short-lived, for this call only.")


_BOT_TOKEN: TypeAdapter[str] = TypeAdapter(TokenText)


@bp.post("/token")
@limit_calls
def create_token() -> tuple[Response, int]:
    """Place a web call with the named agent and answer in LiveKit's token-endpoint format."""
    state = app_state()
    body = parse_token_request(read_json_bytes(state.settings.max_body_bytes))
    agent = chosen_agent(body, state.settings.agents)
    setattr(g, AGENT, agent)  # for the record of a refusal
    order = CallOrder(
        agent=agent,
        mode=call_mode(agent, None),  # LiveKit's request has no say: the agent's own kind of call
        client=client_ip(),
        origin=request_origin(),
        idempotency_key=check_key(request.headers.get("Idempotency-Key")),
        bot_token=bot_token(request.headers.get(BOT_TOKEN_HEADER)),
        participant_name=body.participant_name or None,
        token_ttl_s=TOKEN_TTL_S,
    )
    livekit = place_web_call(state, order)["livekit"]
    answer = TokenAnswer(server_url=livekit["url"], participant_token=livekit["token"])
    response = jsonify(answer.model_dump())
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.after_request
def cors(response: Response) -> Response:
    """CORS for frontends on allowed origins."""
    return cors_headers(response, g.get(AGENT))


def parse_token_request(raw: bytes) -> TokenRequest:
    """Decode and validate LiveKit's request, or raise the error that names what is wrong."""
    try:
        return TokenRequest.model_validate(json_object(raw))
    except PydanticValidationError as error:
        raise token_error(error) from None


def chosen_agent(body: TokenRequest, agents: Mapping[str, Agent]) -> Agent:
    """The agent ``room_config.agents[0].agent_name`` names; the only one when it names none."""
    dispatches = body.room_config.agents if body.room_config and body.room_config.agents else []
    name = dispatches[0].agent_name if dispatches else None
    if not name:  # absent, or empty as clients send an unset field
        if len(agents) == 1:
            return next(iter(agents.values()))
        raise AgentNameRequired()
    agent = agents.get(name)
    if agent is None:
        raise UnknownAgent()
    return agent


def bot_token(value: str | None) -> str | None:
    """The bot-check token a frontend sends in ``X-Bot-Token`` (LiveKit's body has no place for it)."""
    if value is None:
        return None
    try:
        return _BOT_TOKEN.validate_python(value)
    except PydanticValidationError:
        raise InvalidField(f"{BOT_TOKEN_HEADER} must be a token of 1 to 4096 characters.") from None


def token_error(error: PydanticValidationError) -> AppError:
    """The most telling problem: a field the server chooses, then an unknown field, then a broken rule."""
    problems = error.errors(include_url=False, include_input=False)
    for problem in problems:
        refusal = _refusal(tuple(problem["loc"]), problem["type"])
        if refusal is not None:
            return refusal
    for problem in problems:
        if problem["type"] == "extra_forbidden" and len(problem["loc"]) == 1:
            return UnknownField(f"Unknown field {str(problem['loc'][0])[:64]!r}.")
    loc = field_loc(tuple(problems[0]["loc"]))
    if problems[0]["type"] == "string_unicode":  # a lone surrogate: a text cut inside an emoji, say
        return InvalidField(f"{_path(loc)} must be valid Unicode text.")
    return InvalidField(_explain(loc))


def _refusal(loc: tuple[Any, ...], kind: str) -> AppError | None:
    """The refusal for a field of LiveKit's request that the server chooses, if ``loc`` is one."""
    top, rest = (loc[0], loc[1:]) if loc else ("", ())
    if top == "room_name" or (top == "room_config" and rest[:1] == ("name",)):
        return RoomNameNotAllowed()
    if top == "participant_identity":
        return IdentityNotAllowed()
    if top == "room_config" and rest == ("agents",) and kind == "too_long":
        return OneAgentOnly()
    chosen_by_server = top in ("participant_metadata", "participant_attributes") or (
        top == "room_config" and (kind == "extra_forbidden" or loc[-1] == "metadata")
    )
    if chosen_by_server:
        field = _path(loc) if top == "room_config" else str(top)
        return FieldNotAllowed(f"{field} is chosen by the server: leave it out.")
    return None


def _path(loc: tuple[Any, ...]) -> str:
    """``room_config.agents[0].metadata`` for ``("room_config", "agents", 0, "metadata")``; a key
    that is not a field's name (the client's own, unknown) is quoted and cut, never echoed raw."""
    return "".join(_step(part) for part in loc).lstrip(".")


def _step(part: Any) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    return f".{part}" if _FIELD_NAME.fullmatch(str(part)) else f"[{str(part)[:MAX_KEY_CHARS]!r}]"


def _explain(loc: tuple[Any, ...]) -> str:
    """A sentence for a broken rule, naming the field and never echoing its value."""
    if loc[-1:] == ("agent_name",):
        return "room_config.agents[0].agent_name must be an agent's slug (one line, 1 to 64 characters)."
    if loc[:1] == ("participant_name",):
        return "participant_name must be a single-line string of up to 64 characters."
    return f"{_path(loc) or 'The body'} does not have the type LiveKit's token request gives it."
