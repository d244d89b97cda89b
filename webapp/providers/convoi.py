"""Convoi AI: ``POST /api/v1/public/calls`` with ``type: web`` and an ``Idempotency-Key``.

History (Convoi's "managing calls" page): ``GET /api/v1/public/calls?limit=&starting_after=``
(newest first, cursor paging) and ``GET /api/v1/public/calls/{id}``. The list has no agent or
time filter, so both are applied to what it returns, and paging stops at the first page that
reaches back before the time asked for.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

import orjson
from pydantic import Field, SecretStr

from ..errors import CallInProgress, ProviderBadResponse, ProviderError
from .base import (
    CallPage,
    CallStatus,
    HistoryQuery,
    HttpUrlText,
    PhoneCall,
    PhoneCallRequest,
    ProviderCall,
    ProviderSettings,
    ProviderSpec,
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

CALLS_PATH = "/api/v1/public/calls"
_KEY_NAMESPACE = uuid.UUID("0b5f0c55-7a4e-4d0c-9a51-3c6f1d0e9c11")
# Convoi answers 409 to a duplicate Idempotency-Key: ours differ for each body, so one still
# being served. To our own repeat (the first attempt timed out), the first attempt's: asked again
# until Convoi replays its answer (a phone already ringing is not refused); to a first attempt,
# another request's with the same key (another process).
IN_FLIGHT = 409
STATUS_ERRORS = {IN_FLIGHT: CallInProgress}
LIST_LIMIT = 100  # per page; has_more (not the page's length) says whether more follow
# "initiated → active → completed, or a terminal failure state; rejected after an API hang-up".
_STATUSES: dict[str, CallStatus] = {
    "initiated": "created", "queued": "created", "ringing": "created",
    "active": "in_progress", "in_progress": "in_progress",
    "completed": "completed", "rejected": "completed",
    "failed": "failed", "error": "failed", "canceled": "failed", "cancelled": "failed",
    "no_answer": "no_answer", "busy": "busy", "voicemail": "voicemail",
}  # fmt: skip


class ConvoiSettings(ProviderSettings):
    """A server key (``sk_live_…``: public ``pk_`` keys cannot place every call) and the API's home."""

    api_key: SecretStr | None = credential("CONVOI_API_KEY")
    base_url: HttpUrlText = base_url("CONVOI_BASE_URL", "https://go.convoi.ai/backend")
    # "Default limits: 20 writes/min ... per key", shared by every agent on the key; raise it
    # when Convoi raises yours. Our own limits stay under it, so we refuse before Convoi does.
    create_limit_per_minute: int = Field(20, validation_alias="CONVOI_CREATES_PER_MINUTE", ge=1)
    # "... and 60 reads/min per key": a waiting callback's status polls spend at most half of it.
    read_limit_per_minute: int = Field(60, validation_alias="CONVOI_READS_PER_MINUTE", ge=2)


def idempotency_key(scoped_key: str | None, body: dict[str, Any]) -> str:
    """The UUID Convoi wants, derived from our key (already scoped by agent and client) and the
    body it goes with, or new.

    Never the page's own value: two visitors sending the same key must not receive one call.
    The body is part of it because Convoi answers 409 to a key it has seen (for a day) with
    another body: an agent's greeting or prompt edited since would otherwise make a retry after
    our own replay window fail for good.
    """
    if scoped_key is None:
        return str(uuid.uuid4())
    sent = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{scoped_key}\n{sent}"))


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


def build_phone_call(request: PhoneCallRequest) -> dict[str, Any]:
    """``type: outbound_phone`` from one of our Convoi numbers, run by an agent or a workforce."""
    agent = request.agent
    phone = agent.phone
    runner = (phone.agent_id if phone and phone.agent_id else None) or agent.agent_id
    customer: dict[str, Any] = {"number": request.to_number}
    if request.name:
        customer["name"] = request.name
    body: dict[str, Any] = {
        "type": "outbound_phone",
        # A workforce id may go in agent_id too, but squad_id says so outright.
        **({"squad_id": runner} if runner.startswith("sqd_") else {"agent_id": runner}),
        "phone_number_id": phone.phone_number_id if phone else None,
        "customer": customer,
    }
    if agent.greeting and not runner.startswith("sqd_"):
        body["agent_overrides"] = {"first_message": agent.greeting}
    metadata = {**request.metadata, **request.variables}
    if metadata:
        body["metadata"] = metadata
    return body


def parse_phone_call(answer: Any) -> PhoneCall:
    """The call's id and status (``initiated`` at first)."""
    call = created_call(answer, "outbound_phone")
    provider_status = optional_str(call.get("status"))
    return PhoneCall(
        call_id=require_str(call.get("id")),
        status=convoi_status(provider_status) or "created",
        provider_status=provider_status,
    )


# An agent (agt_…) or, for phone calls only, a workforce (sqd_…): a web call with one is a 422.
# Convoi's own ids are hex after the prefix; letters, digits, '_' and '-' are taken (one word).
AGENT_ID_PATTERN = r"(agt|sqd)_[A-Za-z0-9_-]{1,128}"


def check_phone(agent_id: str, phone: Any) -> list[str]:
    """Convoi dials from one of our numbers (phn_…), with an agent (agt_…) or a workforce (sqd_…)."""
    problems = []
    if not phone.phone_number_id:
        problems.append("phone_number_id (a Convoi number, phn_…) is required for Convoi")
    runner = phone.agent_id or agent_id
    if not re.fullmatch(AGENT_ID_PATTERN, runner):
        problems.append("agent_id must be a Convoi agent (agt_…) or workforce (sqd_…) id")
    return problems


def parse_web_call(answer: Any) -> WebCall:
    """Read ``livekit.url``, ``livekit.token`` and ``livekit.participant_identity``."""
    call = created_call(answer, "web")
    livekit = first_dict(call.get("livekit"))
    return complete_from_token(
        WebCall(
            call_id=require_str(call.get("id")),
            livekit_url=require_livekit_url(livekit.get("url")),
            token=require_token(livekit.get("token")),
            room=optional_str(call.get("room_id")),
            identity=optional_str(livekit.get("participant_identity")),
        )
    )


def created_call(answer: Any, call_type: str) -> dict[str, Any]:
    """The call object a create answered with, if it is one (``object: "call"``) of the type
    asked for; as ``parse_call``, an answer that leaves either out is read as documented."""
    call = first_dict(answer)
    if call.get("object", "call") != "call" or call.get("type", call_type) != call_type:
        raise ProviderBadResponse()
    return call


def parse_call(answer: Any) -> ProviderCall:
    """A call object (``{id, object: "call", type, status, agent_id, squad_id, room_id, ...}``)."""
    call = first_dict(answer)
    if call.get("object", "call") != "call":
        raise ProviderBadResponse()
    raw_status = optional_str(call.get("status"))
    cost = first_dict(call.get("cost"))
    call_type = call.get("type")
    return ProviderCall(
        call_id=require_str(call.get("id")),
        agent_id=optional_str(call.get("agent_id")) or optional_str(call.get("squad_id")),
        status=convoi_status(raw_status),
        provider_status=raw_status,
        channel="web" if call_type == "web" else "phone" if isinstance(call_type, str) else None,
        room=optional_str(call.get("room_id")),
        created_at=parse_time(call.get("created_at")),
        started_at=parse_time(call.get("started_at")),
        ended_at=parse_time(call.get("ended_at")),
        duration_s=optional_number(call.get("duration_seconds")),
        cost=optional_number(cost.get("amount")),
        cost_currency=optional_str(cost.get("currency")),
        summary=optional_str(call.get("summary")),
        recording_url=optional_str(call.get("recording_url")),
    )


def convoi_status(value: str | None) -> CallStatus | None:
    """Convoi's status in our words (``unknown`` for a word we have not seen)."""
    if value is None:
        return None
    return _STATUSES.get(value.strip().lower().replace("-", "_"), "unknown")


def parse_call_list(answer: Any, query: HistoryQuery) -> CallPage:
    """``{object: "list", data: [...], has_more}``, cut to the query's agent and time range.

    The list is newest first: once a call is older than ``query.since``, so is every
    call after it, and paging stops.
    """
    outer = first_dict(answer)
    entries = outer.get("data")
    if outer.get("object", "list") != "list" or not isinstance(entries, list):
        raise ProviderBadResponse()
    calls, skipped, reached_since = [], 0, False
    for entry in entries:
        try:
            call = parse_call(entry)
        except ProviderBadResponse:
            skipped += 1
            continue
        moment = call.created_at or call.started_at
        if query.since and moment and moment < query.since:
            reached_since = True
            continue
        if query.until and moment and moment >= query.until:
            continue
        if query.agent_id is None or call.agent_id == query.agent_id:
            calls.append(call)
    last_id = first_dict(entries[-1]).get("id") if entries else None
    more = outer.get("has_more") is True and isinstance(last_id, str) and not reached_since
    # The list's entries are the call objects GET /calls/{id} answers: reading each one again
    # would only spend the key's 60 reads a minute.
    return CallPage(calls=tuple(calls), next_cursor=last_id if more else None, skipped=skipped, whole=True)


class ConvoiProvider(HostedProvider):
    """Creates Convoi web calls (the idempotency key makes retries safe) and reads its calls."""

    name = "convoi"
    filters_by_agent = False  # its list is the account's
    lasting_cursors = True  # starting_after is a call id

    def __init__(self, settings: ConvoiSettings, context: Any) -> None:
        super().__init__(settings, context)
        self.authorization = f"Bearer {secret(settings.api_key)}"

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Create the call, retrying transient failures under the same idempotency key."""
        return parse_web_call(self._create(build_web_call(request), request.idempotency_key))

    def create_phone_call(self, request: PhoneCallRequest) -> PhoneCall:
        """Place the call, retrying transient failures under the same idempotency key."""
        answer = self._create(
            build_phone_call(request),
            request.idempotency_key,
            operation="create_phone_call",
            redact=(request.to_number,),
        )
        return parse_phone_call(answer)

    def _create(self, body: dict[str, Any], scoped_key: str | None, **options: Any) -> Any:
        """POST a call to create (web or phone): safe to repeat under Convoi's Idempotency-Key."""
        headers = {"Authorization": self.authorization, "Idempotency-Key": idempotency_key(scoped_key, body)}
        return self.transport.post_json(
            self.base_url + CALLS_PATH,
            headers=headers,
            body=body,
            idempotent=True,
            status_errors=STATUS_ERRORS,
            in_flight=IN_FLIGHT,
            **options,
        )

    def check_access(self) -> None:
        """A harmless read with our key: the newest call (raises when the key or the API fails)."""
        headers = {"Authorization": self.authorization}
        self.transport.get_json(
            self.base_url + CALLS_PATH, headers=headers, params={"limit": 1}, operation="check"
        )

    def list_calls(self, query: HistoryQuery, cursor: str | None = None) -> CallPage:
        """One page of calls after ``cursor`` (a call id); a broken page ends the listing."""
        if query.filters:
            raise ValueError(f"Convoi's call list has no filter {', '.join(sorted(query.filters))}")
        params = {"limit": str(LIST_LIMIT)}
        if cursor:
            params["starting_after"] = cursor
        try:
            answer = self.history.get_json(
                self.base_url + CALLS_PATH, headers={"Authorization": self.authorization}, params=params
            )
            return parse_call_list(answer, query)
        except ProviderError as error:
            return broken_page(error, next_cursor=None)  # the cursor was in the page we lost

    def get_call(self, call_id: str) -> ProviderCall:
        """One call, as it is now."""
        answer = self.history.get_json(self._call_url(call_id), headers={"Authorization": self.authorization})
        return parse_call(answer)

    def end_call(self, call_id: str) -> ProviderCall | None:
        """Hang up a live call (``DELETE``; it becomes ``rejected``); the call as it is now, if told."""
        answer = self.transport.delete(self._call_url(call_id), headers={"Authorization": self.authorization})
        return parse_call(answer) if answer else None

    def _call_url(self, call_id: str) -> str:
        """The address of one call (``/api/v1/public/calls/{id}``)."""
        return f"{self.base_url}{CALLS_PATH}/{quote(call_id, safe='')}"


PROVIDER = ProviderSpec(
    name="convoi",
    title="Convoi AI",
    settings=ConvoiSettings,
    adapter=ConvoiProvider,
    agent_id_pattern=AGENT_ID_PATTERN,
    agent_id_hint="a Convoi agent id is 'agt_' (or 'sqd_' for a workforce, phone calls only) followed by "
    "letters, digits, '_' or '-'",
    web_agent_id_pattern=r"agt_[A-Za-z0-9_-]{1,128}",
    web_agent_id_hint="Convoi web calls need an agent id starting with 'agt_'",
    check_phone=check_phone,
    writes_summaries=False,  # its call object has none (a summary sent anyway is still kept)
    replays_key=True,
    page_metadata="variables",  # its agents read their prompt variables from the call's metadata
)
