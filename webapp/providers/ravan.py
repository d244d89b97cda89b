"""Ravan AI ("Agni"): ``POST /api/v1/calling/create-call`` with ``type: web_call``."""

from __future__ import annotations

import uuid
from typing import Any

from ..config import ProviderSettings
from ..errors import ProviderBadResponse
from .base import WebCall, WebCallRequest, complete_from_token, first_dict, require_str
from .transport import Transport

PATH = "/api/v1/calling/create-call"


def build_request(request: WebCallRequest) -> dict[str, Any]:
    """The narrowest documented body for a browser call (no phone numbers: they are outbound-only)."""
    body: dict[str, Any] = {"type": "web_call", "agent_id": request.agent.agent_id}
    if request.metadata:
        body["metadata"] = dict(request.metadata)
    if request.variables:
        body["prompt_dynamic_variables"] = dict(request.variables)
    return body


def parse_response(answer: Any) -> WebCall:
    """Read the call from the documented flat shape, or the same fields nested under ``data``."""
    outer = first_dict(answer)
    fields = first_dict(outer.get("data")) if "url" not in outer and "access_token" not in outer else outer
    if outer.get("success") is False or fields.get("success") is False:
        raise ProviderBadResponse()
    call_id = fields.get("session_id") or fields.get("room_id") or f"ravan-{uuid.uuid4()}"
    return complete_from_token(
        WebCall(
            call_id=str(call_id),
            livekit_url=require_str(fields.get("url")),
            token=require_str(fields.get("access_token")),
            room=fields.get("room_id") if isinstance(fields.get("room_id"), str) else None,
        )
    )


class RavanProvider:
    """Creates Ravan web calls."""

    name = "ravan"

    def __init__(self, settings: ProviderSettings, transport: Transport) -> None:
        self.url = settings.base_url + PATH
        self.headers = {"X-Api-Key": settings.credentials["api_key"]}
        self.transport = transport

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Create the call; Ravan has no idempotency key, so only unsent requests are retried."""
        answer = self.transport.post_json(self.url, headers=self.headers, body=build_request(request))
        return parse_response(answer)
