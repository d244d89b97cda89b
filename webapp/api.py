"""The token API: ``POST /api/calls`` turns an agent slug into a LiveKit URL and token."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from .agents import Agent
from .demo_links import InvalidDemoLink, read_demo_link
from .errors import AppError, BadRequest, PayloadTooLarge, UnknownAgent, UnsupportedMediaType
from .idempotency import check_key
from .providers import WebCall, WebCallRequest
from .quotas import check_client_limit, spend_call
from .schema import CallBody, parse_call_body
from .security import check_origin, client_ip, cors_headers, limiter

bp = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger(__name__)


def _per_ip_limits() -> str:
    """The per-client limit string, read per request so each app can set its own."""
    return str(current_app.extensions["webcall"].settings.rate_limits)


def _global_limit() -> str:
    """The ceiling for all clients together: the most calls this deployment will pay for."""
    return str(current_app.extensions["webcall"].settings.global_rate_limit)


@bp.post("/calls")
@limiter.limit(_per_ip_limits, key_func=client_ip, methods=["POST"])
@limiter.shared_limit(_global_limit, scope="all-clients", key_func=lambda: "all", methods=["POST"])
def create_call() -> tuple[Response, int]:
    """Create a web call with the named agent and hand the browser what it needs to join."""
    webcall = current_app.extensions["webcall"]
    body = _read_body(webcall.settings.max_body_bytes)
    agent = _find_agent(body, webcall.settings.agents)
    check_origin(agent)
    key = check_key(request.headers.get("Idempotency-Key"))
    client = client_ip()
    check_client_limit(agent, client)
    if webcall.bot_verifier is not None:
        webcall.bot_verifier.verify(body.bot_token, client, key)
    variables = _call_variables(agent, body, webcall.settings.secret_key)

    def start_call() -> dict[str, Any]:
        spend_call(agent, webcall.settings)
        return _start_call(webcall, agent, body, variables, key)

    answer = webcall.replay.run(f"{agent.slug}|{client}|{key}", start_call) if key else start_call()
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response, 201


def _call_variables(agent: Agent, body: CallBody, secret_key: str) -> dict[str, str]:
    """The agent's defaults, then the page's allowed variables, then a signed demo link's."""
    variables = {**agent.variables}
    variables.update({k: v for k, v in body.variables.items() if k in agent.allowed_variables})
    if body.demo_token:
        variables.update(_demo_link_variables(secret_key, body.demo_token, agent))
    return variables


def _start_call(
    webcall: Any, agent: Agent, body: CallBody, variables: dict[str, str], key: str | None
) -> dict[str, Any]:
    """Ask the agent's provider for the call; log the outcome without secrets."""
    call_request = WebCallRequest(
        agent=agent,
        variables=variables,
        metadata={**body.metadata, "webcall_agent": agent.slug},
        participant_name=body.participant_name,
        idempotency_key=key,
    )
    started = time.monotonic()
    try:
        call = webcall.providers[agent.provider].create_web_call(call_request)
    except AppError as error:
        log.warning("call failed agent=%s provider=%s code=%s", agent.slug, agent.provider, error.code)
        raise
    log.info(
        "call created agent=%s provider=%s call_id=%s room=%s in %.0f ms",
        agent.slug, agent.provider, call.call_id, call.room, (time.monotonic() - started) * 1000,
    )  # fmt: skip
    ignored = sorted(set(body.variables) - agent.allowed_variables)
    return _call_json(agent, call, ignored)


@bp.after_request
def cors(response: Response) -> Response:
    """CORS for embeds on allowed origins."""
    return cors_headers(response)


def _demo_link_variables(secret_key: str, token: str, agent: Agent) -> dict[str, str]:
    """Variables preset by a signed demo link; the operator signed them, so all are allowed."""
    link = read_demo_link(secret_key, token)
    if link.agent != agent.slug:
        raise InvalidDemoLink()
    return link.variables


def _read_body(limit: int) -> CallBody:
    """Check type and size before reading, then validate."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType()
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge()
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge()
    return parse_call_body(raw)


def _find_agent(body: CallBody, agents: Mapping[str, Agent]) -> Agent:
    """The named agent; the only one when the body names none."""
    if body.agent is None:
        if len(agents) == 1:
            return next(iter(agents.values()))
        raise BadRequest("Name the agent to call in the 'agent' field.", code="agent_required")
    agent = agents.get(body.agent)
    if agent is None:
        raise UnknownAgent()
    return agent


def _call_json(agent: Agent, call: WebCall, ignored: list[str]) -> dict[str, Any]:
    """The public answer: never the provider's body, only what the browser needs."""
    answer: dict[str, Any] = {
        "call_id": call.call_id,
        "agent": agent.slug,
        "provider": agent.provider,
        "room": call.room,
        "identity": call.identity,
        "expires_at": call.expires_at.isoformat().replace("+00:00", "Z") if call.expires_at else None,
        "max_call_s": agent.max_call_s,
        "livekit": {"url": call.livekit_url, "token": call.token},
    }
    if ignored:
        answer["ignored_variables"] = ignored
    return answer
