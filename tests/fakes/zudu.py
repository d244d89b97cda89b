"""Fake Zudu AI: register a call, create a web call, fetch a call.

Follows docs/zudu-create-call.txt for `POST /api/calls/create` (no LiveKit credentials, even
for WEB_CALL) and the reference README for `POST /api/calls/create-web-call` and
`GET /api/calls/{call_id}`. Errors: `{message, status: "error", error}`.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, request

from .fields import enum_field, now_ms, object_field, optional_string, required_string
from .hooks import FakeError, ProviderStyle, attach_fake, json_response, read_json_object
from .state import FakeState, current_state
from .tokens import mint_participant_token, render_greeting

bp = Blueprint("zudu", __name__, url_prefix="/api/calls")

CALL_TYPES = ("PHONE_CALL", "WEB_CALL")
DIRECTIONS = ("INBOUND", "OUTBOUND")
_SUMMARIES = {400: "Validation failed", 401: "Unauthorized", 404: "Not found", 405: "Not allowed"}


@bp.post("/create")
def create_call() -> Response:
    """Register a call record; the response carries no LiveKit credentials."""
    state = current_state()
    body = read_json_object()
    agent_id = required_string(body, "agent_id")
    call_id = optional_string(body, "call_id") or f"call_{uuid.uuid4()}"
    call_type = enum_field(body, "call_type", CALL_TYPES, required=False) or "PHONE_CALL"
    direction = enum_field(body, "direction", DIRECTIONS, required=False) or "OUTBOUND"
    metadata = object_field(body, "metadata") or {}
    _known_agent(state, agent_id)
    # The page's example answers in lower case while the request enum is upper case.
    call = _new_call(state, call_id, agent_id, call_type.lower(), direction.lower(), metadata)
    _store(state, call)
    data = {"organization_id": state.organization_id, "call": call}
    return _success("Call created successfully", data)


@bp.post("/create-web-call")
def create_web_call() -> Response:
    """Create a browser call: a LiveKit room, a participant token and the call record."""
    state = current_state()
    body = read_json_object()
    agent_id = required_string(body, "agent_id")
    metadata = object_field(body, "metadata") or {}
    agent = _known_agent(state, agent_id)
    call_id = f"call_{uuid.uuid4()}"
    room_name = f"web_{call_id}"
    identity = f"web_user_{uuid.uuid4().hex[:12]}"
    token = mint_participant_token(
        state,
        room=room_name,
        identity=identity,
        greeting=render_greeting(agent.get("greeting"), metadata),
        variables=metadata,
    )
    call = _new_call(state, call_id, agent_id, "WEB_CALL", "INBOUND", metadata)
    call["call_status"] = "REGISTERED"
    _store(state, call)
    expires_ms = now_ms() + int(state.token_ttl.total_seconds() * 1000)
    data = {
        "call": call,
        "web_call_info": {
            "room_name": room_name,
            "access_token": token,
            "participant_identity": identity,
            "expires_at": expires_ms,
        },
        "livekit_connection": {
            "server_url": state.livekit_url,
            "token": token,
            "room_name": room_name,
        },
    }
    return _success("Web call created successfully", data)


@bp.get("/<call_id>")
def get_call(call_id: str) -> Response:
    """One call record, or 404."""
    state = current_state()
    with state.lock:
        call = state.calls.get(call_id)
    if call is None:
        raise FakeError(404, f"Call {call_id} not found", "not_found")
    data = {"organization_id": state.organization_id, "call": call}
    return _success("Call retrieved successfully", data)


def end_call(
    state: FakeState,
    call_id: str,
    *,
    status: str = "ENDED",
    duration_ms: int = 30_000,
    transcript: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """End a call as Zudu records it: epoch-ms timestamps, transcript_object, analysis."""
    with state.lock:
        call = state.calls[call_id]
        start = call["events"][0]["timestamp"] + 1000
        lines = transcript or [("agent", "Hi, this is Zudu."), ("user", "Hello, I need help with my order.")]
        call.update(
            call_status=status,
            start_timestamp=start,
            end_timestamp=start + duration_ms,
            call_duration=duration_ms,
            disconnection_reason="user_hangup",
            recording_url=f"https://recordings.zudu.example/{call_id}.wav",
            transcript="\n".join(f"{role}: {text}" for role, text in lines),
            transcript_object=[{"role": role, "content": text} for role, text in lines],
            call_analysis={"call_summary": "The caller needed help with an order."},
        )
        return call


def create_zudu_app(state: FakeState) -> Flask:
    """A Flask app that behaves like api.zudu.ai (serve it at the base URL's root)."""
    if not state.api_secret:
        raise ValueError("Zudu needs FakeState.api_secret (its X-API-SECRET)")
    app = Flask(__name__)
    app.register_blueprint(bp)
    return attach_fake(app, state, STYLE)


def _check_auth(state: FakeState) -> None:
    """Both halves of the key pair must match."""
    key = request.headers.get("X-API-KEY", "")
    secret = request.headers.get("X-API-SECRET", "")
    key_ok = bool(key) and hmac.compare_digest(key, state.api_key)
    secret_ok = bool(secret) and hmac.compare_digest(secret, state.api_secret)
    if not (key_ok and secret_ok):
        raise FakeError(401, "Invalid API key or secret", "unauthorized")


def _render_error(error: FakeError) -> Response:
    """`{message, status: "error", error}`."""
    summary = _SUMMARIES.get(error.status, "Internal server error")
    body = {"message": summary, "status": "error", "error": error.message}
    return json_response(body, error.status)


def _failure_body() -> dict[str, Any]:
    """A 200 that still says error."""
    return {"message": "Call creation failed", "status": "error", "error": "internal error"}


def _strip_credentials(body: dict[str, Any]) -> dict[str, Any]:
    """The web-call body without its LiveKit connection details."""
    data = {
        k: v for k, v in (body.get("data") or {}).items() if k not in ("livekit_connection", "web_call_info")
    }
    return {**body, "data": data}


STYLE = ProviderStyle(_check_auth, _render_error, _failure_body, _strip_credentials)


def _success(message: str, data: dict[str, Any]) -> Response:
    """Zudu's success envelope."""
    return json_response({"message": message, "status": "success", "error": None, "data": data})


def _known_agent(state: FakeState, agent_id: str | None) -> dict[str, Any]:
    """The configured agent record, or 404."""
    agent = state.agents.get(agent_id)
    if agent is None:
        raise FakeError(404, f"Agent {agent_id} not found", "agent_not_found")
    return agent


def _new_call(
    state: FakeState,
    call_id: str,
    agent_id: str | None,
    call_type: str,
    direction: str,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """A call record in the page's shape (timestamps in epoch ms)."""
    return {
        "call_id": call_id,
        "agent_id": agent_id,
        "organization_id": state.organization_id,
        "call_status": "registered",
        "call_type": call_type,
        "direction": direction,
        "start_timestamp": None,
        "end_timestamp": None,
        "call_duration": None,
        "disconnection_reason": None,
        "recording_url": None,
        "public_log_url": None,
        "opt_out_sensitive_data_storage": False,
        "metadata": metadata,
        "events": [{"timestamp": now_ms(), "event": "Call created via API", "session_time": 0, "data": {}}],
        "transcript": None,
        "transcript_object": [],
        "transcript_with_tool_calls": [],
        "latency": None,
        "call_analysis": None,
        "call_cost": None,
        "telephony_identifier": None,
    }


def _store(state: FakeState, call: dict[str, Any]) -> None:
    """Keep a call; a reused custom call_id is a validation error."""
    with state.lock:
        if call["call_id"] in state.calls:
            raise FakeError(400, f"call_id {call['call_id']} already exists", "duplicate_call_id")
        state.calls[call["call_id"]] = call
