"""Fake ElevenLabs Agents: a conversation token, list conversations, one conversation, and its
post-call webhook's requests.

Follows shared/providers/README.md (ElevenLabs' SDK sources): `xi-api-key` auth and
`GET /v1/convai/conversation/token?agent_id=…` answering `{"token"}`, a LiveKit participant
token for a room named after the conversation (`…conv_<id>`), where ElevenLabs' agent
joins (no worker is dispatched: the test puts its own agent there). Errors are FastAPI's:
`{"detail": {"status", "message"}}`, and 422 with a list of problems for a bad query. One
way stricter than the API: unknown query parameters are refused, so that our adapter is
caught sending anything it should not. Known means the README's (`agent_id`, `cursor`,
`participant_name`, `branch_id`, `environment`) and a few more of ElevenLabs' own API the
README does not list: the list's `page_size`, `call_start_after_unix` and
`call_start_before_unix` (the adapter's history sync pages by time with them), and the
token's `source` and `version` (ElevenLabs' JS SDK sends them; the adapter does not).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, request

from .hooks import FakeError, ProviderStyle, attach_fake, json_response
from .state import FakeState, WebCallRoom, current_state
from .tokens import mint_participant_token

bp = Blueprint("elevenlabs", __name__, url_prefix="/v1/convai")

TOKEN_PARAMS = frozenset({"agent_id", "participant_name", "branch_id", "environment", "source", "version"})
LIST_PARAMS = frozenset(
    {"agent_id", "cursor", "page_size", "call_start_after_unix", "call_start_before_unix", "summary_mode"}
)
MAX_PAGE_SIZE = 100


@bp.get("/conversation/token")
def conversation_token() -> Response:
    """A token for a new conversation with the agent; its room waits for ElevenLabs' agent."""
    state = current_state()
    agent_id = _query(TOKEN_PARAMS, required="agent_id")
    agent = state.agents.get(agent_id)
    if agent is None:
        raise FakeError(404, f"Agent {agent_id} not found", "agent_not_found")
    conversation_id = f"conv_{uuid.uuid4().hex[:26]}"
    room = f"room_{agent_id}_{conversation_id}"
    identity = f"user_{uuid.uuid4().hex[:12]}"
    name = request.args.get("participant_name") or None
    token = mint_participant_token(
        state, room=room, identity=identity, greeting=None, variables={}, name=name, dispatch=False
    )
    _store(state, _conversation(conversation_id, agent_id))
    if state.on_web_call is not None:
        state.on_web_call(WebCallRoom("elevenlabs", conversation_id, room, identity, agent_id, agent, {}))
    return json_response({"token": token})


@bp.get("/conversations")
def list_conversations() -> Response:
    """Conversations, newest first, for one agent or all, paged with a cursor."""
    state = current_state()
    state.list_pages_served += 1
    _query(LIST_PARAMS)
    agent_id = request.args.get("agent_id")
    size_text, cursor = request.args.get("page_size", "30"), request.args.get("cursor") or "0"
    if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE_SIZE:
        raise _ValidationError("page_size", f"Input should be between 1 and {MAX_PAGE_SIZE}")
    if not cursor.isdigit():
        raise _ValidationError("cursor", "Invalid cursor")
    size, start = int(size_text), int(cursor)
    after, before = _unix_param("call_start_after_unix"), _unix_param("call_start_before_unix")
    with state.lock:
        found = [
            c
            for c in reversed(state.calls.values())
            if agent_id in (None, c["agent_id"])
            and (after is None or c["start_time_unix_secs"] > after)
            and (before is None or c["start_time_unix_secs"] < before)
        ]
    page = found[start : start + size]
    more = start + size < len(found)
    # Summaries only when asked (the SDK's summary_mode: "exclude", the default, or "include").
    summary_mode = request.args.get("summary_mode", "exclude")
    if summary_mode not in ("exclude", "include"):
        raise _ValidationError("summary_mode", "Input should be 'exclude' or 'include'")
    listed = [_list_item(c, summaries=summary_mode == "include") for c in page]
    return json_response(
        {"conversations": listed, "has_more": more, "next_cursor": str(start + size) if more else None}
    )


@bp.get("/conversations/<conversation_id>")
def get_conversation(conversation_id: str) -> Response:
    """One conversation with its transcript, or 404."""
    state = current_state()
    with state.lock:
        conversation = state.calls.get(conversation_id)
    if conversation is None:
        raise FakeError(404, f"Conversation {conversation_id} not found", "conversation_not_found")
    return json_response(_detail(conversation))


def add_conversation(state: FakeState, agent_id: str, **fields: Any) -> dict[str, Any]:
    """A conversation the fake knows without a token (a phone call, an older one); newest last."""
    conversation = {**_conversation(f"conv_{uuid.uuid4().hex[:26]}", agent_id), **fields}
    _store(state, conversation)
    return conversation


def end_conversation(
    state: FakeState,
    conversation_id: str,
    *,
    duration_s: int = 42,
    transcript: list[tuple[str, str]] | None = None,
    analysed: bool = True,
) -> dict[str, Any]:
    """End a conversation as ElevenLabs records it: `done`, its transcript with times, an analysis;
    not ``analysed`` yet, `processing`, the analysis still to come (end it again for that)."""
    lines = transcript or [("agent", "Hello, this is the ElevenLabs agent."), ("user", "Hi, I need help.")]
    analysis = {"transcript_summary": "The caller needed help.", "call_successful": "success"}
    with state.lock:
        conversation = state.calls[conversation_id]
        conversation.update(
            status="done" if analysed else "processing",
            call_duration_secs=duration_s,
            message_count=len(lines),
            transcript=[
                {"role": role, "message": text, "time_in_call_secs": 2 * i}
                for i, (role, text) in enumerate(lines)
            ],  # fmt: skip
            analysis=analysis if analysed else None,
        )
        return conversation


def post_call_webhook(
    state: FakeState,
    conversation_id: str,
    *,
    secret: str,
    kind: str = "post_call_transcription",
    at_s: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """What ElevenLabs POSTs to the workspace's post-call webhook, and its headers: ``{type,
    event_timestamp, data}`` (``data``: the conversation in full, as GET reads it), signed as its
    docs and its SDK say (``ElevenLabs-Signature: t=<s>,v0=<hex>``, the HMAC-SHA256 of
    ``<t>.<body>`` under the webhook's secret)."""
    with state.lock:
        conversation = _detail(state.calls[conversation_id])
    stamp = at_s if at_s is not None else int(time.time())
    data = conversation if kind == "post_call_transcription" else {
        "agent_id": conversation["agent_id"], "conversation_id": conversation_id, "full_audio": "SUQz",
    }  # fmt: skip
    body = json.dumps({"type": kind, "event_timestamp": stamp, "data": data}).encode()
    return body, {"Content-Type": "application/json", "ElevenLabs-Signature": signature(secret, body, stamp)}


def signature(secret: str, body: bytes, at_s: int) -> str:
    """``ElevenLabs-Signature`` for ``body`` sent at ``at_s`` (Unix seconds) under ``secret``."""
    digest = hmac.new(secret.encode(), f"{at_s}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at_s},v0={digest}"


def _conversation(conversation_id: str, agent_id: str) -> dict[str, Any]:
    """A new conversation as the fake keeps it (both views of it are rendered from this)."""
    return {
        "conversation_id": conversation_id,
        "agent_id": agent_id,
        "status": "initiated",
        "start_time_unix_secs": int(time.time()),
        "call_duration_secs": 0,
        "message_count": 0,
        "transcript": [],
        "analysis": None,
    }


def _store(state: FakeState, conversation: dict[str, Any]) -> None:
    """Keep a conversation."""
    with state.lock:
        state.calls[conversation["conversation_id"]] = conversation


def _list_item(conversation: dict[str, Any], *, summaries: bool) -> dict[str, Any]:
    """A conversation as the list shows it: its times at the top, no transcript, its summary
    when ``summaries`` were asked for."""
    keys = (
        "agent_id",
        "conversation_id",
        "start_time_unix_secs",
        "call_duration_secs",
        "message_count",
        "status",
    )
    listed = {key: conversation[key] for key in keys}
    if conversation.get("direction"):  # a telephony conversation's: inbound or outbound
        listed["direction"] = conversation["direction"]
    if summaries:
        listed["transcript_summary"] = (conversation["analysis"] or {}).get("transcript_summary")
    return listed


def _detail(conversation: dict[str, Any]) -> dict[str, Any]:
    """A conversation in full: its times under `metadata`, its transcript and analysis."""
    times = {key: conversation[key] for key in ("start_time_unix_secs", "call_duration_secs")}
    if conversation.get("direction"):  # a telephony conversation names its phone call
        times["phone_call"] = {"direction": conversation["direction"], "type": "twilio"}
    return {
        "agent_id": conversation["agent_id"],
        "conversation_id": conversation["conversation_id"],
        "status": conversation["status"],
        "transcript": conversation["transcript"],
        "metadata": times,
        "analysis": conversation["analysis"],
    }


def create_elevenlabs_app(state: FakeState) -> Flask:
    """A Flask app that behaves like api.elevenlabs.io (serve it at the base URL's root)."""
    app = Flask(__name__)
    app.register_blueprint(bp)
    return attach_fake(app, state, STYLE)


def _unix_param(name: str) -> int | None:
    """An integer query parameter (Unix seconds), or a 422 like FastAPI's."""
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise _ValidationError(name, "Input should be a valid integer") from None


def _query(allowed: frozenset[str], required: str | None = None) -> str:
    """Refuse unknown parameters; return the required one's value (422 when it is missing)."""
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise _ValidationError(unknown[0], "Unknown query parameter")
    if required is None:
        return ""
    value = request.args.get(required, "")
    if not value:
        raise _ValidationError(required, "Field required")
    return value


class _ValidationError(FakeError):
    """FastAPI's 422: `detail` is a list of problems."""

    def __init__(self, name: str, message: str) -> None:
        """One problem, with the query parameter it is about."""
        super().__init__(422, message, "validation_error")
        self.problem = {"type": "value_error", "loc": ["query", name], "msg": message}


def _check_auth(state: FakeState) -> None:
    """`xi-api-key: <ELEVENLABS_API_KEY>`."""
    key = request.headers.get("xi-api-key", "")
    if not key:
        raise FakeError(401, "Missing xi-api-key header", "needs_authorization")
    if not hmac.compare_digest(key, state.api_key):
        raise FakeError(401, "Invalid API key", "invalid_api_key")


def _render_error(error: FakeError) -> Response:
    """`{"detail": {"status", "message"}}`, or FastAPI's list of problems for a 422."""
    if isinstance(error, _ValidationError):
        return json_response({"detail": [error.problem]}, error.status)
    return json_response({"detail": {"status": error.code, "message": error.message}}, error.status)


def _failure_body() -> dict[str, Any]:
    """A 200 without a token."""
    return {"token": None}


def _strip_credentials(body: dict[str, Any]) -> dict[str, Any]:
    """The answer without its token."""
    return {k: v for k, v in body.items() if k != "token"}


STYLE = ProviderStyle(_check_auth, _render_error, _failure_body, _strip_credentials)
