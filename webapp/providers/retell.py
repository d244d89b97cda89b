"""Retell AI: ``POST /v2/create-web-call``; the browser joins Retell's own LiveKit project.

Retell's v2 answer carries only the participant token: its browser SDK always connects to
Retell's LiveKit host, so that is our ``livekit_url`` too (``RETELL_LIVEKIT_URL`` overrides
it for tests). A newer answer may name its ``transport``: only ``livekit`` can be joined
by our page. The token must be used within 30 s of its creation.

History: ``POST /v2/list-calls`` (filtered by agent and start time on Retell's side, newest
first, paged by the last call's id) and ``GET /v2/get-call/{call_id}``, with epoch-millisecond
timestamps, ``transcript_object`` and ``call_cost`` (``combined_cost`` in US cents, as Retell's SDK
documents it: kept in dollars). Its webhooks (``call_started``, ``call_ended``,
``call_analyzed``: ``{event, call}``, the call as ``get-call`` answers it) are
``history.webhooks``'.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import Field, SecretStr

from ..errors import ProviderBadResponse, ProviderError
from .base import (
    FINAL_STATUSES,
    CallPage,
    CallStatus,
    HistoryQuery,
    HttpUrlText,
    LiveKitUrlText,
    ProviderCall,
    ProviderContext,
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
from .hosted import HostedProvider, broken_page

log = logging.getLogger(__name__)
CREATE_PATH = "/v2/create-web-call"
LIST_PATH = "/v2/list-calls"
CALL_PATH = "/v2/get-call/{call_id}"
LIST_LIMIT = 100  # calls per page; a shorter page is the last
# Its list filters that take one value from us (each is a list in Retell's filter_criteria).
LIST_FILTERS = frozenset({"call_status", "call_type", "direction", "disconnection_reason"})
_STATUSES: dict[str, CallStatus] = {
    "registered": "created", "ongoing": "in_progress", "ended": "completed", "error": "failed",
    "not_connected": "no_answer",
}  # fmt: skip
LIVEKIT_URL = "wss://retell-ai-4ihahnq7.livekit.cloud"  # where Retell's browser SDK connects
JOIN_WITHIN_S = 30  # Retell invalidates a web call's token this long after creating it
LIVEKIT_TRANSPORT = "livekit"
COST_CURRENCY = "USD"  # Retell bills in US dollars; its call_cost counts cents


class RetellSettings(ProviderSettings):
    """``RETELL_API_KEY`` (a Bearer token), where the API lives and where its calls' rooms are."""

    api_key: SecretStr | None = credential("RETELL_API_KEY")
    # What checks Retell's webhooks (X-Retell-Signature): the API key with Retell's webhook badge,
    # when that is not RETELL_API_KEY itself.
    webhook_key: SecretStr | None = Field(None, validation_alias="RETELL_WEBHOOK_KEY")
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


def parse_web_call(
    answer: Any, livekit_url: str, *, now: datetime | None = None, configured: bool = False
) -> WebCall:
    """The call from a v2 answer (no URL: Retell's host) or a newer one naming its transport.

    A ``configured`` URL (``RETELL_LIVEKIT_URL`` set) overrides the answer's own.

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
    named = transport == LIVEKIT_TRANSPORT and call.get("url") is not None and not configured
    url = require_livekit_url(call.get("url") if named else livekit_url)
    call_id, token = require_str(call.get("call_id")), require_token(call.get("access_token"))
    completed = complete_from_token(WebCall(call_id=call_id, livekit_url=url, token=token), now=now)
    deadline = (now or datetime.now(UTC)).replace(microsecond=0) + timedelta(seconds=JOIN_WITHIN_S)  # whole s
    if completed.expires_at is None or completed.expires_at > deadline:
        completed = dataclasses.replace(completed, expires_at=deadline)
    return completed


def build_list_body(query: HistoryQuery, cursor: str | None) -> dict[str, Any]:
    """``list-calls``' body: the agent and the start-time range as filter criteria, newest first."""
    unknown = sorted(set(query.filters) - LIST_FILTERS)
    if unknown:
        raise ValueError(f"Retell's call list has no filter {', '.join(unknown)}")
    criteria: dict[str, Any] = {name: [value] for name, value in sorted(query.filters.items())}
    if query.agent_id:
        criteria["agent_id"] = [query.agent_id]
    window = {"lower_threshold": _epoch_ms(query.since), "upper_threshold": _epoch_ms(query.until)}
    window = {name: value for name, value in window.items() if value is not None}
    if window:
        criteria["start_timestamp"] = window
    body: dict[str, Any] = {"sort_order": "descending", "limit": LIST_LIMIT}
    if criteria:
        body["filter_criteria"] = criteria
    if cursor:
        body["pagination_key"] = cursor
    return body


def _epoch_ms(moment: datetime | None) -> int | None:
    """Milliseconds since the epoch, as Retell's timestamps are."""
    return round(moment.timestamp() * 1000) if moment is not None else None


def parse_call(answer: Any) -> ProviderCall:
    """A call object: ``call_id``, ``call_status``, epoch-ms ``start_timestamp``/``end_timestamp``, …"""
    call = first_dict(answer)
    raw_status = optional_str(call.get("call_status"))
    started_at, ended_at = parse_time(call.get("start_timestamp")), parse_time(call.get("end_timestamp"))
    duration_ms = optional_number(call.get("duration_ms"))
    if duration_ms is None and started_at and ended_at:
        duration_ms = (ended_at - started_at).total_seconds() * 1000
    call_type = call.get("call_type")
    status = retell_status(raw_status)
    analysis = first_dict(call.get("call_analysis"))
    transcript = call.get("transcript_object")
    cents = optional_number(first_dict(call.get("call_cost")).get("combined_cost"))
    return ProviderCall(
        call_id=require_str(call.get("call_id")),
        agent_id=optional_str(call.get("agent_id")),
        status=status,
        provider_status=raw_status,
        channel="web" if call_type == "web_call" else "phone" if call_type == "phone_call" else None,
        started_at=started_at,
        ended_at=ended_at,
        duration_s=duration_ms / 1000 if duration_ms is not None else None,
        # To a millionth of a cent, as the call log keeps its totals (4.83 / 100 is not 0.0483).
        cost=round(cents / 100, 8) if cents is not None else None,
        cost_currency=COST_CURRENCY if cents is not None else None,
        summary=optional_str(analysis.get("call_summary")),
        recording_url=optional_str(call.get("recording_url")),
        transcript=parse_transcript(transcript) if isinstance(transcript, list) else None,
        # Retell analyses every call once it has ended, connected or not (then sends
        # call_analyzed): ended without its analysis, it is read again for its summary.
        settled=not (status in FINAL_STATUSES and not analysis),
    )


def retell_status(value: str | None) -> CallStatus | None:
    """Retell's ``call_status`` in our words (``unknown`` for a word we have not seen)."""
    if value is None:
        return None
    return _STATUSES.get(value.strip().lower(), "unknown")


def parse_transcript(items: list[Any]) -> tuple[TranscriptLine, ...]:
    """``transcript_object``: ``[{role: "agent" | "user", content, words}]``."""
    lines = []
    for item in items:
        entry = first_dict(item)
        role, text = entry.get("role"), entry.get("content")
        if role in ("agent", "user") and isinstance(text, str) and text.strip():
            lines.append(TranscriptLine(role=role, text=text.strip()))
    return tuple(lines)


def parse_call_list(answer: Any) -> CallPage:
    """``list-calls``' answer, a JSON array; a full page means more may follow after its last call."""
    if not isinstance(answer, list):
        raise ProviderBadResponse()
    calls, skipped = [], 0
    for entry in answer:
        try:
            calls.append(parse_call(entry))
        except ProviderBadResponse:
            skipped += 1
    last_id = first_dict(answer[-1]).get("call_id") if answer else None
    more = len(answer) >= LIST_LIMIT and isinstance(last_id, str)
    return CallPage(calls=tuple(calls), next_cursor=last_id if more else None, skipped=skipped)


class RetellProvider(HostedProvider):
    """Creates Retell web calls."""

    name = "retell"

    def __init__(self, settings: RetellSettings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        self.livekit_url = settings.livekit_url
        self.livekit_url_configured = "livekit_url" in settings.model_fields_set  # RETELL_LIVEKIT_URL
        self.headers = {"Authorization": f"Bearer {secret(settings.api_key)}"}

    def livekit_url_before_call(self) -> str:
        """Every Retell web call is on the same LiveKit host: the page can warm it up."""
        return self.livekit_url

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Create the call; Retell has no idempotency key, so only unsent requests are retried."""
        answer = self.transport.post_json(
            self.base_url + CREATE_PATH, headers=self.headers, body=build_web_call(request)
        )
        return parse_web_call(answer, self.livekit_url, configured=self.livekit_url_configured)

    def check_access(self) -> None:
        """A harmless read with our key: the newest call (raises when the key or the API fails)."""
        newest = {"sort_order": "descending", "limit": 1}
        url = self.base_url + LIST_PATH
        self.transport.post_json(url, headers=self.headers, body=newest, idempotent=True, operation="check")

    def list_calls(self, query: HistoryQuery, cursor: str | None = None) -> CallPage:
        """One page of calls after ``cursor`` (a call id); a broken page ends the listing.

        A read, so safe to repeat, though Retell makes it a POST.
        """
        body = build_list_body(query, cursor)
        try:
            answer = self.history.post_json(
                self.base_url + LIST_PATH, headers=self.headers, body=body, idempotent=True, operation="get"
            )
            return parse_call_list(answer)
        except ProviderError as error:
            return broken_page(error, next_cursor=None)  # the next cursor was in the page we lost

    def get_call(self, call_id: str) -> ProviderCall:
        """One call, as it is now."""
        url = self.base_url + CALL_PATH.format(call_id=quote(call_id, safe=""))
        return parse_call(self.history.get_json(url, headers=self.headers))


PROVIDER = ProviderSpec(
    name="retell",
    title="Retell AI",
    settings=RetellSettings,
    adapter=RetellProvider,
    agent_id_pattern=r"[A-Za-z0-9_-]{1,128}",
    agent_id_hint="a Retell agent id is the agent's id from the Retell dashboard (letters, digits, '_')",
    reads_typed_messages=False,  # its agent reads nothing from the page: no chat
)
