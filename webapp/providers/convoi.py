"""Convoi AI: ``POST /api/v1/public/calls`` with ``type: web`` and an ``Idempotency-Key``."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, SecretStr

from ..errors import CallInProgress
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
    optional_str,
    require_str,
    secret,
)
from .hosted import HostedProvider

CALLS_PATH = "/api/v1/public/calls"
_KEY_NAMESPACE = uuid.UUID("0b5f0c55-7a4e-4d0c-9a51-3c6f1d0e9c11")
# Convoi answers 409 while a request with the same Idempotency-Key is still being served.
STATUS_ERRORS = {409: CallInProgress}


class ConvoiSettings(ProviderSettings):
    """A server key (``sk_live_…``: public ``pk_`` keys cannot place every call) and the API's home."""

    api_key: SecretStr | None = credential("CONVOI_API_KEY")
    base_url: HttpUrlText = base_url("CONVOI_BASE_URL", "https://go.convoi.ai/backend")
    # "Default limits: 20 writes/min ... per key", shared by every agent on the key; raise it
    # when Convoi raises yours. Our own limits stay under it, so we refuse before Convoi does.
    create_limit_per_minute: int = Field(20, validation_alias="CONVOI_CREATES_PER_MINUTE", ge=1)


def idempotency_key(scoped_key: str | None) -> str:
    """The UUID Convoi wants, derived from our key (already scoped by agent and client), or new.

    Never the page's own value: two visitors sending the same key must not receive one call.
    """
    if scoped_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_KEY_NAMESPACE, scoped_key))


def build_web_call(request: WebCallRequest) -> dict[str, Any]:
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


def parse_web_call(answer: Any) -> WebCall:
    """Read ``livekit.url``, ``livekit.token`` and ``livekit.participant_identity``."""
    call = first_dict(answer)
    livekit = first_dict(call.get("livekit"))
    return complete_from_token(
        WebCall(
            call_id=require_str(call.get("id")),
            livekit_url=require_str(livekit.get("url")),
            token=require_str(livekit.get("token")),
            room=optional_str(call.get("room_id")),
            identity=optional_str(livekit.get("participant_identity")),
        )
    )


class ConvoiProvider(HostedProvider):
    """Creates Convoi web calls; the idempotency key makes retries safe."""

    name = "convoi"

    def __init__(self, settings: ConvoiSettings, context: Any) -> None:
        super().__init__(settings, context)
        self.authorization = f"Bearer {secret(settings.api_key)}"

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Create the call, retrying transient failures under the same idempotency key."""
        headers = {
            "Authorization": self.authorization,
            "Idempotency-Key": idempotency_key(request.idempotency_key),
        }
        answer = self.transport.post_json(
            self.base_url + CALLS_PATH,
            headers=headers,
            body=build_web_call(request),
            idempotent=True,
            status_errors=STATUS_ERRORS,
        )
        return parse_web_call(answer)

    def check_access(self) -> None:
        """A harmless read with our key: the newest call (raises when the key or the API fails)."""
        headers = {"Authorization": self.authorization}
        self.transport.get_json(
            self.base_url + CALLS_PATH, headers=headers, params={"limit": 1}, operation="check"
        )


PROVIDER = ProviderSpec(
    name="convoi",
    title="Convoi AI",
    settings=ConvoiSettings,
    adapter=ConvoiProvider,
    # Convoi web calls are single-agent: a workforce id (sqd_…) is refused with 422.
    agent_id_pattern=r"agt_[A-Za-z0-9]+",
    agent_id_hint="Convoi web calls need an agent id starting with 'agt_'",
)
