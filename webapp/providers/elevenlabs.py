"""ElevenLabs Agents: a conversation token from ``GET /v1/convai/conversation/token``.

The token is a LiveKit participant token for ElevenLabs' LiveKit host (or the host of the
agent's data-residency ``region``). ElevenLabs takes no prompt variables with the token:
the page sends them itself, in the ``conversation_initiation_client_data`` message it must
send first, so the answer carries that message as ``protocol.initiation``.

History: ``GET /v1/convai/conversations?agent_id=&call_start_after_unix=&cursor=`` (newest
first; the time range is asked for in whole seconds and cut exactly from what it returns) and
``GET /v1/convai/conversations/{id}`` (the transcript), both on the host of the agent's
region; times are in Unix seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import Field, SecretStr

from ..errors import ProviderBadResponse, ProviderError
from .base import (
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
    from_unix,
    optional_number,
    optional_str,
    require_str,
    require_token,
    secret,
    shifted,
)
from .hosted import HostedProvider, broken_page
from .transport import is_outage

log = logging.getLogger(__name__)
TOKEN_PATH = "/v1/convai/conversation/token"
LIST_PATH = "/v1/convai/conversations"
CONVERSATION_PATH = "/v1/convai/conversations/{conversation_id}"
LIST_LIMIT = 100  # conversations per page; has_more (not the page's length) says whether more follow
_STATUSES: dict[str, CallStatus] = {
    "initiated": "created", "in-progress": "in_progress", "processing": "completed", "done": "completed",
    "failed": "failed",
}  # fmt: skip
ANALYSING = "processing"  # ended, its analysis (the summary among it) still being made
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
    # The HMAC secret ElevenLabs gave the workspace's post-call webhook (unset: no webhook endpoint).
    webhook_secret: SecretStr | None = Field(None, validation_alias="ELEVENLABS_WEBHOOK_SECRET")
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
    """The first message the page sends: the call's variables as ``dynamic_variables``, and for a
    chat (``mode`` text) the override that makes the conversation text only, as ElevenLabs' own
    client sends it for ``textOnly`` (without it the agent talks, unheard, at voice rates)."""
    message: dict[str, Any] = {"type": INITIATION}
    if request.variables:
        message["dynamic_variables"] = dict(request.variables)
    if request.mode == "text":
        message["conversation_config_override"] = {"conversation": {"text_only": True}}
    return message


def parse_token(answer: Any, request: WebCallRequest, livekit_url: str) -> WebCall:
    """The call from ``{"token"}``: room, identity and expiry from the token; the id from the room."""
    token = require_token(first_dict(answer).get("token"))
    protocol = {"initiation": initiation(request)}
    call = complete_from_token(WebCall(call_id="", livekit_url=livekit_url, token=token, protocol=protocol))
    if not call.room:
        log.error("elevenlabs answered a token without a room")
        raise ProviderBadResponse()
    found = CONVERSATION_ID.search(call.room)
    if not found:  # the call still goes ahead; its history will not find it by this id
        log.warning("elevenlabs answered a room that names no conversation (conv_…): its name is the id")
    return dataclasses.replace(call, call_id=require_str(found.group(0) if found else call.room))


def list_params(query: HistoryQuery, cursor: str | None) -> dict[str, str]:
    """The list's query: the agent, the time range (Unix seconds, a little wide), the cursor and
    the summaries."""
    if query.filters:
        raise ValueError(f"ElevenLabs' conversation list has no filter {', '.join(sorted(query.filters))}")
    # Each conversation's summary too (left out unless asked): the list may be all that is read.
    params = {"page_size": str(LIST_LIMIT), "summary_mode": "include"}
    if query.agent_id:
        params["agent_id"] = query.agent_id
    # Whole seconds, widened by one each way (whether "after" and "before" include the second
    # itself is not documented): parse_conversation_list cuts the range exactly.
    if query.since:
        params["call_start_after_unix"] = str(math.floor(query.since.timestamp()) - 1)
    if query.until:
        params["call_start_before_unix"] = str(math.ceil(query.until.timestamp()) + 1)
    if cursor:
        params["cursor"] = cursor
    return params


def parse_conversation(answer: Any) -> ProviderCall:
    """A conversation, from the list (times at the top) or in full (``metadata``, ``transcript``)."""
    conversation = first_dict(answer)
    metadata = first_dict(conversation.get("metadata"))
    started_at = _unix_time(conversation.get("start_time_unix_secs", metadata.get("start_time_unix_secs")))
    duration_s = optional_number(conversation.get("call_duration_secs", metadata.get("call_duration_secs")))
    raw_status = optional_str(conversation.get("status"))
    status = elevenlabs_status(raw_status)
    transcript = conversation.get("transcript")
    # The list's own field, or the analysis of a conversation read in full.
    summary = conversation.get("transcript_summary") or first_dict(conversation.get("analysis")).get(
        "transcript_summary"
    )
    ended_at = shifted(started_at, duration_s) if status == "completed" else None
    # A telephony conversation has a direction (in the list) and its phone call (in full): the
    # others are in the browser.
    phone = conversation.get("direction") in ("inbound", "outbound") or bool(metadata.get("phone_call"))
    return ProviderCall(
        call_id=require_str(conversation.get("conversation_id")),
        agent_id=optional_str(conversation.get("agent_id")),
        status=status,
        provider_status=raw_status,
        channel="phone" if phone else "web",
        started_at=started_at,
        ended_at=ended_at,
        duration_s=duration_s,
        summary=optional_str(summary),
        transcript=parse_transcript(transcript, started_at) if isinstance(transcript, list) else None,
        settled=raw_status != ANALYSING,  # its summary still to come: read again
    )


def _unix_time(value: object) -> datetime | None:
    """A moment from Unix seconds."""
    seconds = optional_number(value)
    return None if seconds is None else from_unix(seconds)


def elevenlabs_status(value: str | None) -> CallStatus | None:
    """A conversation's ``status`` in our words (``unknown`` for a word we have not seen)."""
    if value is None:
        return None
    return _STATUSES.get(value.strip().lower(), "unknown")


def parse_transcript(items: list[Any], started_at: datetime | None) -> tuple[TranscriptLine, ...]:
    """``transcript``: ``[{role: "agent" | "user", message, time_in_call_secs}]``."""
    lines = []
    for item in items:
        entry = first_dict(item)
        role, text = entry.get("role"), entry.get("message")
        if role not in ("agent", "user") or not isinstance(text, str) or not text.strip():
            continue  # tool calls and the like carry no words
        offset = optional_number(entry.get("time_in_call_secs"))
        lines.append(TranscriptLine(role=role, text=text.strip(), at=shifted(started_at, offset)))
    return tuple(lines)


def parse_conversation_list(answer: Any, query: HistoryQuery) -> CallPage:
    """``{conversations: [...], has_more, next_cursor}``, cut to the query's time range.

    The list is newest first: once a conversation started before ``query.since``, so did
    every one after it, and paging stops.
    """
    outer = first_dict(answer)
    entries = outer.get("conversations")
    if not isinstance(entries, list):
        raise ProviderBadResponse()
    calls, skipped, reached_since = [], 0, False
    for entry in entries:
        try:
            call = parse_conversation(entry)
        except ProviderBadResponse:
            skipped += 1
            continue
        if query.since and call.started_at and call.started_at < query.since:
            reached_since = True
        elif not (query.until and call.started_at and call.started_at >= query.until):
            calls.append(call)
    cursor = optional_str(outer.get("next_cursor"))
    more = outer.get("has_more") is True and cursor is not None and not reached_since
    return CallPage(calls=tuple(calls), next_cursor=cursor if more else None, skipped=skipped)


class ElevenLabsProvider(HostedProvider):
    """Gets ElevenLabs conversation tokens, in each agent's region."""

    name = "elevenlabs"

    def __init__(self, settings: ElevenLabsSettings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        self.region_settings = settings
        self.base_url = hosts(None, settings)[0]
        self.headers = {"xi-api-key": secret(settings.api_key)}
        # A circuit per API host: each region is served apart, and one region's outage must not make
        # the others' calls fail fast. ``transport`` stays the global host's (/readyz reports it,
        # as ``is_reachable`` probes that host); overridden hosts (tests) are one host, one circuit.
        self.transports = {self.base_url: self.transport}
        self.histories = {self.base_url: self.history}
        for region in HOSTS:
            api_host = hosts(region, settings)[0]
            if api_host not in self.transports:
                self.transports[api_host] = self.new_transport(context)
                self.histories[api_host] = self.new_transport(context)

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Ask for a token (a GET: repeating it is safe, and nothing exists until the page joins)."""
        api_host, livekit_host = hosts(request.agent.region, self.region_settings)
        url = api_host + TOKEN_PATH
        transport = self.transports[api_host]
        query = token_query(request)
        answer = transport.get_json(url, headers=self.headers, params=query, operation="create_call")
        return parse_token(answer, request, livekit_host)

    def check_access(self) -> None:
        """A harmless read with our key: the newest conversation (raises when the key or the API fails)."""
        url = self.base_url + LIST_PATH
        self.transport.get_json(url, headers=self.headers, params={"page_size": "1"}, operation="check")

    def list_calls(self, query: HistoryQuery, cursor: str | None = None) -> CallPage:
        """One page of the agent's conversations, from its region's host; a broken page ends the listing."""
        api_host = hosts(query.region, self.region_settings)[0]
        params = list_params(query, cursor)
        try:
            history = self.histories[api_host]
            answer = history.get_json(api_host + LIST_PATH, headers=self.headers, params=params)
            return parse_conversation_list(answer, query)
        except ProviderError as error:
            return broken_page(error, next_cursor=None)  # the next cursor was in the page we lost

    def get_call(self, call_id: str) -> ProviderCall:
        """One conversation in full. Its id names no region, so each region's host is asked in turn
        (``get_call`` is given the id alone, not the agent); a host that is down is stepped over."""
        path = CONVERSATION_PATH.format(conversation_id=quote(call_id, safe=""))
        failures: list[ProviderError] = []
        for api_host, history in self.histories.items():
            try:
                # Not in this region: a 404 is the answer expected of every region but one (logged
                # as information, not as a provider's refusal).
                answer = history.get_json(api_host + path, headers=self.headers, expected=404)
            except ProviderError as error:
                if not is_outage(error):
                    raise  # our key or a rate limit: every host would say the same
                failures.append(error)
                continue
            if answer is None:
                not_here = ProviderError()
                not_here.upstream_status = 404
                failures.append(not_here)
                continue
            return parse_conversation(answer)
        # Not found where hosts answered says nothing of one that did not: the outage is raised,
        # so the history sync asks again later instead of giving the call up.
        raise next((error for error in failures if is_outage(error)), failures[-1])


PROVIDER = ProviderSpec(
    name="elevenlabs",
    title="ElevenLabs Agents",
    settings=ElevenLabsSettings,
    adapter=ElevenLabsProvider,
    agent_id_pattern=r"[A-Za-z0-9_-]{1,128}",
    agent_id_hint="an ElevenLabs agent id is the id on the agent's page (like agent_01jz…)",
    regions=tuple(region for region in HOSTS if region is not None),
    page_metadata="nowhere",  # neither its token request nor the page's first message has a field for it
)
