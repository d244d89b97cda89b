"""Zudu AI: ``POST /api/calls/create-web-call`` (``/api/calls/create`` carries no LiveKit credentials).

History: Zudu documents no call list, only ``GET /api/calls/{call_id}``, so the calls we know
are the calls we placed. Its call record follows the create page's shape: ``call_status`` in
any case, epoch-millisecond timestamps, ``transcript_object``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from ..errors import ProviderBadResponse
from .base import (
    CallStatus,
    HttpUrlText,
    ProviderCall,
    ProviderSettings,
    ProviderSpec,
    TranscriptLine,
    WebCall,
    WebCallRequest,
    base_url,
    complete_from_token,
    credential,
    first_dict,
    optional_number,
    optional_str,
    parse_time,
    require_livekit_url,
    require_str,
    require_token,
    secret,
)
from .hosted import HostedProvider

CREATE_PATH = "/api/calls/create-web-call"
CALL_PATH = "/api/calls/{call_id}"
_STATUSES: dict[str, CallStatus] = {
    "registered": "created", "scheduled": "created",
    "ongoing": "in_progress",
    "ended": "completed",
    "error": "failed",
}  # fmt: skip


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
            livekit_url=require_livekit_url(connection.get("server_url")),
            token=require_token(connection.get("token") or info.get("access_token")),
            room=room if isinstance(room, str) else None,
        )
    )


def parse_call(answer: Any) -> ProviderCall:
    """``GET /api/calls/{id}``: ``{status: "success", data: {call: {call_id, call_status, ...}}}``."""
    outer = first_dict(answer)
    if str(outer.get("status", "")).lower() != "success" or outer.get("error"):
        raise ProviderBadResponse()
    call = first_dict(first_dict(outer.get("data")).get("call"))
    raw_status = optional_str(call.get("call_status"))
    started_at = parse_time(call.get("start_timestamp"))
    ended_at = parse_time(call.get("end_timestamp"))
    call_type = str(call.get("call_type") or "").upper()
    analysis = first_dict(call.get("call_analysis"))
    cost = call.get("call_cost")
    transcript = call.get("transcript_object")
    return ProviderCall(
        call_id=require_str(call.get("call_id")),
        agent_id=optional_str(call.get("agent_id")),
        status=zudu_status(raw_status),
        provider_status=raw_status,
        channel="web" if call_type == "WEB_CALL" else "phone" if call_type == "PHONE_CALL" else None,
        started_at=started_at,
        ended_at=ended_at,
        # Its call_duration has no documented unit; the two timestamps do.
        duration_s=(ended_at - started_at).total_seconds() if started_at and ended_at else None,
        cost=optional_number(first_dict(cost).get("amount") if isinstance(cost, dict) else cost),
        summary=optional_str(analysis.get("call_summary") or analysis.get("summary")),
        recording_url=optional_str(call.get("recording_url")),
        transcript=parse_transcript(transcript) if isinstance(transcript, list) else None,
    )


def zudu_status(value: str | None) -> CallStatus | None:
    """Zudu's ``call_status`` (any case) in our words."""
    if value is None:
        return None
    return _STATUSES.get(value.strip().lower(), "unknown")


def parse_transcript(items: list[Any]) -> tuple[TranscriptLine, ...]:
    """``transcript_object``: ``[{role: "agent" | "user", content}]``."""
    lines = []
    for item in items:
        entry = first_dict(item)
        role, text = entry.get("role"), entry.get("content", entry.get("text"))
        if isinstance(role, str) and isinstance(text, str) and text.strip():
            lines.append(TranscriptLine(role=role.strip().lower()[:32], text=text.strip()))
    return tuple(lines)


class ZuduProvider(HostedProvider):
    """Creates Zudu web calls and looks them up."""

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
        self.transport.get_json(
            f"{self.base_url}/api/calls/webcall-access-check",
            headers=self.headers,
            operation="check",
            expected=404,
        )

    def get_call(self, call_id: str) -> ProviderCall:
        """One call record (Zudu has no list: we look up the calls we placed)."""
        url = self.base_url + CALL_PATH.format(call_id=quote(call_id, safe=""))
        return parse_call(self.history.get_json(url, headers=self.headers))


PROVIDER = ProviderSpec(
    name="zudu",
    title="Zudu AI",
    settings=ZuduSettings,
    adapter=ZuduProvider,
    agent_id_pattern=r"\S{1,128}",
    agent_id_hint="a Zudu agent id is the agent's id from the Zudu dashboard, without spaces",
    no_phone_reason="Zudu documents no destination number for its calls, so webcall cannot ask it to "
    "call a phone",
    page_metadata="variables",  # prompt variables travel in the call's metadata
)
