"""Placing a phone callback, behind every guard of a web call and a few of its own.

Every such call costs money per minute and could be aimed at a premium number, so the
order is: the agent calls phones at all, the caller consented, the number is a line we may
dial in a country we may dial, the bot check, the limits (per client, then the agent's and
the number's, counted together or not at all), and only then the provider. Every outcome
is in the call log, with the number masked; the whole number goes to the provider and
nowhere else.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import g

from ..calls.service import RECORDED, call_variables, demo_link_of, our_call, record_refusal
from ..catalogue import Agent
from ..errors import (
    AppError,
    BotCheckRequired,
    ConsentRequired,
    PhoneCallsDisabled,
    ProviderError,
)
from ..guards.botcheck import one_call_per_token
from ..guards.idempotency import fingerprint, once_per_key, scoped_key
from ..guards.limits import (
    PROVIDER_ASKED,
    check_client_limit,
    destination_ref,
    may_read,
    refund_cooldown,
    spend_phone_call,
)
from ..guards.origin import check_origin
from ..history.store import CallAttempt, CallLogError, CallRecord, client_reference
from ..metrics import CALLS, CREATES_IN_PROGRESS
from ..pages.demo_links import DemoLink, call_taken, signed_link, usable_demo_link
from ..providers import AGENT_KEY, FINAL_STATUSES, PhoneCallRequest
from ..state import AppState
from ..tracing import current_request_id
from .models import PhoneCallAnswer, PhoneCallState, PhoneStatus
from .numbers import Destination, check_destination, parse_number

log = logging.getLogger(__name__)
STATUS_READ_SHARE = 2  # callbacks' status polls may spend 1/2 of a provider key's documented reads


@dataclass(frozen=True)
class PhoneOrder:
    """One request for a callback (validated already)."""

    agent: Agent
    client: str
    phone_number: object = field(repr=False)  # as the page sent it: parse_number judges it
    consent: bool
    country: str | None = None
    origin: str | None = None
    name: str | None = None
    idempotency_key: str | None = None
    bot_token: str | None = None
    demo_token: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)


def place_phone_call(state: AppState, order: PhoneOrder) -> dict[str, Any]:
    """Run every guard, then ask the provider to call the number; the page's answer (202)."""
    agent = order.agent
    check_origin(agent)
    if not agent.takes_phone_calls or agent.phone is None:
        raise PhoneCallsDisabled()
    link = signed_link(state.settings.secret_key, order.demo_token)
    named = demo_link_of(agent, link)
    attempt = CallAttempt(
        agent=agent.slug,
        provider=agent.provider,
        provider_agent_id=agent.phone.agent_id or agent.agent_id,
        origin=order.origin,
        client_ref=client_reference(state.settings.storage_key, order.client),
        request_id=current_request_id(),
        demo_link_id=named.link_id if named else None,
        demo_link_label=named.name if named else None,
        channel="phone",
    )
    attempts = [attempt]  # the last one is recorded: with the masked number once it parsed
    with CREATES_IN_PROGRESS.labels("phone").track_inprogress():
        try:
            return _guard_and_call(state, order, attempts, link)
        except AppError as error:
            record_refusal(state, attempts[-1], error.code)
            raise


def _guard_and_call(
    state: AppState, order: PhoneOrder, attempts: list[CallAttempt], signed: DemoLink | None
) -> dict[str, Any]:
    """The guards in order, then the provider once per idempotency key (``signed``: the demo link
    the request's token names, if we signed it)."""
    agent = order.agent
    phone = agent.phone
    assert phone is not None
    if not order.consent:
        raise ConsentRequired()
    # A national number needs its country: the page's, or the agent's only one.
    only_country = phone.allowed_countries[0] if len(phone.allowed_countries) == 1 else None
    destination, kind = parse_number(order.phone_number, order.country or only_country)
    attempt = dataclasses.replace(attempts[-1], phone_number=destination.masked)
    attempts.append(attempt)  # from here on a refusal is recorded with the number, masked
    check_destination(destination, kind, frozenset(phone.allowed_countries))
    # A key of its own: the same Idempotency-Key on a web call is another request, not this one.
    key = None
    if order.idempotency_key:
        key = scoped_key(f"{agent.slug}|phone", order.client, order.idempotency_key)
    number_ref = destination_ref(state.settings.storage_key, destination.e164)
    if agent.phone_checks_bots:
        if state.bot_verifier is None:  # no Turnstile (start-up warned): never dial unchecked
            raise BotCheckRequired()  # a token from elsewhere is none we can check
        state.bot_verifier.verify(order.bot_token, order.client, key and f"{key}|{number_ref}")
    link = usable_demo_link(state, agent.slug, signed) if order.demo_token else None
    variables = call_variables(agent, order.variables, link)
    asked = fingerprint(number_ref, order.name, order.variables, order.demo_token) if key else ""

    def create() -> dict[str, Any]:
        # The agent's limits and the number's, all or nothing: a call one of them refuses takes
        # nothing of the others (hammering a number in its cooldown leaves the agent's budget).
        provider_limit = state.settings.providers[agent.provider].creates_per_minute()
        # Not on a replay: a checked token dials once with its key, however long Turnstile takes it.
        checked_token = order.bot_token if agent.phone_checks_bots else None
        with call_taken(state, link):  # a link's calls, like the limits below, are not a replay's
            check_client_limit(agent, order.client)  # here: a retry replayed is not counted again
            with one_call_per_token(state.limits, checked_token, key and f"{key}|{number_ref}"):
                spend_phone_call(agent, state.settings, provider_limit, number_ref)
                try:
                    # The provider's key is this request's (Convoi replays one for a day, past our window).
                    return _call(state, order, destination, variables, key and f"{key}|{asked}", attempt)
                except ProviderError as error:
                    refused = error.upstream_status is not None and error.upstream_status < 500
                    if refused or error.never_sent:
                        # The provider refused the call in so many words, or never had the request (our
                        # circuit open, no connection): nothing was dialled, so the caller may try again
                        # now (the daily cap still counts the attempt).
                        refund_cooldown(agent, number_ref)
                    raise

    return once_per_key(state.replay, key, create, asked)


def _call(
    state: AppState,
    order: PhoneOrder,
    destination: Destination,
    variables: dict[str, str],
    key: str | None,
    attempt: CallAttempt,
) -> dict[str, Any]:
    """Ask the provider to call; record and log it with the number masked."""
    agent = order.agent
    request = PhoneCallRequest(
        agent=agent,
        to_number=destination.e164,
        masked_number=destination.masked,
        name=order.name,
        variables=variables,
        metadata={AGENT_KEY: agent.slug},
        idempotency_key=key,
    )
    setattr(g, PROVIDER_ASKED, True)  # from here the all-clients ceiling keeps its count
    call = state.provider_for(agent).create_phone_call(request)  # type: ignore[attr-defined]
    CALLS.labels(agent.slug, agent.provider, "phone", "created", "").inc()
    g.setdefault(RECORDED, True)
    try:
        call_id = state.history.record_created(attempt, call.call_id, None)
    except CallLogError as problem:
        call_id = call.call_id  # the call is placed: the caller still hears back, by the provider's id
        log.error(
            "call log: could not record a phone call", extra={"agent": agent.slug, "problem": str(problem)}
        )
    log.info(
        "phone call placed",
        extra={
            "agent": agent.slug,
            "provider": agent.provider,
            "call_id": call_id,
            "number": destination.masked,
        },
    )
    answer = PhoneCallAnswer(
        call_id=call_id,
        agent=agent.slug,
        provider=agent.provider,
        status="initiated",
        phone_number=destination.masked,
    )
    return answer.model_dump()


def phone_call_state(state: AppState, call_id: str) -> dict[str, Any]:
    """Where a callback is: the provider's word where it reports one, else what the log knows.

    Only the log can say a call is ours (and so whose number it dialled): while it cannot be
    read, a 503 with ``Retry-After``, as the admin API answers. Only our id (the 202's) finds
    it: the provider's is on its dashboard and in its webhooks, not a caller's to ask with.
    """
    record = _refreshed(state, our_call(state, call_id, "phone"))
    answer = PhoneCallState(
        call_id=record.call_id,
        agent=record.agent,
        provider=record.provider,
        status=_public_status(record.status),
        phone_number=record.phone_number,
        started_at=_iso(record.started_at),
        ended_at=_iso(record.ended_at),
        duration_s=record.duration_s,
    )
    return answer.model_dump()


def _refreshed(state: AppState, record: CallRecord) -> CallRecord:
    """The record updated from the provider's own status, when it has one and the call is live."""
    adapter = state.providers.get(record.provider)
    get_call = getattr(adapter, "get_call", None)
    if get_call is None or record.provider_call_id is None or record.status in FINAL_STATUSES:
        return record
    # Every waiting visitor polls (static/src/phone/): where the key's reads are limited, these
    # spend half of them at most (the rest are the history sync's), and past that the log answers.
    per_minute = state.settings.providers[record.provider].reads_per_minute()
    if per_minute and not may_read(state.limits, record.provider, per_minute // STATUS_READ_SHARE):
        return record
    try:
        call = get_call(record.provider_call_id)
        if call.call_id != record.provider_call_id:  # an answer about another call is none about this one
            log.warning(
                "phone call status: the provider answered about another call; kept what we know",
                extra={"call_id": record.call_id, "provider": record.provider},
            )
            return record
        state.history.upsert_provider_call(record.provider, call, detailed=True)
        return state.history.find(record.call_id) or record
    except (ProviderError, CallLogError) as problem:
        log.warning(
            "phone call status: kept what we know", extra={"call_id": record.call_id, "problem": str(problem)}
        )
        return record


def _public_status(status: str) -> PhoneStatus:
    """Our log's status in the API's words: a call the provider has but nobody answered yet is initiated."""
    if status in ("created", "failed", "in_progress", "completed", "no_answer", "busy", "voicemail"):
        return "initiated" if status == "created" else status  # type: ignore[return-value]
    return "unknown"


def _iso(moment: Any) -> str | None:
    """ISO 8601 in UTC with a ``Z``."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None
