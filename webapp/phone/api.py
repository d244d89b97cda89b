"""``POST /api/phone-calls`` asks an agent to call a visitor's phone; ``GET`` one says where it is."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from ..calls.api import find_agent, read_body
from ..calls.service import AGENT, record_refusals
from ..errors import (
    AgentBusy,
    AgentRequired,
    AppError,
    BadRequest,
    BotCheckFailed,
    BotCheckRequired,
    BotCheckUnavailable,
    CallInProgress,
    CallLogUnavailable,
    ConsentRequired,
    CountryNotAllowed,
    DailyBudgetExhausted,
    ExpiredDemoLink,
    IdempotencyKeyReused,
    InvalidBody,
    InvalidDemoLink,
    InvalidField,
    InvalidIdempotencyKey,
    InvalidJson,
    InvalidPhoneNumber,
    LimitsUnavailable,
    NumberCooldown,
    NumberDailyCap,
    NumberTypeNotAllowed,
    OriginNotAllowed,
    PayloadTooLarge,
    PhoneCallsDisabled,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderBusy,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    RequestTimeout,
    UnknownAgent,
    UnknownCall,
    UnknownField,
    UnsupportedMediaType,
)
from ..guards.idempotency import check_key
from ..guards.limits import client_ip, everyone, global_limit, limited, per_client_limits
from ..guards.origin import cors_headers, request_origin
from ..state import app_state
from .models import PhoneCallBody
from .service import PhoneOrder, phone_call_state, place_phone_call

bp = Blueprint("phone", __name__, url_prefix="/api")
record_refusals(bp, "phone")  # every refused POST on record
STATUS_POLLS = "120/minute"  # a page polls a call's status every few seconds while it rings
# Every error each endpoint answers with (the OpenAPI document lists them from here).
RAISES: tuple[type[AppError], ...] = (
    InvalidJson, InvalidBody, UnknownField, InvalidField, AgentRequired, InvalidIdempotencyKey,
    InvalidPhoneNumber, ConsentRequired, OriginNotAllowed, BotCheckRequired, BotCheckFailed,
    InvalidDemoLink, NumberTypeNotAllowed, CountryNotAllowed, PhoneCallsDisabled, UnknownAgent,
    CallInProgress, IdempotencyKeyReused, ExpiredDemoLink, PayloadTooLarge, RequestTimeout, BadRequest,
    UnsupportedMediaType, RateLimited, AgentBusy,
    DailyBudgetExhausted, NumberCooldown, NumberDailyCap, ProviderError, ProviderAuthError,
    ProviderBadResponse, ProviderUnavailable, ProviderBusy, BotCheckUnavailable, ProviderTimeout,
    LimitsUnavailable,
)  # fmt: skip
STATUS_RAISES: tuple[type[AppError], ...] = (UnknownCall, RateLimited, LimitsUnavailable, CallLogUnavailable)


@bp.post("/phone-calls")
@limited(per_client_limits, scope="phone-calls")  # a phone call is not a second web call's allowance
@limited(global_limit, scope="all-clients", key=everyone, calls_placed=True)  # the same ceiling
def create_phone_call() -> tuple[Response, int]:
    """Ask the named agent to call the visitor's phone; 202 with the call's id and the number masked."""
    state = app_state()
    body = read_body(state.settings.max_body_bytes, PhoneCallBody)
    agent = find_agent(body.agent, state.settings.agents)
    setattr(g, AGENT, agent)  # for the record of a refusal
    order = PhoneOrder(
        agent=agent,
        client=client_ip(),
        phone_number=body.phone_number,
        consent=body.consent is True,
        country=body.country,
        origin=request_origin(),
        name=body.name,
        idempotency_key=check_key(request.headers.get("Idempotency-Key")),
        bot_token=body.bot_token,
        demo_token=body.demo_token,
        variables=body.variables or {},
    )
    response = jsonify(place_phone_call(state, order))
    response.headers["Cache-Control"] = "no-store"
    return response, 202


@bp.get("/phone-calls/<call_id>")
@limited(STATUS_POLLS, scope="phone-call-status")
def phone_call(call_id: str) -> Response:
    """Where the call is: ringing (initiated), in progress, or how it ended."""
    state = app_state()
    answer = phone_call_state(state, call_id)
    setattr(g, AGENT, state.settings.agents.get(answer["agent"] or ""))  # CORS for its agent's origins
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_request
def cors(response: Response) -> Response:
    """CORS for embeds on allowed origins."""
    return cors_headers(response, g.get(AGENT))
