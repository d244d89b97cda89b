"""Retell AI: ``POST /v2/create-web-call``; the browser joins Retell's own LiveKit project.

Retell's v2 answer carries only the participant token: its browser SDK always connects to
Retell's LiveKit host, so that is our ``livekit_url`` too (``RETELL_LIVEKIT_URL`` overrides
it for tests). A newer answer may name its ``transport``: only ``livekit`` can be joined
by our page. The token must be used within 30 s of its creation.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, SecretStr

from ..errors import ProviderBadResponse
from .base import (
    HttpUrlText,
    LiveKitUrlText,
    ProviderContext,
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

log = logging.getLogger(__name__)
CREATE_PATH = "/v2/create-web-call"
LIVEKIT_URL = "wss://retell-ai-4ihahnq7.livekit.cloud"  # where Retell's browser SDK connects
JOIN_WITHIN_S = 30  # Retell invalidates a web call's token this long after creating it
LIVEKIT_TRANSPORT = "livekit"


class RetellSettings(ProviderSettings):
    """``RETELL_API_KEY`` (a Bearer token), where the API lives and where its calls' rooms are."""

    api_key: SecretStr | None = credential("RETELL_API_KEY")
    base_url: HttpUrlText = base_url("RETELL_BASE_URL", "https://api.retellai.com")
    livekit_url: LiveKitUrlText = Field(LIVEKIT_URL, validation_alias="RETELL_LIVEKIT_URL")


def build_web_call(request: WebCallRequest) -> dict[str, Any]:
    """The agent, our metadata, and the call's variables as ``retell_llm_dynamic_variables``."""
    body: dict[str, Any] = {"agent_id": request.agent.agent_id}
    if request.metadata:
        body["metadata"] = dict(request.metadata)
    if request.variables:
        body["retell_llm_dynamic_variables"] = dict(request.variables)
    return body


def parse_web_call(answer: Any, livekit_url: str, *, now: datetime | None = None) -> WebCall:
    """The call from a v2 answer (no URL: Retell's host) or a newer one naming its transport.

    Any transport but LiveKit (``gateway``) is a room our page cannot join: a bad response,
    logged with the reason. The call expires when its token does, or 30 s after it was
    created if that is sooner (Retell's rule for unused tokens).
    """
    call = first_dict(answer)
    transport = call.get("transport")
    if transport is not None and transport != LIVEKIT_TRANSPORT:
        log.error(
            "retell answered a web call on transport %r, not LiveKit: the page cannot join it",
            str(transport)[:40],
        )
        raise ProviderBadResponse()
    url = call.get("url") if transport == LIVEKIT_TRANSPORT and call.get("url") is not None else livekit_url
    if not isinstance(url, str) or not url.startswith(("wss://", "ws://", "https://", "http://")):
        log.error("retell answered a LiveKit web call without a usable url")
        raise ProviderBadResponse()
    call_id, token = require_str(call.get("call_id")), require_str(call.get("access_token"))
    completed = complete_from_token(WebCall(call_id=call_id, livekit_url=url, token=token))
    deadline = (now or datetime.now(UTC)) + timedelta(seconds=JOIN_WITHIN_S)
    if completed.expires_at is None or completed.expires_at > deadline:
        completed = dataclasses.replace(completed, expires_at=deadline)
    return completed


class RetellProvider(HostedProvider):
    """Creates Retell web calls."""

    name = "retell"

    def __init__(self, settings: RetellSettings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        self.livekit_url = settings.livekit_url
        self.headers = {"Authorization": f"Bearer {secret(settings.api_key)}"}

    def livekit_url_before_call(self) -> str:
        """Every Retell web call is on the same LiveKit host: the page can warm it up."""
        return self.livekit_url

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Create the call; Retell has no idempotency key, so only unsent requests are retried."""
        answer = self.transport.post_json(
            self.base_url + CREATE_PATH, headers=self.headers, body=build_web_call(request)
        )
        return parse_web_call(answer, self.livekit_url)


PROVIDER = ProviderSpec(
    name="retell",
    title="Retell AI",
    settings=RetellSettings,
    adapter=RetellProvider,
    agent_id_pattern=r"[A-Za-z0-9_-]{1,128}",
    agent_id_hint="a Retell agent id is the agent's id from the Retell dashboard (letters, digits, '_')",
)
