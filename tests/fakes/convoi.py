"""Fake Convoi AI: create a web or outbound phone call, get, list and end calls.

Follows docs/convoi-create-call.txt and the reference README: Bearer auth, optional UUID
`Idempotency-Key` (24 h replay, 409 on a different body), RFC 7807 problem+json errors.
Served both at the root and under /backend, so either base URL works.
"""

from __future__ import annotations

import copy
import hmac
import json
import math
import re
import time
import uuid
from collections import deque
from http import HTTPStatus
from typing import Any

from flask import Blueprint, Flask, Response, g, request

from .fields import is_e164, now_iso, object_field, optional_string, required_string
from .hooks import FakeError, ProviderStyle, attach_fake, json_response, read_json_object
from .state import FakeState, current_state
from .tokens import mint_participant_token, render_greeting

bp = Blueprint("convoi", __name__, url_prefix="/api/v1/public/calls")

CALL_TYPES = ("web", "outbound_phone")
OVERRIDE_KEYS = ("first_message", "system_prompt", "llm", "tts", "stt", "knowledge_base_ids")
IDEMPOTENCY_WINDOW_S = 24 * 3600
RATE_LIMITS_PER_MIN = {"write": 20, "read": 60}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PROBLEM = "application/problem+json"


@bp.post("")
def create_call() -> Response:
    """Create a call; with an Idempotency-Key, replay or refuse a repeat."""
    state = current_state()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _UUID.match(key):
        raise FakeError(400, "Idempotency-Key must be a UUID", "invalid_idempotency_key")
    body = read_json_object()
    if key is None:
        return json_response(_create(state, body), 201)
    fingerprint = json.dumps(body, sort_keys=True)
    slot = (g.convoi_api_key, key)
    with state.lock:  # the check and the creation must not interleave with a retry
        entry = state.idempotency.get(slot)
        if entry is not None and time.time() - entry[3] < IDEMPOTENCY_WINDOW_S:
            if entry[0] != fingerprint:
                raise FakeError(
                    409,
                    "Idempotency-Key was already used with a different request body",
                    "idempotency_key_reused",
                )
            return json_response(entry[2], entry[1])
        call = _create(state, body)
        # "Replay the original response": as it was, not the call as it is since (ended, say).
        state.idempotency[slot] = (fingerprint, 201, copy.deepcopy(call), time.time())
    return json_response(call, 201)


@bp.get("")
def list_calls() -> Response:
    """Calls, newest first, paged with limit and starting_after."""
    state = current_state()
    state.list_pages_served += 1
    try:
        limit = int(request.args.get("limit", "10"))
    except ValueError as exc:
        raise FakeError(400, "limit must be an integer") from exc
    if not 1 <= limit <= 100:
        raise FakeError(400, "limit must be between 1 and 100")
    with state.lock:
        calls = list(reversed(state.calls.values()))
    if cursor := request.args.get("starting_after"):
        ids = [c["id"] for c in calls]
        if cursor not in ids:
            raise FakeError(400, f"starting_after {cursor} is not a call id", "invalid_cursor")
        calls = calls[ids.index(cursor) + 1 :]
    page = calls[:limit]
    return json_response({"object": "list", "data": page, "has_more": len(calls) > limit})


@bp.get("/<call_id>")
def get_call(call_id: str) -> Response:
    """One call, or 404."""
    return json_response(_find(current_state(), call_id))


@bp.delete("/<call_id>")
def end_call(call_id: str) -> Response:
    """End a live call: it becomes "rejected" (an API hang-up)."""
    state = current_state()
    with state.lock:
        call = _find(state, call_id)
        if call["status"] in ("initiated", "active"):
            call["status"] = "rejected"
            call["updated_at"] = now_iso()
    return json_response(call)


def add_call(state: FakeState, agent_id: str, **fields: Any) -> dict[str, Any]:
    """A call the fake knows without a create (a phone call, an older web call); newest last."""
    call = _call_object(fields.pop("type", "web"), agent_id, None, f"room_{uuid.uuid4().hex}", None, None, {})
    call.update(fields)
    with state.lock:
        state.calls[call["id"]] = call
    return call


def complete_call(
    state: FakeState,
    call_id: str,
    *,
    status: str = "completed",
    duration_seconds: float = 61.5,
    cost: float = 0.12,
) -> dict[str, Any]:
    """Move a call to a final state, with its duration and cost, as the API reports it."""
    with state.lock:
        call = state.calls[call_id]
        cost_object = {"amount": cost, "currency": "USD"}
        call.update(status=status, duration_seconds=duration_seconds, cost=cost_object, updated_at=now_iso())
        return call


def create_convoi_app(state: FakeState) -> Flask:
    """A Flask app that behaves like go.convoi.ai/backend (at / and at /backend)."""
    app = Flask(__name__)
    app.register_blueprint(bp)
    app.register_blueprint(bp, url_prefix="/backend/api/v1/public/calls", name="convoi_backend")
    return attach_fake(app, state, STYLE)


def _create(state: FakeState, body: dict[str, Any]) -> dict[str, Any]:
    """Validate a create-call body and store the new call."""
    call_type = required_string(body, "type")
    if call_type not in CALL_TYPES:
        raise FakeError(400, 'type must be "web" or "outbound_phone"', "invalid_enum")
    overrides = _overrides(body)
    metadata = object_field(body, "metadata") or {}
    if call_type == "web":
        call = _web_call(state, body, overrides, metadata)
    else:
        call = _phone_call(state, body, metadata)
    with state.lock:
        state.calls[call["id"]] = call
    return call


def _web_call(
    state: FakeState, body: dict[str, Any], overrides: dict[str, Any], metadata: dict[str, Any]
) -> dict[str, Any]:
    """A web call: a LiveKit room and a participant token that dispatches the agent."""
    agent_id = required_string(body, "agent_id")
    if agent_id.startswith("sqd_") or body.get("squad_id") is not None:
        raise FakeError(422, "Workforce ids (sqd_…) work with outbound_phone only", "workforce_not_supported")
    if not agent_id.startswith("agt_"):
        raise FakeError(400, "agent_id must be an agent id (agt_…)", "invalid_agent_id")
    agent = _known_agent(state, agent_id)
    participant_name = optional_string(body, "participant_name")
    room_id = f"room_{uuid.uuid4().hex}"
    identity = f"public-{uuid.uuid4().hex[:12]}"
    greeting = overrides.get("first_message") or render_greeting(agent.get("greeting"), metadata)
    token = mint_participant_token(
        state,
        room=room_id,
        identity=identity,
        greeting=greeting,
        variables=metadata,
        name=participant_name,
    )
    livekit = {"url": state.livekit_url, "token": token, "participant_identity": identity}
    return _call_object("web", agent_id, None, room_id, livekit, None, metadata)


def _phone_call(state: FakeState, body: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """An outbound phone call by an agent or a workforce; no LiveKit details."""
    agent_id = optional_string(body, "agent_id")
    squad_id = optional_string(body, "squad_id")
    if (agent_id is None) == (squad_id is None):
        raise FakeError(400, "Provide either agent_id or squad_id", "missing_field")
    if squad_id is not None and not squad_id.startswith("sqd_"):
        raise FakeError(400, "squad_id must be a workforce id (sqd_…)", "invalid_agent_id")
    runner = agent_id or squad_id or ""
    if not runner.startswith(("agt_", "sqd_")):
        raise FakeError(400, "agent_id must start with agt_ or sqd_", "invalid_agent_id")
    if runner.startswith("sqd_") and g.convoi_key_kind == "public":
        raise FakeError(403, "Workforce calls need a private key (sk_live_…)", "forbidden")
    _known_agent(state, runner)
    phone_number_id = required_string(body, "phone_number_id")
    if not phone_number_id.startswith("phn_"):
        raise FakeError(400, "phone_number_id must be a phone number id (phn_…)")
    customer = object_field(body, "customer")
    if customer is None:
        raise FakeError(400, "customer is required", "missing_field")
    number = required_string(customer, "number")
    if not is_e164(number):
        raise FakeError(400, "customer.number must be E.164, e.g. +971501234567")
    optional_string(customer, "name")
    object_field(customer, "metadata")
    workforce = runner.startswith("sqd_")
    call = _call_object(
        "outbound_phone",
        None if workforce else runner,
        runner if workforce else None,
        None,
        None,
        customer,
        metadata,
    )
    call["phone_number_id"] = phone_number_id
    return call


def _overrides(body: dict[str, Any]) -> dict[str, Any]:
    """The per-call agent_overrides, checked key by key."""
    overrides = object_field(body, "agent_overrides") or {}
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise FakeError(400, f"agent_overrides has unknown keys: {', '.join(unknown)}")
    for name in ("first_message", "system_prompt"):
        optional_string(overrides, name)
    for name in ("llm", "tts", "stt"):
        object_field(overrides, name)
    kb_ids = overrides.get("knowledge_base_ids")
    if kb_ids is not None and not (isinstance(kb_ids, list) and all(isinstance(i, str) for i in kb_ids)):
        raise FakeError(400, "knowledge_base_ids must be a list of strings", "invalid_type")
    return overrides


def _call_object(
    call_type: str,
    agent_id: str | None,
    squad_id: str | None,
    room_id: str | None,
    livekit: dict[str, Any] | None,
    customer: dict[str, Any] | None,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """A call in the documented response shape."""
    now = now_iso()
    return {
        "id": f"call_{uuid.uuid4().hex}",
        "object": "call",
        "type": call_type,
        "status": "initiated",
        "agent_id": agent_id,
        "squad_id": squad_id,
        "room_id": room_id,
        "livekit": livekit,
        "customer": customer,
        "duration_seconds": 0.0,
        "cost": {"amount": 0.0, "currency": "USD"},
        "metadata": metadata,
        "created_at": now,
        "updated_at": now,
    }


def _known_agent(state: FakeState, agent_id: str) -> dict[str, Any]:
    """The configured agent or workforce record, or 404."""
    agent = state.agents.get(agent_id)
    if agent is None:
        raise FakeError(404, f"No agent {agent_id} on this account", "agent_not_found")
    return agent


def _find(state: FakeState, call_id: str) -> dict[str, Any]:
    """A stored call, or 404."""
    with state.lock:
        call = state.calls.get(call_id)
    if call is None:
        raise FakeError(404, f"No call {call_id}", "call_not_found")
    return call


def _check_auth(state: FakeState) -> None:
    """`Authorization: Bearer <key>` with the secret (or, if set, the public) key."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise FakeError(401, "Missing bearer API key", "unauthorized")
    if hmac.compare_digest(key, state.api_key):
        g.convoi_key_kind = "secret"
    elif state.public_api_key and hmac.compare_digest(key, state.public_api_key):
        g.convoi_key_kind = "public"
    else:
        raise FakeError(401, "Invalid API key", "unauthorized")
    g.convoi_api_key = key
    if state.enforce_rate_limits:
        _count_against_limit(state, key)


def _count_against_limit(state: FakeState, key: str) -> None:
    """20 writes and 60 reads per minute per key; past that, 429 with Retry-After."""
    kind = "read" if request.method == "GET" else "write"
    now = time.monotonic()
    with state.lock:
        window = state.rate_windows.setdefault((key, kind), deque())
        while window and now - window[0] >= 60:
            window.popleft()
        if len(window) >= RATE_LIMITS_PER_MIN[kind]:
            retry_after = str(max(1, math.ceil(60 - (now - window[0]))))
            raise FakeError(429, "Rate limit exceeded", "rate_limited", {"Retry-After": retry_after})
        window.append(now)


def _render_error(error: FakeError) -> Response:
    """RFC 7807 problem+json."""
    try:
        title = HTTPStatus(error.status).phrase
    except ValueError:
        title = "Error"
    body = {
        "type": "about:blank",
        "title": title,
        "status": error.status,
        "detail": error.message,
        "code": error.code,
        "request_id": f"req_{uuid.uuid4().hex}",
    }
    return json_response(body, error.status, mimetype=_PROBLEM)


def _failure_body() -> dict[str, Any]:
    """A 200 whose call already failed: status "failed", no LiveKit details."""
    call = _call_object("web", None, None, None, None, None, {})
    call["status"] = "failed"
    return call


def _strip_credentials(body: dict[str, Any]) -> dict[str, Any]:
    """The call without its LiveKit details, as the API shows a phone call."""
    return {**body, "livekit": None}


STYLE = ProviderStyle(_check_auth, _render_error, _failure_body, _strip_credentials)
