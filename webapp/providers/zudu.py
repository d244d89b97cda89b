"""Zudu AI: ``POST /api/calls/create-web-call`` (``/api/calls/create`` carries no LiveKit credentials)."""

from __future__ import annotations

from typing import Any

from ..config import ProviderSettings
from ..errors import ProviderBadResponse
from .base import WebCall, WebCallRequest, complete_from_token, first_dict, require_str
from .transport import Transport

PATH = "/api/calls/create-web-call"


def build_request(request: WebCallRequest) -> dict[str, Any]:
    """Zudu takes an agent id and free metadata; prompt variables travel in the metadata."""
    body: dict[str, Any] = {"agent_id": request.agent.agent_id}
    metadata = {**request.metadata, **request.variables}
    if metadata:
        body["metadata"] = metadata
    return body


def parse_response(answer: Any) -> WebCall:
    """Read ``data.livekit_connection`` (token also at ``data.web_call_info.access_token``)."""
    outer = first_dict(answer)
    if str(outer.get("status", "")).lower() != "success" or outer.get("error"):
        raise ProviderBadResponse()
    data = first_dict(outer.get("data"))
    connection = first_dict(data.get("livekit_connection"))
    info = first_dict(data.get("web_call_info"))
    room = connection.get("room_name") or info.get("room_name")
    return complete_from_token(
        WebCall(
            call_id=require_str(first_dict(data.get("call")).get("call_id")),
            livekit_url=require_str(connection.get("server_url")),
            token=require_str(connection.get("token") or info.get("access_token")),
            room=room if isinstance(room, str) else None,
        )
    )


class ZuduProvider:
    """Creates Zudu web calls."""

    name = "zudu"

    def __init__(self, settings: ProviderSettings, transport: Transport) -> None:
        self.url = settings.base_url + PATH
        self.headers = {
            "X-API-KEY": settings.credentials["api_key"],
            "X-API-SECRET": settings.credentials["api_secret"],
        }
        self.transport = transport

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Create the call; not idempotent, so only unsent requests are retried."""
        answer = self.transport.post_json(self.url, headers=self.headers, body=build_request(request))
        return parse_response(answer)
