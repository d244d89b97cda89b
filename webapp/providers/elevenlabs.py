"""ElevenLabs Agents: a conversation token from ``GET /v1/convai/conversation/token``.

The token is a LiveKit participant token for ElevenLabs' LiveKit host (or the host of the
agent's data-residency ``region``). ElevenLabs takes no prompt variables with the token:
the page sends them itself, in the ``conversation_initiation_client_data`` message it must
send first, so the answer carries that message as ``protocol.initiation``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
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
TOKEN_PATH = "/v1/convai/conversation/token"
# Each data-residency region's API and LiveKit hosts; None is ElevenLabs' default (global) one.
HOSTS: dict[str | None, tuple[str, str]] = {
    None: ("https://api.elevenlabs.io", "wss://livekit.rtc.elevenlabs.io"),
    "eu": ("https://api.eu.residency.elevenlabs.io", "wss://livekit.rtc.eu.residency.elevenlabs.io"),
    "in": ("https://api.in.residency.elevenlabs.io", "wss://livekit.rtc.in.residency.elevenlabs.io"),
}
INITIATION = "conversation_initiation_client_data"
CONVERSATION_ID = re.compile(r"conv_[A-Za-z0-9]+")  # the conversation's id, inside the room's name


class ElevenLabsSettings(ProviderSettings):
    """``ELEVENLABS_API_KEY`` (sent as ``xi-api-key``), and hosts that replace every region's (tests)."""

    api_key: SecretStr | None = credential("ELEVENLABS_API_KEY")
    base_url: HttpUrlText | None = base_url("ELEVENLABS_BASE_URL", None)
    livekit_url: LiveKitUrlText | None = Field(None, validation_alias="ELEVENLABS_LIVEKIT_URL")


def hosts(region: str | None, settings: ElevenLabsSettings) -> tuple[str, str]:
    """The API and LiveKit hosts of ``region``, unless the settings name others for all regions."""
    api_host, livekit_host = HOSTS[region]
    return settings.base_url or api_host, settings.livekit_url or livekit_host


def token_query(request: WebCallRequest) -> dict[str, str]:
    """The token request's query: the agent, and the caller's name when the page gave one."""
    query = {"agent_id": request.agent.agent_id}
    if request.participant_name:
        query["participant_name"] = request.participant_name
    return query


def initiation(request: WebCallRequest) -> dict[str, Any]:
    """The first message the page sends: the call's variables as ``dynamic_variables``."""
    message: dict[str, Any] = {"type": INITIATION}
    if request.variables:
        message["dynamic_variables"] = dict(request.variables)
    return message


def parse_token(answer: Any, request: WebCallRequest, livekit_url: str) -> WebCall:
    """The call from ``{"token"}``: room, identity and expiry from the token; the id from the room."""
    token = require_str(first_dict(answer).get("token"))
    protocol = {"initiation": initiation(request)}
    call = complete_from_token(WebCall(call_id="", livekit_url=livekit_url, token=token, protocol=protocol))
    if not call.room:
        log.error("elevenlabs answered a token without a room")
        raise ProviderBadResponse()
    found = CONVERSATION_ID.search(call.room)
    return dataclasses.replace(call, call_id=found.group(0) if found else call.room)


class ElevenLabsProvider(HostedProvider):
    """Gets ElevenLabs conversation tokens, in each agent's region."""

    name = "elevenlabs"

    def __init__(self, settings: ElevenLabsSettings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        self.region_settings = settings
        self.base_url = hosts(None, settings)[0]
        self.headers = {"xi-api-key": secret(settings.api_key)}

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Ask for a token (a GET: repeating it is safe, and nothing exists until the page joins)."""
        api_host, livekit_host = hosts(request.agent.region, self.region_settings)
        url = api_host + TOKEN_PATH
        answer = self.transport.get_json(url, headers=self.headers, params=token_query(request))
        return parse_token(answer, request, livekit_host)


PROVIDER = ProviderSpec(
    name="elevenlabs",
    title="ElevenLabs Agents",
    settings=ElevenLabsSettings,
    adapter=ElevenLabsProvider,
    agent_id_pattern=r"[A-Za-z0-9_-]{1,128}",
    agent_id_hint="an ElevenLabs agent id is the id on the agent's page (like agent_01jz…)",
    regions=tuple(region for region in HOSTS if region is not None),
)
