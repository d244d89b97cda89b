"""UnleashX: outbound phone calls only (``POST /api/v1/global/agents/call``); it has no web call."""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr

from .base import (
    HttpUrlText,
    PhoneCall,
    PhoneCallRequest,
    ProviderSettings,
    ProviderSpec,
    base_url,
    credential,
    first_dict,
    optional_str,
    refused_in_answer,
    require_str,
    secret,
)
from .hosted import HostedProvider

CALL_PATH = "/api/v1/global/agents/call"
# Its agents' numbers: sent as a JSON integer, so at most 18 digits (a signed 64-bit one surely).
AGENT_ID_PATTERN = r"[1-9][0-9]{0,17}"
AGENT_ID_HINT = "an UnleashX agent id is a whole number (1 to 18 digits, no leading zero)"


class UnleashXSettings(ProviderSettings):
    """The API token (sent in a ``token`` header; it does not expire) and where the API lives."""

    api_token: SecretStr | None = credential("UNLEASHX_API_TOKEN")
    base_url: HttpUrlText = base_url("UNLEASHX_BASE_URL", "https://www.tryunleashx.com")


def build_phone_call(request: PhoneCallRequest) -> dict[str, Any]:
    """An integer ``agent_id``, the ``+E164`` number and free metadata (prompt variables go there)."""
    phone = request.agent.phone
    agent_id = (phone.agent_id if phone and phone.agent_id else None) or request.agent.agent_id
    body: dict[str, Any] = {"agent_id": int(agent_id), "phone_number": request.to_number}
    metadata = {**request.metadata, **request.variables, **({"name": request.name} if request.name else {})}
    if metadata:
        body["metadata"] = metadata
    return body


def parse_phone_call(answer: Any) -> PhoneCall:
    """The execution id, from ``data`` (the documented example) or flat (the documented table)."""
    outer = first_dict(answer)
    if outer.get("success") is False or outer.get("error") is True:
        raise refused_in_answer()
    fields = first_dict(outer.get("data")) if "execution_id" not in outer else outer
    provider_status = optional_str(fields.get("call_status"))
    return PhoneCall(
        call_id=require_str(fields.get("execution_id")),
        status="created",
        provider_status=provider_status,
    )


def check_phone(agent_id: str, phone: Any) -> list[str]:
    """UnleashX names its agents by number (the same rule as the agent's own ``agent_id``)."""
    runner = phone.agent_id or agent_id
    return [] if re.fullmatch(AGENT_ID_PATTERN, runner) else [f"agent_id: {AGENT_ID_HINT}"]


class UnleashXProvider(HostedProvider):
    """UnleashX places phone calls; it cannot back a browser call."""

    name = "unleashx"

    def __init__(self, settings: UnleashXSettings, context: Any) -> None:
        super().__init__(settings, context)
        self.headers = {"token": secret(settings.api_token)}

    def create_phone_call(self, request: PhoneCallRequest) -> PhoneCall:
        """Start the call (it has no idempotency key: only unsent requests are retried)."""
        answer = self.transport.post_json(
            self.base_url + CALL_PATH,
            headers=self.headers,
            body=build_phone_call(request),
            operation="create_phone_call",
            redact=(request.to_number,),
        )
        return parse_phone_call(answer)

    def check_access(self) -> None:
        """A call request with no agent: UnleashX refuses it (400) once the token is accepted (401 if not).

        It documents no read endpoint; a body without ``agent_id`` can never place a call.
        """
        self.transport.post_json(
            self.base_url + CALL_PATH, headers=self.headers, body={}, operation="check", expected=400
        )


PROVIDER = ProviderSpec(
    name="unleashx",
    title="UnleashX",
    settings=UnleashXSettings,
    adapter=UnleashXProvider,
    agent_id_pattern=AGENT_ID_PATTERN,
    agent_id_hint=AGENT_ID_HINT,
    writes_summaries=False,
    check_phone=check_phone,
)
