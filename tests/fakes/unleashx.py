"""Fake UnleashX: place an outbound phone call with a voice agent. It has no web call.

Follows docs/unleashx-make-call.txt: header `token`, integer `agent_id`, `+E164` phone
number; errors `{error: true, message}` with 400 (missing field), 401, 404 ("Agent not
found or not active") and 422 (invalid values, unusable agent).
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, request

from .fields import is_e164, object_field
from .hooks import FakeError, ProviderStyle, attach_fake, drop_keys, json_response, read_json_object
from .state import FakeState, current_state

bp = Blueprint("unleashx", __name__, url_prefix="/api/v1/global/agents")

VOICE_AGENT_TYPE = 3
OUTBOUND_CALLING_TYPE = 1


@bp.post("/call")
def make_call() -> Response:
    """Start an outbound call with an active, outbound voice agent."""
    state = current_state()
    body = read_json_object()
    if body.get("agent_id") is None:
        raise FakeError(400, "Agent ID is required", "missing_field")
    if body.get("phone_number") is None:
        raise FakeError(400, "Phone Number is required", "missing_field")
    agent_id = body["agent_id"]
    if not isinstance(agent_id, int) or isinstance(agent_id, bool):
        raise FakeError(422, "agent_id must be an integer", "invalid_type")
    phone_number = body["phone_number"]
    if not is_e164(phone_number):
        raise FakeError(422, "Invalid phone number format: include the country code with +", "invalid_phone")
    metadata = object_field(body, "metadata", status=422) or {}
    _usable_agent(state, agent_id)

    execution_id = str(uuid.uuid4())
    data = {
        "execution_id": execution_id,
        "agent_id": agent_id,
        "phone_number": phone_number,
        "call_status": "initiated",
    }
    with state.lock:
        state.calls[execution_id] = {**data, "metadata": metadata}
    envelope: dict[str, Any] = {"success": True, "message": "Call initiated successfully"}
    if state.response_shape == "flat":
        return json_response({**envelope, **data})
    return json_response({**envelope, "data": data})


def create_unleashx_app(state: FakeState) -> Flask:
    """A Flask app that behaves like www.tryunleashx.com (serve it at the base URL's root)."""
    app = Flask(__name__)
    app.register_blueprint(bp)
    return attach_fake(app, state, STYLE)


def _usable_agent(state: FakeState, agent_id: int) -> dict[str, Any]:
    """The agent record if it can place outbound calls; 404 or 422 otherwise."""
    agent = state.agents.get(agent_id, state.agents.get(str(agent_id)))
    if agent is None or not agent.get("active", True) or agent.get("status", 1) != 1:
        raise FakeError(404, "Agent not found or not active", "agent_not_found")
    if agent.get("agent_type", VOICE_AGENT_TYPE) != VOICE_AGENT_TYPE:
        raise FakeError(422, "Only voice agents can be used for calls", "not_voice_agent")
    if agent.get("calling_type", OUTBOUND_CALLING_TYPE) != OUTBOUND_CALLING_TYPE:
        raise FakeError(422, "Agent is not configured for outbound calls", "not_outbound")
    return agent


def _check_auth(state: FakeState) -> None:
    """The `token` header must be the configured API token."""
    given = request.headers.get("token", "")
    if not given or not hmac.compare_digest(given, state.api_key):
        raise FakeError(401, "Unauthorized: invalid or missing token", "unauthorized")


def _render_error(error: FakeError) -> Response:
    """`{error: true, message}`."""
    return json_response({"error": True, "message": error.message}, error.status)


def _failure_body() -> dict[str, Any]:
    """A 200 that still failed."""
    return {"success": False, "message": "Failed to initiate call"}


def _strip_credentials(body: dict[str, Any]) -> dict[str, Any]:
    """No LiveKit here: the nearest thing is a success without its execution_id."""
    stripped: dict[str, Any] = drop_keys(body, frozenset({"execution_id"}))
    return stripped


STYLE = ProviderStyle(_check_auth, _render_error, _failure_body, _strip_credentials)
