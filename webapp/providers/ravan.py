"""Ravan AI ("Agni"): ``POST /api/v1/calling/create-call`` with ``type: web_call``."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import SecretStr

from ..errors import ProviderBadResponse
from .base import (
    HttpUrlText,
    ProviderSettings,
    ProviderSpec,
    WebCall,
    WebCallRequest,
    base_url,
    complete_from_token,
    credential,
    first_dict,
    require_str,
    secret,
)
from .hosted import HostedProvider

CREATE_PATH = "/api/v1/calling/create-call"
SESSIONS_PATH = "/api/v1/calling/call-sessions"


class RavanSettings(ProviderSettings):
    """``RAVAN_API_KEY`` (sent as ``X-Api-Key``) and where the API lives."""

    api_key: SecretStr | None = credential("RAVAN_API_KEY")
    base_url: HttpUrlText = base_url("RAVAN_BASE_URL", "https://api.ravan.ai")


def build_web_call(request: WebCallRequest) -> dict[str, Any]:
    """The narrowest documented body for a browser call (no phone numbers: they are outbound-only)."""
    body: dict[str, Any] = {"type": "web_call", "agent_id": request.agent.agent_id}
    if request.metadata:
        body["metadata"] = dict(request.metadata)
    if request.variables:
        body["prompt_dynamic_variables"] = dict(request.variables)
    return body


def parse_web_call(answer: Any) -> WebCall:
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


class RavanProvider(HostedProvider):
    """Creates Ravan web calls."""

    name = "ravan"

    def __init__(self, settings: RavanSettings, context: Any) -> None:
        super().__init__(settings, context)
        self.headers = {"X-Api-Key": secret(settings.api_key)}

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Create the call; Ravan has no idempotency key, so only unsent requests are retried."""
        answer = self.transport.post_json(
            self.base_url + CREATE_PATH, headers=self.headers, body=build_web_call(request)
        )
        return parse_web_call(answer)

    def check_access(self) -> None:
        """A harmless read with our key: one call session (raises when the key or the API fails)."""
        self.transport.get_json(
            self.base_url + SESSIONS_PATH, headers=self.headers, params={"page": 1, "page_size": 1},
            operation="check",
        )  # fmt: skip


PROVIDER = ProviderSpec(
    name="ravan",
    title="Ravan AI",
    settings=RavanSettings,
    adapter=RavanProvider,
    agent_id_pattern=r"\S{1,128}",
    agent_id_hint="a Ravan agent id is the agent's id from the Ravan dashboard, without spaces",
)
