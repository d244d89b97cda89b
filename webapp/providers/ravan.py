"""Ravan AI ("Agni"): web calls (``create-call`` with ``type: web_call``) and call sessions.

History: ``GET /api/v1/calling/call-sessions`` (every documented filter; numbered pages,
read until a short one; the documented camelCase shape under ``data.callSessions`` and the
snake_case ``{data: [...], meta}`` shape) and ``call-sessions-detail/{id}`` for the
transcript. Ravan also posts ``call.completed`` webhooks (``webapp.history.webhooks``).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import Field, SecretStr

from ..errors import ProviderBadResponse, ProviderError
from .base import (
    CallPage,
    CallStatus,
    Channel,
    HistoryQuery,
    HttpUrlText,
    PhoneCall,
    PhoneCallRequest,
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
    refused_in_answer,
    require_livekit_url,
    require_str,
    require_token,
    secret,
    shifted,
)
from .hosted import HostedProvider, broken_page

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "since the beginning", said as a moment
CREATE_PATH = "/api/v1/calling/create-call"
SESSIONS_PATH = "/api/v1/calling/call-sessions"
DETAIL_PATH = "/api/v1/calling/call-sessions-detail/{session_id}"
# The documented default. Pages are read until a short one, so we ask for a size the API
# surely serves whole: a server that capped a bigger request would look like the last page.
PAGE_SIZE = 20
# The list's order unless a filter says otherwise: newest start first (see build_list_params).
SORT = {"sort_by": "started_at", "sort_order": "desc"}
# The list filters the page documents besides paging, agent and time (passed on as given).
LIST_FILTERS = ("status", "channel", "caller_number", "search", "sort_by", "sort_order")
CHANNEL_FILTER = ("voice", "web", "sip")
SORT_ORDERS = ("asc", "desc")
_STATUSES: dict[str, CallStatus] = {
    "completed": "completed", "ended": "completed",
    "failed": "failed", "error": "failed",
    "no_answer": "no_answer", "busy": "busy", "voicemail": "voicemail",
    "in_progress": "in_progress", "ongoing": "in_progress", "active": "in_progress", "started": "in_progress",
    "created": "created", "initiated": "created", "queued": "created", "pending": "created",
    "ringing": "created", "registered": "created",
}  # fmt: skip
_ROLES = {"assistant": "agent", "agent": "agent", "bot": "agent", "ai": "agent",
          "user": "user", "caller": "user", "customer": "user", "human": "user"}  # fmt: skip
_EPOCH_MS_FROM = 10**11  # a timestamp_ms above this is a moment (epoch ms), below an offset into the call


class RavanSettings(ProviderSettings):
    """``RAVAN_API_KEY`` (sent as ``X-Api-Key``), where the API lives, and the org webhooks name."""

    api_key: SecretStr | None = credential("RAVAN_API_KEY")
    base_url: HttpUrlText = base_url("RAVAN_BASE_URL", "https://api.ravan.ai")
    # Webhooks carry the sender's org_id and no signature: anything else is refused.
    org_id: str | None = Field(None, validation_alias="RAVAN_ORG_ID", min_length=1, max_length=128)


def build_web_call(request: WebCallRequest) -> dict[str, Any]:
    """The narrowest documented body for a browser call (no phone numbers: they are outbound-only)."""
    body: dict[str, Any] = {"type": "web_call", "agent_id": request.agent.agent_id}
    if request.metadata:
        body["metadata"] = dict(request.metadata)
    if request.variables:
        body["prompt_dynamic_variables"] = dict(request.variables)
    return body


def parse_web_call(answer: Any) -> WebCall:
    """Read the call from the documented flat shape, or the same fields nested under ``data``.

    ``session_id`` is the call's id: the one its history and webhooks name. Without one (the
    page lists only ``success``, ``url`` and ``access_token`` as what a call needs) the room's
    id stands in, or one of ours, so the call still goes ahead.
    """
    outer = first_dict(answer)
    fields = first_dict(outer.get("data")) if "url" not in outer and "access_token" not in outer else outer
    check_success(outer, fields)
    return complete_from_token(
        WebCall(
            call_id=call_id_of(fields) or f"ravan-{uuid.uuid4()}",
            livekit_url=require_livekit_url(fields.get("url")),
            token=require_token(fields.get("access_token")),
            room=optional_str(fields.get("room_id")),
        )
    )


def call_id_of(fields: dict[str, Any]) -> str | None:
    """The call's id: ``session_id``, or else ``room_id``; either, when given, short text."""
    for name in ("session_id", "room_id"):
        if fields.get(name) is not None:
            return require_str(fields[name])
    return None


def check_success(*parts: dict[str, Any]) -> None:
    """Raise unless every ``success`` flag present is ``true``: the page types it boolean, so
    ``"false"``, ``0`` or ``null`` say nothing good."""
    if any("success" in part and part["success"] is not True for part in parts):
        raise refused_in_answer()


def build_phone_call(request: PhoneCallRequest) -> dict[str, Any]:
    """``type: outbound_call`` from the agent's caller id to the visitor's number (both E.164)."""
    phone = request.agent.phone
    body: dict[str, Any] = {
        "type": "outbound_call",
        "agent_id": (phone.agent_id if phone and phone.agent_id else None) or request.agent.agent_id,
        "from_phone_number": phone.from_number if phone else None,
        "to_phone_number": request.to_number,
    }
    if request.metadata:
        body["metadata"] = dict(request.metadata)
    variables = {**request.variables, **({"name": request.name} if request.name else {})}
    if variables:
        body["prompt_dynamic_variables"] = variables
    return body


def parse_phone_call(answer: Any) -> PhoneCall:
    """The session id of an accepted outbound call (flat, or under ``data``)."""
    outer = first_dict(answer)
    flat = "session_id" in outer or "room_id" in outer
    fields = outer if flat else first_dict(outer.get("data"))
    check_success(outer, fields)
    return PhoneCall(call_id=require_str(call_id_of(fields)), status="created")


def check_phone(agent_id: str, phone: Any) -> list[str]:
    """Ravan dials from one of the account's numbers: the caller id is required."""
    return [] if phone.from_number else ["from_number (the caller id, E.164) is required for Ravan"]


def build_list_params(query: HistoryQuery, page: int, page_size: int = PAGE_SIZE) -> dict[str, str]:
    """The query string of one page of ``call-sessions``; unknown or malformed filters are our bug."""
    unknown = sorted(set(query.filters) - set(LIST_FILTERS))
    if unknown:
        raise ValueError(f"Ravan's call list has no filter {', '.join(unknown)}")
    if query.filters.get("channel", "web") not in CHANNEL_FILTER:
        raise ValueError(f"Ravan's channel filter is one of {', '.join(CHANNEL_FILTER)}")
    if query.filters.get("sort_order", "asc") not in SORT_ORDERS:
        raise ValueError("Ravan's sort_order is asc or desc")
    # Newest start first, asked for by name (the page documents no default order): the history
    # sync goes on below the oldest start a listing cut at its last page reached.
    params = {"page": str(page), "page_size": str(page_size), **SORT, **query.filters}
    if query.agent_id:
        params["agent_id"] = query.agent_id
    # Always bounded below (the first run: since the epoch), as the list is documented to be read.
    params["started_after"] = iso_z(query.since or EPOCH)
    if query.until:
        params["started_before"] = iso_z(query.until)
    return params


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as the page's examples write times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_call_sessions(answer: Any, *, page: int, page_size: int = PAGE_SIZE) -> CallPage:
    """One page of sessions, in either documented shape; the next page unless this one is the last.

    ``{success, message, data: {callSessions: [...camelCase...]}}`` has no total: a short
    page is the last. ``{data: [...snake_case...], meta: {total, limit, offset}}`` says
    where the list ends.
    """
    outer = first_dict(answer)
    if not outer:
        raise ProviderBadResponse()
    check_success(outer)
    data = outer.get("data")
    sessions = data.get("callSessions", data.get("call_sessions")) if isinstance(data, dict) else data
    if not isinstance(sessions, list):
        raise ProviderBadResponse()
    calls, skipped = [], 0
    for entry in sessions:
        try:
            calls.append(parse_session(entry))
        except ProviderBadResponse:
            skipped += 1
    meta = first_dict(outer.get("meta"))
    total, offset = meta.get("total"), meta.get("offset")
    if isinstance(total, int) and isinstance(offset, int):
        last = offset + len(sessions) >= total or not sessions
    else:
        limit = meta.get("limit")
        last = len(sessions) < (limit if isinstance(limit, int) and limit > 0 else page_size)
    return CallPage(calls=tuple(calls), next_cursor=None if last else str(page + 1), skipped=skipped)


def parse_session_detail(answer: Any) -> ProviderCall:
    """``call-sessions-detail``: ``{success, message, data: {...session, transcripts}}``."""
    outer = first_dict(answer)
    check_success(outer)
    return parse_session(outer.get("data"))


def parse_session(entry: Any) -> ProviderCall:
    """One call session, camelCase or snake_case; without an id it is unusable."""
    if not isinstance(entry, dict):
        raise ProviderBadResponse()
    session = {_snake(key): value for key, value in entry.items()}
    session_id = session.get("id") or session.get("call_session_id") or session.get("session_id")
    started_at = parse_time(session.get("started_at"))
    raw_status = optional_str(session.get("status"))
    transcript = session.get("transcripts", session.get("transcript"))
    return ProviderCall(
        call_id=require_str(session_id),
        agent_id=optional_str(session.get("agent_id")),
        status=ravan_status(raw_status),
        provider_status=raw_status,
        channel=ravan_channel(session.get("channel")),
        room=optional_str(session.get("room_id")),
        created_at=parse_time(session.get("created_at")),
        started_at=started_at,
        ended_at=parse_time(session.get("ended_at")),
        duration_s=optional_number(session.get("duration_sec")),
        cost=optional_number(session.get("cost_total")),
        summary=optional_str(session.get("summary")),
        recording_url=optional_str(session.get("recording_url")),
        transcript=parse_transcript(transcript, started_at) if isinstance(transcript, list) else None,
    )


def ravan_status(value: str | None) -> CallStatus | None:
    """Ravan's status in our words (``unknown`` for a word we have not seen)."""
    if value is None:
        return None
    return _STATUSES.get(value.strip().lower().replace("-", "_").replace(" ", "_"), "unknown")


def ravan_channel(value: object) -> Channel | None:
    """``web`` stays web; ``voice`` and ``sip`` are phone calls."""
    if not isinstance(value, str):
        return None
    channel = value.strip().lower()
    return "web" if channel == "web" else "phone" if channel in ("voice", "sip", "phone") else None


def parse_transcript(items: list[Any], started_at: datetime | None) -> tuple[TranscriptLine, ...]:
    """``[{message: {role, content}, timestamp_ms}]`` (flat ``{role, content}`` items read too)."""
    lines = []
    for item in items:
        if not isinstance(item, dict):
            continue
        message = first_dict(item.get("message"), item)
        text = message.get("content", message.get("text"))
        role = message.get("role")
        if not isinstance(text, str) or not text.strip() or not isinstance(role, str):
            continue
        lines.append(
            TranscriptLine(
                role=_ROLES.get(role.strip().lower(), role.strip().lower()[:32]),
                text=text.strip(),
                at=_utterance_time(item.get("timestamp_ms"), started_at),
            )
        )
    return tuple(lines)


def _utterance_time(value: object, started_at: datetime | None) -> datetime | None:
    """``timestamp_ms`` as a moment: epoch milliseconds, or milliseconds into the call."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value >= _EPOCH_MS_FROM:
        return parse_time(value)
    return shifted(started_at, value / 1000) if value >= 0 else None


def _snake(name: str) -> str:
    """``startedAt`` → ``started_at`` (snake_case names pass unchanged)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class RavanProvider(HostedProvider):
    """Creates Ravan web calls and reads its call sessions."""

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

    def create_phone_call(self, request: PhoneCallRequest) -> PhoneCall:
        """Ask Ravan to call the number; like web calls, only unsent requests are retried."""
        answer = self.transport.post_json(
            self.base_url + CREATE_PATH, headers=self.headers, body=build_phone_call(request),
            operation="create_phone_call",
            redact=(request.to_number,),
        )  # fmt: skip
        return parse_phone_call(answer)

    def check_access(self) -> None:
        """A harmless read with our key: one call session (raises when the key or the API fails)."""
        self.transport.get_json(
            self.base_url + SESSIONS_PATH, headers=self.headers, params={"page": 1, "page_size": 1},
            operation="check",
        )  # fmt: skip

    def list_calls(self, query: HistoryQuery, cursor: str | None = None) -> CallPage:
        """One page of call sessions (``cursor`` is the page number); a broken page can be stepped over."""
        page = int(cursor or 1)
        try:
            answer = self.history.get_json(
                self.base_url + SESSIONS_PATH, headers=self.headers, params=build_list_params(query, page)
            )
            return parse_call_sessions(answer, page=page)
        except ProviderError as error:
            return broken_page(error, next_cursor=str(page + 1))

    def get_call(self, call_id: str) -> ProviderCall:
        """One session with its transcript."""
        url = self.base_url + DETAIL_PATH.format(session_id=quote(call_id, safe=""))
        return parse_session_detail(self.history.get_json(url, headers=self.headers))


PROVIDER = ProviderSpec(
    name="ravan",
    title="Ravan AI",
    settings=RavanSettings,
    adapter=RavanProvider,
    agent_id_pattern=r"\S{1,128}",
    agent_id_hint="a Ravan agent id is the agent's id from the Ravan dashboard, without spaces",
    check_phone=check_phone,
)
