"""Placing a web call: the guards every call passes, the provider's answer, and ours to the page.

Endpoints (``POST /api/calls`` today, LiveKit's token endpoint tomorrow) turn their request
into a :class:`CallOrder` and call :func:`place_web_call`, so every way in is guarded alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, g, request, url_for

from ..catalogue import Agent, CallMode
from ..errors import (
    AppError,
    BotCheckRequired,
    CallLogUnavailable,
    UnknownAgent,
    UnknownCall,
    WebCallsDisabled,
)
from ..guards.botcheck import one_call_per_token
from ..guards.idempotency import fingerprint, once_per_key, scoped_key
from ..guards.limits import PROVIDER_ASKED, check_client_limit, client_ip, spend_call
from ..guards.origin import check_origin, request_origin
from ..history.store import CallAttempt, CallLogError, CallRecord, client_reference
from ..metrics import CALLS, CREATES_IN_PROGRESS
from ..pages.demo_links import DemoLink, call_taken, signed_link, usable_demo_link
from ..providers import AGENT_KEY, Channel, ProviderSpec, WebCall, WebCallRequest
from ..state import AppState, app_state
from ..tracing import current_request_id
from .models import Call, LiveKitAccess

log = logging.getLogger(__name__)
RECORDED = "webcall_recorded"  # on flask.g: this request's outcome is in the call log already
AGENT = "webcall_agent"  # on flask.g: the agent the request named, once it was found


@dataclass(frozen=True)
class CallOrder:
    """One request for a web call, whichever endpoint it came through (validated already)."""

    agent: Agent
    client: str  # the caller's address (after trusted proxies)
    origin: str | None = None  # the page's origin, for the call log
    mode: CallMode = "voice"  # one the agent takes (checked by the endpoint)
    idempotency_key: str | None = None  # the page's own, unscoped
    bot_token: str | None = None
    demo_token: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)  # as the page sent them
    metadata: Mapping[str, Any] = field(default_factory=dict)
    participant_name: str | None = None
    token_ttl_s: int | None = None  # a shorter life for a token we mint (see WebCallRequest)


def place_web_call(state: AppState, order: CallOrder) -> dict[str, Any]:
    """Run the guards, then create the call once per idempotency key; the page's answer.

    Every outcome is in the call log before the answer leaves: the created call (once, even
    when a retry replays its answer) or the error code that refused it.
    """
    agent = order.agent
    check_origin(agent)  # refused before it is a call: recorded by record_refusals' hook
    if not agent.takes_web_calls:
        raise WebCallsDisabled()
    link = signed_link(state.settings.secret_key, order.demo_token)
    named = demo_link_of(agent, link)
    attempt = CallAttempt(
        agent=agent.slug,
        provider=agent.provider,
        provider_agent_id=agent.agent_id,
        origin=order.origin,
        client_ref=client_reference(state.settings.storage_key, order.client),
        request_id=current_request_id(),
        demo_link_id=named.link_id if named else None,
        demo_link_label=named.name if named else None,
    )
    with CREATES_IN_PROGRESS.labels("web").track_inprogress():
        try:
            return _guard_and_create(state, order, attempt, link)
        except AppError as error:
            record_refusal(state, attempt, error.code)
            raise


def _guard_and_create(
    state: AppState, order: CallOrder, attempt: CallAttempt, signed: DemoLink | None
) -> dict[str, Any]:
    """Every guard in order, then the provider, once per idempotency key (``signed``: the demo
    link the request's token names, if we signed it)."""
    agent = order.agent
    key = scoped_key(agent.slug, order.client, order.idempotency_key) if order.idempotency_key else None
    checked = agent.checks_bots(state.bot_verifier is not None)
    if checked:
        if state.bot_verifier is None:  # required, and no Turnstile (start-up warned): never unchecked
            raise BotCheckRequired()
        state.bot_verifier.verify(order.bot_token, order.client, key)
    link = usable_demo_link(state, agent.slug, signed) if order.demo_token else None
    variables = call_variables(agent, order.variables, link)
    # The token's life too: a key sent to /api/calls and then to /api/token asks for two calls.
    what = (order.mode, order.variables, order.metadata, order.participant_name, order.demo_token)
    asked = fingerprint(*what, order.token_ttl_s) if key else ""

    def create() -> dict[str, Any]:
        # Not on a replay: a checked token creates one call, however long Turnstile accepts it;
        # a link's calls, like the limits below, are not a replay's.
        with call_taken(state, link):
            check_client_limit(agent, order.client)  # here: a retry replayed is not counted again
            with one_call_per_token(state.limits, order.bot_token if checked else None, key):
                provider_limit = state.settings.providers[agent.provider].creates_per_minute()
                spend_call(agent, state.settings, provider_limit)
                # The provider's key is this request's (Convoi replays one for a day, past our window).
                return start_web_call(state, order, variables, key and f"{key}|{asked}", attempt)

    # Our replay ends with the call's token, unless the provider replays it to the key anyway.
    token_bound = not state.spec_for(agent).replays_key
    return once_per_key(state.replay, key, create, asked, token_bound=token_bound)


def demo_link_of(agent: Agent, link: DemoLink | None) -> DemoLink | None:
    """The demo link a request came through, for the call log: expired too (a prospect trying a
    link too late is worth knowing), but none that is not ours (``signed_link`` gives None) or
    not this agent's (the guards refuse those, and a forged label must not name a call)."""
    return link if link is not None and link.agent == agent.slug else None


def call_variables(agent: Agent, page_variables: Mapping[str, str], link: DemoLink | None) -> dict[str, str]:
    """The agent's defaults, then the page's allowed variables, then a signed demo link's."""
    variables = {**agent.variables}
    variables.update({k: v for k, v in page_variables.items() if k in agent.allowed_variables})
    if link is not None:
        variables.update(link.variables)  # the operator signed them, so all are allowed
    return variables


def call_metadata(spec: ProviderSpec, agent: Agent, page_metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The page's metadata as far as the provider takes it: all of it where it has a field of its
    own; where it travels with the prompt variables, only the names the agent lets a page set (a
    page must not set a variable through it); none where the provider has nowhere to put it."""
    if spec.page_metadata == "own":
        return dict(page_metadata)
    if spec.page_metadata == "variables":
        return {k: v for k, v in page_metadata.items() if k in agent.allowed_variables}
    return {}


def start_web_call(
    state: AppState, order: CallOrder, variables: dict[str, str], key: str | None, attempt: CallAttempt
) -> dict[str, Any]:
    """Ask the agent's provider for the call; record and log it (without secrets)."""
    agent = order.agent
    metadata = call_metadata(state.spec_for(agent), agent, order.metadata)
    call_request = WebCallRequest(
        agent=agent,
        variables=variables,
        metadata={**metadata, AGENT_KEY: agent.slug},
        participant_name=order.participant_name,
        idempotency_key=key,
        mode=order.mode,
        token_ttl_s=order.token_ttl_s,
    )
    started = time.monotonic()
    setattr(g, PROVIDER_ASKED, True)  # from here the all-clients ceiling keeps its count
    call = state.provider_for(agent).create_web_call(call_request)  # type: ignore[attr-defined]
    elapsed_ms = round((time.monotonic() - started) * 1000)
    CALLS.labels(agent.slug, agent.provider, "web", "created", "").inc()
    g.setdefault(RECORDED, True)
    try:
        record = state.history.record_created(attempt, call.call_id, call.room)
    except CallLogError as problem:
        # The call exists and the caller is waiting: a call log outage must not cost them the call.
        record = "-"
        log.error("call log: could not record a call", extra={"call_id": call.call_id, "agent": agent.slug,
                                                              "problem": str(problem)})  # fmt: skip
    log.info(
        "call created",
        extra={"agent": agent.slug, "provider": agent.provider, "call_id": call.call_id, "room": call.room,
               "record": record, "mode": order.mode, "provider_ms": elapsed_ms},
    )  # fmt: skip
    ignored = sorted(set(order.variables) - agent.allowed_variables)
    # Our id for the call is the caller's key to rate it: only they have it (the provider's
    # id is on its dashboard and in its webhooks).
    asks = agent.feedback and record != "-"
    feedback_url = url_for("feedback.give_feedback", call_id=record) if asks else None
    return call_answer(agent, call, ignored, feedback_url, sorted(set(order.metadata) - set(metadata)))


def our_call(state: AppState, call_id: str, channel: Channel) -> CallRecord:
    """A call made here on ``channel``, by our id only (the caller's key to it: the provider's
    id is on its dashboard and in its webhooks): ``UnknownCall`` for any other, and while the log
    cannot be read (only it can say a call is ours), ``CallLogUnavailable`` with ``Retry-After``."""
    try:
        record = state.history.find(call_id, ours_only=True)
    except CallLogError as error:
        raise CallLogUnavailable(retry_after_s=5) from error
    if record is None or record.channel != channel or record.outcome != "created":
        raise UnknownCall()
    return record


def call_answer(
    agent: Agent,
    call: WebCall,
    ignored: list[str],
    feedback_url: str | None = None,
    ignored_metadata: list[str] | None = None,
) -> dict[str, Any]:
    """The public answer: never the provider's body, only what the browser needs."""
    answer = Call(
        call_id=call.call_id,
        agent=agent.slug,
        provider=agent.provider,
        room=call.room,
        identity=call.identity,
        expires_at=call.expires_at.isoformat().replace("+00:00", "Z") if call.expires_at else None,
        max_call_s=agent.max_call_s,
        livekit=LiveKitAccess(url=call.livekit_url, token=call.token),
        ignored_variables=ignored or None,
        ignored_metadata=ignored_metadata or None,
        protocol=dict(call.protocol) or None,
        feedback_url=feedback_url,
    )
    optional = ("ignored_variables", "ignored_metadata", "protocol", "feedback_url")
    absent = {name for name in optional if getattr(answer, name) is None}
    return answer.model_dump(exclude_none=False, exclude=absent)


def record_refusal(state: AppState, attempt: CallAttempt, code: str) -> None:
    """Count, log and record a request for a call that ended in error ``code`` (a phone
    number only ever masked); the request is then on record, see :func:`record_refusals`."""
    g.setdefault(RECORDED, True)
    CALLS.labels(attempt.agent, attempt.provider, attempt.channel, "failed", code).inc()
    fields = {"agent": attempt.agent, "provider": attempt.provider, "channel": attempt.channel, "code": code}
    number = {"number": attempt.phone_number} if attempt.phone_number else {}  # masked
    log.warning("call refused", extra={**fields, **number})
    try:
        state.history.record_failed(attempt, code)
    except CallLogError as problem:
        log.error("call log: could not record a refusal", extra={**fields, "problem": str(problem)})


def record_refusals(bp: Blueprint, channel: Channel) -> None:
    """Every POST to ``bp`` (an endpoint that places calls) is on record: one refused before
    the service could record it too (its origin, a rate limit, its body, an unknown agent),
    with the agent when it named a known one."""

    @bp.after_request
    def record(response: Response) -> Response:
        if request.method == "POST" and response.status_code >= 400 and not g.get(RECORDED):
            _record_unrecorded(app_state(), response, channel)
        return response


def _record_unrecorded(state: AppState, response: Response, channel: Channel) -> None:
    """Record a refusal from the answer alone: its error code, and the agent if one was found."""
    body = response.get_json(silent=True)
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    if not isinstance(code, str):
        code = f"http_{response.status_code}"
    agent: Agent | None = g.get(AGENT)
    if agent is None and code != UnknownAgent.code and len(state.settings.agents) == 1:
        agent = next(iter(state.settings.agents.values()))  # the only one: the call was for it
    attempt = CallAttempt(
        agent=agent.slug if agent else "",
        provider=agent.provider if agent else "",
        provider_agent_id=agent.agent_id if agent else None,
        origin=request_origin(),
        client_ref=client_reference(state.settings.storage_key, client_ip()),
        request_id=current_request_id(),
        channel=channel,
    )
    record_refusal(state, attempt, code)
