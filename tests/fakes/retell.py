"""Fake Retell AI: create a web call, get one call, list calls.

Follows shared/providers/README.md (Retell's SDK sources): Bearer auth, `POST
/v2/create-web-call` answering 201 with a LiveKit participant token and no URL (Retell's
browser SDK always joins Retell's own LiveKit host; here, the test's server). The token
expires 30 s after it is made: Retell invalidates a web call's token that soon. With
`response_shape="v3"` the answer also names its `transport` and `url`, as a newer API
may; `"gateway"` answers a call on Retell's non-LiveKit transport. Errors are
`{"status": "error", "error_message"}`; unknown fields are refused, as a strict API would.
"""

from __future__ import annotations

import datetime
import hmac
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, request

from .fields import object_field, optional_string, required_string
from .hooks import FakeError, ProviderStyle, attach_fake, json_response, read_json_object
from .state import FakeState, WebCallRoom, current_state
from .tokens import mint_participant_token

bp = Blueprint("retell", __name__, url_prefix="/v2")

CREATE_FIELDS = frozenset(
    {"agent_id", "agent_version", "metadata", "retell_llm_dynamic_variables", "agent_override"}
)
JOIN_WITHIN = datetime.timedelta(seconds=30)
GATEWAY_URL = "https://gateway.retellai.example"
SORT_ORDERS = ("ascending", "descending")
MAX_LIMIT = 1000


@bp.post("/create-web-call")
def create_web_call() -> Response:
    """Register a web call; the caller's token joins a fresh room, where Retell's agent waits."""
    state = current_state()
    body = read_json_object()
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        raise FakeError(400, f"Unknown field(s): {', '.join(unknown)}", "invalid_request")
    agent_id = required_string(body, "agent_id")
    version = body.get("agent_version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
        raise FakeError(400, "agent_version must be a non-negative integer")
    metadata = object_field(body, "metadata") or {}
    variables = object_field(body, "retell_llm_dynamic_variables") or {}
    if not all(isinstance(v, str) for v in variables.values()):
        raise FakeError(400, "retell_llm_dynamic_variables values must be strings")
    object_field(body, "agent_override")
    agent = state.agents.get(agent_id)
    if agent is None:
        raise FakeError(404, f"Agent {agent_id} not found", "not_found")
    call_id = f"call_{uuid.uuid4().hex}"
    identity = f"web_user_{uuid.uuid4().hex[:12]}"
    room = f"web_call_{call_id}"
    token = mint_participant_token(
        state, room=room, identity=identity, greeting=None, variables=variables, dispatch=False,
        ttl=JOIN_WITHIN,
    )  # fmt: skip
    call = {
        "call_type": "web_call",
        "access_token": token,
        "call_id": call_id,
        "agent_id": agent_id,
        "agent_version": version if version is not None else 0,
        "call_status": "registered",
        "metadata": metadata,
        "retell_llm_dynamic_variables": variables,
        "start_timestamp": None,
        "end_timestamp": None,
        "transcript": "",
        "transcript_object": [],
    }
    with state.lock:
        state.calls[call_id] = call
    if state.on_web_call is not None:
        state.on_web_call(WebCallRoom("retell", call_id, room, identity, agent_id, agent, variables))
    return json_response(_in_shape(state, call), 201)


@bp.get("/get-call/<call_id>")
def get_call(call_id: str) -> Response:
    """One call, or 404."""
    state = current_state()
    with state.lock:
        call = state.calls.get(call_id)
    if call is None:
        raise FakeError(404, f"Call {call_id} not found", "not_found")
    return json_response({k: v for k, v in call.items() if k != "access_token"})


@bp.post("/list-calls")
def list_calls() -> Response:
    """Calls, filtered by agent, sorted by start and paged with `pagination_key` (a call id)."""
    state = current_state()
    body = read_json_object()
    criteria = object_field(body, "filter_criteria") or {}
    agents = criteria.get("agent_id")
    if agents is not None and not (isinstance(agents, list) and all(isinstance(a, str) for a in agents)):
        raise FakeError(400, "filter_criteria.agent_id must be a list of strings")
    order = optional_string(body, "sort_order") or "descending"
    if order not in SORT_ORDERS:
        raise FakeError(400, "sort_order must be ascending or descending")
    limit = body.get("limit", 50)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise FakeError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    with state.lock:
        calls = [c for c in state.calls.values() if agents is None or c["agent_id"] in agents]
    if order == "descending":
        calls.reverse()
    if key := optional_string(body, "pagination_key"):
        ids = [c["call_id"] for c in calls]
        if key not in ids:
            raise FakeError(400, f"pagination_key {key} is not a call id")
        calls = calls[ids.index(key) + 1 :]
    return json_response([{k: v for k, v in c.items() if k != "access_token"} for c in calls[:limit]])


def create_retell_app(state: FakeState) -> Flask:
    """A Flask app that behaves like api.retellai.com (serve it at the base URL's root)."""
    app = Flask(__name__)
    app.register_blueprint(bp)
    return attach_fake(app, state, STYLE)


def _in_shape(state: FakeState, call: dict[str, Any]) -> dict[str, Any]:
    """The create answer as v2 documents it, or with a newer API's transport and url."""
    if state.response_shape == "v3":
        return {**call, "transport": "livekit", "url": state.livekit_url}
    if state.response_shape == "gateway":
        return _gateway_answer(call)
    return call


def _gateway_answer(call: dict[str, Any]) -> dict[str, Any]:
    """A call on Retell's gateway transport: a URL and a token that are not LiveKit's."""
    return {**call, "transport": "gateway", "url": GATEWAY_URL, "access_token": "gw_" + uuid.uuid4().hex}


def _check_auth(state: FakeState) -> None:
    """`Authorization: Bearer <RETELL_API_KEY>`."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip() or not hmac.compare_digest(key.strip(), state.api_key):
        raise FakeError(401, "Invalid API key", "unauthorized")


def _render_error(error: FakeError) -> Response:
    """`{status: "error", error_message}` (what Retell's SDK reads first)."""
    return json_response({"status": "error", "error_message": error.message}, error.status)


def _failure_body() -> dict[str, Any]:
    """A 201-style answer that cannot be joined: the call went to the gateway transport."""
    return _gateway_answer({"call_type": "web_call", "call_id": f"call_{uuid.uuid4().hex}"})


def _strip_credentials(body: dict[str, Any]) -> dict[str, Any]:
    """The call without its access token."""
    return {k: v for k, v in body.items() if k != "access_token"}


STYLE = ProviderStyle(_check_auth, _render_error, _failure_body, _strip_credentials)
