"""Zudu AI: ``POST /api/calls/create-web-call`` (``/api/calls/create`` carries no LiveKit credentials)."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from ..errors import ProviderBadResponse, ProviderError
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

CREATE_PATH = "/api/calls/create-web-call"


class ZuduSettings(ProviderSettings):
    """Both halves of Zudu's key pair (``X-API-KEY``, ``X-API-SECRET``) and where the API lives."""

    api_key: SecretStr | None = credential("ZUDU_API_KEY")
    api_secret: SecretStr | None = credential("ZUDU_API_SECRET")
    base_url: HttpUrlText = base_url("ZUDU_BASE_URL", "https://api.zudu.ai")


def build_web_call(request: WebCallRequest) -> dict[str, Any]:
    """Zudu takes an agent id and free metadata; prompt variables travel in the metadata."""
    body: dict[str, Any] = {"agent_id": request.agent.agent_id}
    metadata = {**request.metadata, **request.variables}
    if metadata:
        body["metadata"] = metadata
    return body


def parse_web_call(answer: Any) -> WebCall:
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


class ZuduProvider(HostedProvider):
    """Creates Zudu web calls."""

    name = "zudu"

    def __init__(self, settings: ZuduSettings, context: Any) -> None:
        super().__init__(settings, context)
        self.headers = {"X-API-KEY": secret(settings.api_key), "X-API-SECRET": secret(settings.api_secret)}

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Create the call; not idempotent, so only unsent requests are retried."""
        answer = self.transport.post_json(
            self.base_url + CREATE_PATH, headers=self.headers, body=build_web_call(request)
        )
        return parse_web_call(answer)

    def check_access(self) -> None:
        """A harmless read with our key pair: a call that does not exist (404 means the keys work)."""
        try:
            self.transport.get_json(
                f"{self.base_url}/api/calls/webcall-access-check", headers=self.headers, operation="check"
            )
        except ProviderError as error:
            if error.upstream_status != 404:
                raise


PROVIDER = ProviderSpec(
    name="zudu",
    title="Zudu AI",
    settings=ZuduSettings,
    adapter=ZuduProvider,
    agent_id_pattern=r"\S{1,128}",
    agent_id_hint="a Zudu agent id is the agent's id from the Zudu dashboard, without spaces",
)
