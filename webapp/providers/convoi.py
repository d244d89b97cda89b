"""Convoi AI: ``POST /api/v1/public/calls`` with ``type: web`` and an ``Idempotency-Key``."""

from __future__ import annotations

import uuid
from typing import Any

from ..config import ProviderSettings
from .base import WebCall, WebCallRequest, complete_from_token, first_dict, require_str
from .transport import Transport

PATH = "/api/v1/public/calls"
_KEY_NAMESPACE = uuid.UUID("0b5f0c55-7a4e-4d0c-9a51-3c6f1d0e9c11")


def idempotency_key(key: str | None) -> str:
    """A UUID for ``Idempotency-Key``: the page's own when it is one, else derived from it, else new."""
    if key is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(key))
    except ValueError:
        return str(uuid.uuid5(_KEY_NAMESPACE, key))


def build_request(request: WebCallRequest) -> dict[str, Any]:
    """The web-call body; ``agent_overrides`` come from the agent's configuration only."""
    agent = request.agent
    body: dict[str, Any] = {"type": "web", "agent_id": agent.agent_id}
    if request.participant_name:
        body["participant_name"] = request.participant_name
    overrides = {"first_message": agent.greeting, "system_prompt": agent.system_prompt}
    overrides = {k: v for k, v in overrides.items() if v}
    if overrides:
        body["agent_overrides"] = overrides
    metadata = {**request.metadata, **request.variables}
    if metadata:
        body["metadata"] = metadata
    return body


def parse_response(answer: Any) -> WebCall:
    """Read ``livekit.url``, ``livekit.token`` and ``livekit.participant_identity``."""
    call = first_dict(answer)
    livekit = first_dict(call.get("livekit"))
    identity = livekit.get("participant_identity")
    room = call.get("room_id")
    return complete_from_token(
        WebCall(
            call_id=require_str(call.get("id")),
            livekit_url=require_str(livekit.get("url")),
            token=require_str(livekit.get("token")),
            room=room if isinstance(room, str) and room else None,
            identity=identity if isinstance(identity, str) and identity else None,
        )
    )


class ConvoiProvider:
    """Creates Convoi web calls; the idempotency key makes retries safe."""

    name = "convoi"

    def __init__(self, settings: ProviderSettings, transport: Transport) -> None:
        self.url = settings.base_url + PATH
        self.authorization = f"Bearer {settings.credentials['api_key']}"
        self.transport = transport

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Create the call, retrying transient failures under the same idempotency key."""
        headers = {
            "Authorization": self.authorization,
            "Idempotency-Key": idempotency_key(request.idempotency_key),
        }
        answer = self.transport.post_json(
            self.url, headers=headers, body=build_request(request), idempotent=True
        )
        return parse_response(answer)
