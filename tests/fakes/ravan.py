"""Fake Ravan AI ("Agni"): create-call, list call sessions, one call session, webhooks.

Follows docs/ravan-create-call.txt and docs/ravan-list-call-sessions.txt. The pages give
no error format; this fake answers `{"success": false, "message": ...}`. Tests move a
session along with `add_session` / `complete_session`, and `send_call_completed` posts the
`call.completed` webhook the way Ravan does (retried on any non-2xx).
"""

from __future__ import annotations

import datetime
import hmac
import time
import uuid
from typing import Any

import httpx
from flask import Blueprint, Flask, Response, request

from .fields import enum_field, is_e164, now_iso, object_field, required_string
from .hooks import FakeError, ProviderStyle, attach_fake, drop_keys, json_response, read_json_object
from .state import FakeState, current_state
from .tokens import mint_participant_token, render_greeting

bp = Blueprint("ravan", __name__, url_prefix="/api/v1/calling")

CALL_TYPES = ("web_call", "outbound_call")
CHANNELS = ("voice", "web", "sip")
SORT_ORDERS = ("asc", "desc")
MAX_PAGE_SIZE = 100
_SORTABLE = (
    "created_at", "started_at", "ended_at", "duration_sec", "status", "channel", "agent_id",
)  # fmt: skip


@bp.post("/create-call")
def create_call() -> Response:
    """Create a web or outbound call; web calls get a LiveKit URL and participant token."""
    state = current_state()
    body = read_json_object()
    call_type = enum_field(body, "type", CALL_TYPES, required=True)
    agent_id = required_string(body, "agent_id")
    object_field(body, "metadata")  # only checked: stored with the session, not echoed
    variables = object_field(body, "prompt_dynamic_variables") or {}
    from_number = to_number = None
    if call_type == "outbound_call":  # "Caller ID (for outbound)", "Destination phone (for outbound)"
        from_number = required_string(body, "from_phone_number")
        to_number = required_string(body, "to_phone_number")
        for name, number in (("from_phone_number", from_number), ("to_phone_number", to_number)):
            if not is_e164(number):
                raise FakeError(400, f"{name} must be in E.164 format, e.g. +14157774444")
    agent = state.agents.get(agent_id)
    if agent is None:
        raise FakeError(404, f"Agent {agent_id} not found", "agent_not_found")

    session_id = str(uuid.uuid4())
    room_id = f"call_{session_id}"
    identity = f"user_{uuid.uuid4().hex[:12]}"
    token = mint_participant_token(
        state,
        room=room_id,
        identity=identity,
        greeting=render_greeting(agent.get("greeting"), variables),
        variables=variables,
    )
    _remember_session(state, session_id, room_id, agent_id, agent, call_type, body)
    created = {
        "access_token": token,
        "message": "call created successfully",
        "room_id": room_id,
        "session_id": session_id,
        "success": True,
        "url": state.livekit_url,
    }
    if "data" in state.response_shape.split("+"):
        nested = {k: created.pop(k) for k in ("access_token", "room_id", "session_id", "url")}
        created["data"] = nested
    return json_response(created)


@bp.get("/call-sessions")
def list_call_sessions() -> Response:
    """List call sessions, filtered, sorted and paged as the page describes."""
    state = current_state()
    args = request.args
    state.list_pages_served += 1
    page = _int_param("page", default=1, minimum=1)
    page_size = _int_param("page_size", default=20, minimum=1, maximum=MAX_PAGE_SIZE)
    channel = args.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise FakeError(400, f"channel must be one of: {', '.join(CHANNELS)}")
    sort_order = args.get("sort_order", "desc")
    if sort_order not in SORT_ORDERS:
        raise FakeError(400, "sort_order must be asc or desc")
    sort_by = _snake(args.get("sort_by", "created_at"))
    if sort_by not in _SORTABLE:
        raise FakeError(400, f"sort_by must be one of: {', '.join(_SORTABLE)}")
    after = _time_param("started_after")
    before = _time_param("started_before")

    with state.lock:
        sessions = list(state.calls.values())
    wanted = {
        "agent_id": args.get("agent_id"),
        "status": args.get("status"),
        "channel": channel,
        "caller_number": args.get("caller_number"),
    }
    for key, value in wanted.items():
        if value is not None:
            sessions = [s for s in sessions if s.get(key) == value]
    if search := args.get("search"):
        sessions = [s for s in sessions if _matches(s, search)]
    if after is not None:
        sessions = [s for s in sessions if (start := _started(s)) is not None and start > after]
    if before is not None:
        sessions = [s for s in sessions if (start := _started(s)) is not None and start < before]
    sessions.sort(key=lambda s: (s.get(sort_by) is None, s.get(sort_by) or 0))
    if sort_order == "desc":
        sessions.reverse()
    offset = (page - 1) * page_size
    shown = [_listed(s) for s in sessions[offset : offset + page_size]]

    if "meta" in state.response_shape.split("+"):
        meta = {"total": len(sessions), "limit": page_size, "offset": offset}
        return json_response({"data": shown, "meta": meta})
    camel = [{_camel(k): v for k, v in s.items()} for s in shown]
    return json_response(
        {"success": True, "message": "call sessions fetched", "data": {"callSessions": camel}}
    )


@bp.get("/call-sessions-detail/<session_id>")
def call_session_detail(session_id: str) -> Response:
    """One call session, with its transcript."""
    state = current_state()
    with state.lock:
        session = state.calls.get(session_id)
    if session is None:
        raise FakeError(404, f"Call session {session_id} not found", "not_found")
    return json_response({"success": True, "message": "call session fetched", "data": session})


def create_ravan_app(state: FakeState) -> Flask:
    """A Flask app that behaves like api.ravan.ai (serve it at the base URL's root)."""
    app = Flask(__name__)
    app.register_blueprint(bp)
    return attach_fake(app, state, STYLE)


def _check_auth(state: FakeState) -> None:
    """X-Api-Key must be the configured key."""
    given = request.headers.get("X-Api-Key", "")
    if not given or not hmac.compare_digest(given, state.api_key):
        raise FakeError(401, "Invalid or missing API key", "unauthorized")


def _render_error(error: FakeError) -> Response:
    """Ravan documents no error body: answer a plausible one."""
    return json_response({"success": False, "message": error.message}, error.status)


def _failure_body() -> dict[str, Any]:
    """A 200 that still failed."""
    return {"success": False, "message": "failed to create call"}


def _strip_credentials(body: dict[str, Any]) -> dict[str, Any]:
    """The create-call body without url and access_token."""
    stripped: dict[str, Any] = drop_keys(body, frozenset({"url", "access_token"}))
    return stripped


STYLE = ProviderStyle(_check_auth, _render_error, _failure_body, _strip_credentials)


def _remember_session(
    state: FakeState,
    session_id: str,
    room_id: str,
    agent_id: str,
    agent: dict[str, Any],
    call_type: str | None,
    body: dict[str, Any],
) -> None:
    """Store the new session in the detail endpoint's snake_case shape."""
    now = now_iso()
    session = {
        "id": session_id,
        "agent_id": agent_id,
        "organization_id": state.organization_id,
        "room_id": room_id,
        "caller_number": body.get("from_phone_number") if call_type == "outbound_call" else None,
        "callee_number": body.get("to_phone_number") if call_type == "outbound_call" else None,
        "caller_name": None,
        "caller_email": None,
        "channel": "web" if call_type == "web_call" else "voice",
        "status": "in_progress",
        "summary": None,
        "metadata": body.get("metadata") or {},
        "error_message": None,
        "disconnect_reason": None,
        "prompt_dynamic_variables": body.get("prompt_dynamic_variables") or {},
        "extract_dynamic_variables": None,
        "call_latency_ms": None,
        "started_at": now,
        "ended_at": None,
        "duration_sec": 0,
        "created_at": now,
        "recording_url": None,
        "cost_total": "0",
        "agent_name": agent.get("name", agent_id),
        "post_call_analysis_result": {},
        "credit_breakdown": None,
        "transcripts": [],
    }
    with state.lock:
        state.calls[session_id] = session


def add_session(state: FakeState, agent_id: str, **fields: Any) -> dict[str, Any]:
    """A session the fake knows without a create-call (a phone call, an older web call)."""
    session_id = fields.pop("id", None) or str(uuid.uuid4())
    body = {"type": "web_call" if fields.get("channel", "web") == "web" else "outbound_call"}
    _remember_session(state, session_id, f"call_{session_id}", agent_id, {}, body["type"], body)
    with state.lock:
        state.calls[session_id].update(fields)
        return state.calls[session_id]


def complete_session(
    state: FakeState,
    session_id: str,
    *,
    status: str = "completed",
    duration_sec: int = 42,
    summary: str | None = "The caller asked about pricing.",
    transcript: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """End a session as Ravan would: status, end time, duration, summary, recording, transcript."""
    with state.lock:
        session = state.calls[session_id]
        started = datetime.datetime.fromisoformat(session["started_at"])
        ended = started + datetime.timedelta(seconds=duration_sec)
        lines = transcript or [("assistant", "Hello! How can I help?"), ("user", "How much is the pro plan?")]
        session.update(
            status=status,
            ended_at=ended.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            duration_sec=duration_sec,
            summary=summary,
            recording_url=f"https://recordings.ravan.example/{session_id}.mp3",
            cost_total="0.35",
            disconnect_reason="user_hangup",
            transcripts=[
                {"message": {"role": role, "content": text}, "timestamp_ms": 1500 * (i + 1)}
                for i, (role, text) in enumerate(lines)
            ],
        )
        return session


def call_completed_event(state: FakeState, session_id: str, org_id: str | None = None) -> dict[str, Any]:
    """The documented `call.completed` body for a session."""
    with state.lock:
        session = dict(state.calls[session_id])
    data = {
        "call_session_id": session_id,
        "agent_id": session["agent_id"],
        "status": session["status"],
        "channel": session["channel"],
        "duration_sec": session["duration_sec"],
        "disconnect_reason": session.get("disconnect_reason"),
        "summary": session.get("summary"),
        "transcripts": session.get("transcripts", []),
        "started_at": session["started_at"],
        "ended_at": session.get("ended_at"),
        "recording_url": session.get("recording_url"),
    }
    return {"event": "call.completed", "org_id": org_id or state.organization_id, "data": data}


def send_call_completed(
    state: FakeState, session_id: str, url: str, *, attempts: int = 3, org_id: str | None = None
) -> list[httpx.Response]:
    """POST `call.completed` to `url` as Ravan does, again after any non-2xx; every answer."""
    answers = []
    body = call_completed_event(state, session_id, org_id)
    for attempt in range(attempts):
        response = httpx.post(url, json=body, headers={"User-Agent": "Ravan-Webhooks/1.0"}, timeout=5)
        answers.append(response)
        if response.is_success:
            break
        time.sleep(0.05 * (attempt + 1))
    return answers


def _int_param(name: str, *, default: int, minimum: int, maximum: int | None = None) -> int:
    """An integer query parameter within bounds."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise FakeError(400, f"{name} must be an integer") from exc
    if value < minimum or (maximum is not None and value > maximum):
        raise FakeError(400, f"{name} must be between {minimum} and {maximum or 'any'}")
    return value


def _time_param(name: str) -> datetime.datetime | None:
    """An ISO 8601 query parameter, as an aware datetime."""
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = datetime.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise FakeError(400, f"{name} must be an ISO 8601 timestamp") from exc
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _started(session: dict[str, Any]) -> datetime.datetime | None:
    """When a stored session started; None for one that never did (no answer, busy)."""
    started = session.get("started_at")
    return datetime.datetime.fromisoformat(started) if started else None


def _matches(session: dict[str, Any], search: str) -> bool:
    """Whether `search` appears in one of the session's text fields."""
    fields = ("id", "agent_name", "summary", "caller_number", "callee_number", "caller_name")
    return any(search.lower() in str(session.get(f) or "").lower() for f in fields)


def _listed(session: dict[str, Any]) -> dict[str, Any]:
    """A session as the list shows it: without the transcript."""
    return {k: v for k, v in session.items() if k != "transcripts"}


def _camel(name: str) -> str:
    """snake_case → camelCase, as the documented list response spells its fields."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _snake(name: str) -> str:
    """camelCase → snake_case, so sort_by accepts either spelling."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
