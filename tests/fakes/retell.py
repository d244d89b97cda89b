"""Fake Retell AI: create a web call, get one call, list calls, and its webhooks' requests.

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
import hashlib
import hmac
import json
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, request

from .fields import now_ms, object_field, optional_string, required_string
from .hooks import FakeError, ProviderStyle, attach_fake, json_response, read_json_object
from .state import FakeState, WebCallRoom, current_state
from .tokens import mint_participant_token

bp = Blueprint("retell", __name__, url_prefix="/v2")

CREATE_FIELDS = frozenset(
    {
        "agent_id", "agent_version", "agent_override", "current_node_id", "current_state", "metadata",
        "retell_llm_dynamic_variables",
    }
)  # fmt: skip
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
    if version is not None and not (
        isinstance(version, str)
        or (isinstance(version, int) and not isinstance(version, bool) and version >= 0)
    ):
        raise FakeError(400, "agent_version must be a string or a non-negative integer")
    for stage in ("current_node_id", "current_state"):
        optional_string(body, stage)
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
    call: dict[str, Any] = {
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
        "_created_ms": now_ms(),  # ours: orders calls that have not started (never shown)
    }
    with state.lock:
        state.calls[call_id] = call
    if state.on_web_call is not None:
        state.on_web_call(WebCallRoom("retell", call_id, room, identity, agent_id, agent, variables))
    return json_response(_in_shape(state, _shown(call) | {"access_token": token}), 201)


@bp.get("/get-call/<call_id>")
def get_call(call_id: str) -> Response:
    """One call, or 404."""
    state = current_state()
    with state.lock:
        call = state.calls.get(call_id)
    if call is None:
        raise FakeError(404, f"Call {call_id} not found", "not_found")
    return json_response(_shown(call))


@bp.post("/list-calls")
def list_calls() -> Response:
    """Calls matching `filter_criteria`, sorted by start and paged with `pagination_key` (a call id)."""
    state = current_state()
    state.list_pages_served += 1
    body = read_json_object()
    unknown = sorted(set(body) - {"filter_criteria", "sort_order", "limit", "pagination_key"})
    if unknown:
        raise FakeError(400, f"Unknown field(s): {', '.join(unknown)}")
    matches = _criteria(object_field(body, "filter_criteria") or {})
    order = optional_string(body, "sort_order") or "descending"
    if order not in SORT_ORDERS:
        raise FakeError(400, "sort_order must be ascending or descending")
    limit = body.get("limit", 50)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise FakeError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    with state.lock:
        calls = sorted((c for c in state.calls.values() if matches(c)), key=_started)
    if order == "descending":
        calls.reverse()
    if key := optional_string(body, "pagination_key"):
        ids = [c["call_id"] for c in calls]
        if key not in ids:
            raise FakeError(400, f"pagination_key {key} is not a call id")
        calls = calls[ids.index(key) + 1 :]
    return json_response([_shown(c) for c in calls[:limit]])


def add_call(state: FakeState, agent_id: str, **fields: Any) -> dict[str, Any]:
    """A call the fake knows without a create (a phone call, an older web call)."""
    call = {"call_type": "web_call", "call_id": f"call_{uuid.uuid4().hex}", "agent_id": agent_id,
            "call_status": "registered", "start_timestamp": None, "end_timestamp": None,
            "_created_ms": now_ms(), **fields}  # fmt: skip
    with state.lock:
        state.calls[call["call_id"]] = call
    return call


def end_call(
    state: FakeState,
    call_id: str,
    *,
    started_ms: int | None = None,
    duration_ms: int = 42_000,
    transcript: list[tuple[str, str]] | None = None,
    analysed: bool = True,
) -> dict[str, Any]:
    """End a call as Retell records it: epoch-ms timestamps, transcript_object, call_analysis
    (not yet when not ``analysed``: Retell analyses a call after it ended, then sends
    ``call_analyzed``)."""
    lines = transcript or [("agent", "Hello, this is the Retell agent."), ("user", "Hi, I have a question.")]
    with state.lock:
        call = state.calls[call_id]
        start = started_ms if started_ms is not None else call["_created_ms"] + 1000
        call.update(
            call_status="ended",
            start_timestamp=start,
            end_timestamp=start + duration_ms,
            duration_ms=duration_ms,
            disconnection_reason="user_hangup",
            recording_url=f"https://recordings.retell.example/{call_id}.wav",
            transcript="\n".join(f"{role.title()}: {text}" for role, text in lines),
            transcript_object=[{"role": role, "content": text, "words": []} for role, text in lines],
            call_analysis={"call_summary": "The caller asked a question.", "call_successful": True},
            call_cost=call_cost(duration_ms / 1000),
        )
        if not analysed:
            call.pop("call_analysis")
        return call


def call_cost(seconds: float) -> dict[str, Any]:
    """``call_cost`` as Retell's SDK documents it: every price and cost in US cents."""
    prices = {"retell_platform": 0.0117, "elevenlabs_tts": 0.1167, "gpt_4o_mini": 0.0100}  # a second
    costs = {name: round(price * seconds, 4) for name, price in prices.items()}
    return {
        "product_costs": [
            {"product": name, "unit_price": prices[name], "cost": cost} for name, cost in costs.items()
        ],
        "combined_cost": round(sum(costs.values()), 4),
        "total_duration_seconds": seconds,
        "total_duration_unit_price": round(sum(prices.values()), 4),
    }


def start_call(state: FakeState, call_id: str, *, started_ms: int | None = None) -> dict[str, Any]:
    """The caller joined: the call is ``ongoing`` from ``started_ms``."""
    with state.lock:
        call = state.calls[call_id]
        call.update(call_status="ongoing", start_timestamp=started_ms or call["_created_ms"] + 1000)
        return call


def webhook(
    state: FakeState, event: str, call_id: str, *, key: str | None = None, at_ms: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """What Retell POSTs to a webhook URL for ``event`` of the call, and its headers: ``{event,
    call}`` signed as its docs say (X-Retell-Signature ``v=<ms>,d=<hex>``: the HMAC-SHA256 of the
    raw body followed by those milliseconds, under the API key). ``call_started`` carries the
    call's basics, ``call_ended`` all of it but ``call_analysis``, ``call_analyzed`` all of it."""
    with state.lock:
        call = _shown(state.calls[call_id])
    if event == "call_started":
        basics = ("call_type", "call_id", "agent_id", "call_status", "start_timestamp", "metadata")
        call = {name: call[name] for name in basics if name in call}
    elif event == "call_ended":
        call.pop("call_analysis", None)
    body = json.dumps({"event": event, "call": call}, ensure_ascii=False).encode()
    signed = signature(key or state.api_key, body, at_ms if at_ms is not None else now_ms())
    return body, {"Content-Type": "application/json", "X-Retell-Signature": signed}


def signature(key: str, body: bytes, at_ms: int) -> str:
    """``X-Retell-Signature`` for ``body`` sent at ``at_ms`` (epoch milliseconds) under ``key``."""
    digest = hmac.new(key.encode(), body + str(at_ms).encode(), hashlib.sha256).hexdigest()
    return f"v={at_ms},d={digest}"


def _criteria(criteria: dict[str, Any]) -> Any:
    """A predicate for `filter_criteria`: lists of values per field, and a start-time range."""
    lists = {}
    for name in ("agent_id", "call_status", "call_type", "direction", "disconnection_reason"):
        values = criteria.get(name)
        if values is not None and not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
            raise FakeError(400, f"filter_criteria.{name} must be a list of strings")
        if values is not None:
            lists[name] = values
    window = criteria.get("start_timestamp") or {}
    if not isinstance(window, dict):
        raise FakeError(400, "filter_criteria.start_timestamp must be an object")
    low, high = window.get("lower_threshold"), window.get("upper_threshold")
    for bound in (low, high):
        if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool)):
            raise FakeError(400, "start_timestamp thresholds must be integers (epoch ms)")

    def matches(call: dict[str, Any]) -> bool:
        if any(call.get(name) not in values for name, values in lists.items()):
            return False
        started = call.get("start_timestamp")
        if (low is not None or high is not None) and started is None:
            return False
        return (low is None or started >= low) and (high is None or started <= high)

    return matches


def _started(call: dict[str, Any]) -> int:
    """When a call started, or was made if it has not started yet."""
    return int(call.get("start_timestamp") or call["_created_ms"])


def _shown(call: dict[str, Any]) -> dict[str, Any]:
    """A stored call as the API shows it after creation: no token, none of our own keys."""
    return {k: v for k, v in call.items() if k != "access_token" and not k.startswith("_")}


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
