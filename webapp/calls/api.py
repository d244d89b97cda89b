"""The web-call API: ``POST /api/calls``, behind every guard, answered from the agent's provider."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Blueprint, Response, g, jsonify, request

from ..catalogue import Agent, CallMode
from ..errors import (
    AgentBusy,
    AgentRequired,
    AppError,
    BadRequest,
    BotCheckFailed,
    BotCheckRequired,
    BotCheckUnavailable,
    CallInProgress,
    DailyBudgetExhausted,
    ExpiredDemoLink,
    IdempotencyKeyReused,
    InvalidBody,
    InvalidDemoLink,
    InvalidField,
    InvalidIdempotencyKey,
    InvalidJson,
    LimitsUnavailable,
    ModeNotAllowed,
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
    UnknownAgent,
    UnknownField,
    UnsupportedMediaType,
    WebCallsDisabled,
)
from ..guards.idempotency import check_key
from ..guards.limits import client_ip, limit_calls
from ..guards.origin import cors_headers, request_origin
from ..state import app_state
from .models import BodyT, CallBody, parse_body
from .service import AGENT, CallOrder, place_web_call, record_refusals

bp = Blueprint("calls", __name__, url_prefix="/api")
record_refusals(bp, "web")  # every refused POST on record
log = logging.getLogger(__name__)
# Every error POST /api/calls answers with (the OpenAPI document lists them from here).
RAISES: tuple[type[AppError], ...] = (
    InvalidJson, InvalidBody, UnknownField, InvalidField, AgentRequired, InvalidIdempotencyKey,
    OriginNotAllowed, ModeNotAllowed, BotCheckRequired, BotCheckFailed, InvalidDemoLink, UnknownAgent,
    CallInProgress, IdempotencyKeyReused,
    ExpiredDemoLink, PayloadTooLarge, RequestTimeout, BadRequest,
    UnsupportedMediaType, RateLimited, AgentBusy, DailyBudgetExhausted,
    ProviderError, ProviderAuthError, ProviderBadResponse, ProviderUnavailable, ProviderBusy,
    BotCheckUnavailable, ProviderTimeout, WebCallsDisabled,
    LimitsUnavailable,
)  # fmt: skip


@bp.post("/calls")
@limit_calls
def create_call() -> tuple[Response, int]:
    """Create a web call with the named agent and hand the browser what it needs to join."""
    state = app_state()
    body = read_body(state.settings.max_body_bytes, CallBody)
    agent = find_agent(body.agent, state.settings.agents)
    setattr(g, AGENT, agent)  # for the record of a refusal
    order = CallOrder(
        agent=agent,
        mode=call_mode(agent, body.mode),
        client=client_ip(),
        origin=request_origin(),
        idempotency_key=check_key(request.headers.get("Idempotency-Key")),
        bot_token=body.bot_token,
        demo_token=body.demo_token,
        variables=body.variables or {},
        metadata=body.metadata or {},
        participant_name=body.participant_name,
    )
    response = jsonify(place_web_call(state, order))
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.after_request
def cors(response: Response) -> Response:
    """CORS for embeds on allowed origins."""
    return cors_headers(response, g.get(AGENT))


def read_body(limit: int, model: type[BodyT]) -> BodyT:
    """The request's JSON body, validated as ``model``."""
    return parse_body(read_json_bytes(limit), model)


def read_json_bytes(limit: int) -> bytes:
    """The body's bytes, after checking its type and its size (before reading all of it): ``limit``
    is this endpoint's, in place of the app's ``MAX_CONTENT_LENGTH``, above or below it."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType()
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge()
    # A chunked body has no length to check first, and one read may return less than asked:
    # read to its end, refusing it once past the limit (no body was cut short and accepted).
    raw = bytearray()
    while chunk := request.stream.read(limit + 1 - len(raw)):
        raw += chunk
        if len(raw) > limit:
            raise PayloadTooLarge()
    return bytes(raw)


def call_mode(agent: Agent, asked: CallMode | None) -> CallMode:
    """The kind of call to place: the one asked for, if the agent takes it; else its default."""
    if asked is None:
        return agent.modes[0]
    if asked not in agent.modes:
        takes = " and ".join(f"{mode} calls" for mode in agent.modes)
        raise ModeNotAllowed(f"This agent does not take {asked} calls. It takes {takes}.")
    return asked


def find_agent(slug: str | None, agents: Mapping[str, Agent]) -> Agent:
    """The named agent; the only one when the body names none."""
    if slug is None:
        if len(agents) == 1:
            return next(iter(agents.values()))
        raise AgentRequired()
    agent = agents.get(slug)
    if agent is None:
        raise UnknownAgent()
    return agent
