"""Calls the providers report to us: Ravan's ``call.completed``, Retell's call events, ElevenLabs'
post-call transcriptions and LiveKit's room events.

``POST /webhooks/ravan/<token>``: the token (``WEBCALL_WEBHOOK_TOKEN``) is the only secret
Ravan's webhooks can carry (they document no signature), so it is compared in constant time
and never logged (``webapp.ops.logging`` masks it in every log line, gunicorn's access log
included). The body's ``org_id`` must be ours (``RAVAN_ORG_ID``). A delivery is applied once:
Ravan retries on any non-2xx, so a repeat answers 200 and changes nothing. Each refusal is a
clear 4xx that changes nothing; a call log outage is a 503, which Ravan will retry.

``POST /webhooks/retell``: Retell's ``call_started``, ``call_ended`` and ``call_analyzed``, each
``{event, call}``, signed as Retell signs (``X-Retell-Signature: v=<ms>,d=<hex>``, the HMAC-SHA256
of the raw body followed by those milliseconds, under the API key with Retell's webhook badge:
``RETELL_WEBHOOK_KEY``, else ``RETELL_API_KEY``), within 5 minutes of now. Each event is applied
once per call (Retell retries what is not answered 2xx within 10 s); other events, and calls the
log does not have (a Retell account's phone calls, say), answer 200 ``ignored``.

``POST /webhooks/elevenlabs``: ElevenLabs' post-call webhook, ``{type, event_timestamp, data}``,
signed as ElevenLabs signs (``ElevenLabs-Signature: t=<s>,v0=<hex>``, its parts in any order as
ElevenLabs' SDK reads them, the HMAC-SHA256 of
``<t>.<raw body>`` under ``ELEVENLABS_WEBHOOK_SECRET``, the secret ElevenLabs made with the
webhook), within 30 minutes of now. ``post_call_transcription`` (``data``: the conversation as
``GET /v1/convai/conversations/{id}`` reads it) ends the call with its transcript and summary,
once; other types, and conversations the log does not have, answer 200 ``ignored``.

``POST /webhooks/livekit``: what a self-hosted (or Cloud) LiveKit server reports of the livekit
provider's rooms, signed with our LiveKit key pair (a JWT in ``Authorization`` whose ``sha256``
claim is the body's hash; neither is ever logged). The caller joining starts the call, the
caller leaving ends it, and ``room_finished`` marks it completed; a caller who was in the room
but never connected (``participant_connection_aborted``) fails it. A call's room lives once:
``room_started`` for a room whose call has ended is a caller rejoining with the token LiveKit
refreshed (valid for minutes, the agent's dispatch in it: past the call's time limit and with
nothing counted), and the room is closed at once; that room's other events change nothing of the
ended call. Rooms not in the log and other events answer 200 ``ignored``: LiveKit retries any
other answer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from flask import Blueprint, Response, jsonify, request
from google.protobuf import json_format
from livekit import api
from livekit.protocol.models import ParticipantInfo, Room
from livekit.protocol.webhook import WebhookEvent

from ..errors import (
    AppError,
    CallLogUnavailable,
    InvalidWebhook,
    InvalidWebhookSignature,
    InvalidWebhookToken,
    NotFound,
    ProviderBadResponse,
    UnknownCallSession,
    WrongWebhookOrg,
)
from ..json_input import parse_json
from ..metrics import WEBHOOKS
from ..providers import CallStatus, ProviderCall
from ..providers.base import MAX_ID_CHARS, from_unix, secret
from ..providers.elevenlabs import parse_conversation
from ..providers.livekit import LiveKitProvider
from ..providers.ravan import parse_session
from ..providers.retell import parse_call as parse_retell_call
from ..settings import same_secret
from ..state import app_state
from .store import Applied, CallLogError, CallRecord

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024  # a long call's transcript is far bigger than a call request
CALL_COMPLETED = "call.completed"
# Every error the endpoint answers with.
RAISES = (
    InvalidWebhook,
    InvalidWebhookToken,
    WrongWebhookOrg,
    NotFound,
    UnknownCallSession,
    CallLogUnavailable,
)
ROOM_STARTED = "room_started"
ROOM_FINISHED = "room_finished"
CALLER_JOINED = "participant_joined"
CALLER_LEFT = "participant_left"
# In the room, never connected (its media never flowed: a firewall without TURN, say): LiveKit
# sends this instead of participant_left, and no participant_joined came before it.
CALLER_ABORTED = "participant_connection_aborted"
LIVEKIT_EVENTS = (ROOM_STARTED, CALLER_JOINED, CALLER_LEFT, CALLER_ABORTED, ROOM_FINISHED)
LIVEKIT_RAISES = (InvalidWebhook, InvalidWebhookSignature, NotFound, CallLogUnavailable)
# Retell's and ElevenLabs' events carry the whole call, Retell's with each word's timing.
SIGNED_MAX_BODY_BYTES = 4 * 1024 * 1024


SIGNED_TIME = re.compile(r"\d{1,15}")  # seconds or milliseconds since 1970
SIGNED_DIGEST = re.compile(r"[0-9a-fA-F]{64}")  # an HMAC-SHA256 in hex


@dataclass(frozen=True)
class SignedWebhook:
    """A provider's webhook signed with an HMAC-SHA256 in hex, of the body and a time, in a header:
    how it is signed, and where its event and call are."""

    provider: str
    keys: tuple[str, ...]  # the provider's settings that may hold the key, the first set one used
    header: str
    time_key: str  # the header's ``<key>=<time>`` part
    digest_key: str  # its ``<key>=<hex digest>`` part
    per_second: int  # the time's units in a second
    within_s: int  # how far from now a time may be (what the provider's own SDK accepts)
    message: Callable[[bytes, bytes], bytes]  # what is signed, of the raw body and the time
    kind: str  # the body's field naming the event
    carried: str  # the body's field holding the call
    id_field: str  # the call's id in it
    applied: frozenset[str]  # the events applied; others are acknowledged and ignored
    parse: Callable[[Any], ProviderCall]


RETELL = SignedWebhook(
    provider="retell",
    keys=("webhook_key", "api_key"),
    header="X-Retell-Signature",
    time_key="v",  # v=<ms>,d=<hex>
    digest_key="d",
    per_second=1000,
    within_s=5 * 60,
    message=lambda raw, at: raw + at,  # the body, then the time
    kind="event",  # {event, call}
    carried="call",
    id_field="call_id",
    applied=frozenset({"call_started", "call_ended", "call_analyzed"}),
    parse=parse_retell_call,
)
ELEVENLABS = SignedWebhook(
    provider="elevenlabs",
    keys=("webhook_secret",),
    header="ElevenLabs-Signature",
    time_key="t",  # t=<s>,v0=<hex>
    digest_key="v0",
    per_second=1,
    within_s=30 * 60,
    message=lambda raw, at: at + b"." + raw,  # the time, a full stop, the body
    kind="type",  # {type, event_timestamp, data}
    carried="data",
    id_field="conversation_id",
    applied=frozenset({"post_call_transcription"}),
    parse=parse_conversation,
)


@bp.post("/ravan/<token>")
def ravan_event(token: str) -> Response:
    """Apply Ravan's ``call.completed`` to the call it names; other events are acknowledged and ignored.

    Every delivery is counted by outcome (``applied``, ``duplicate``, ``ignored`` or the refusal's
    code) for ``/metrics``; with webhooks off there is nothing to count.
    """
    return _counted("ravan", lambda: _apply_ravan_event(token))


def _apply_ravan_event(token: str) -> str:
    """Check and apply one delivery: its outcome, or the refusal raised."""
    state = app_state()
    expected = state.settings.webhook_token
    ravan = state.settings.providers.get("ravan")
    if expected is None or ravan is None:
        raise NotFound()  # webhooks are off
    if not same_secret(token, expected.get_secret_value()):
        raise InvalidWebhookToken()
    event, org_id, data = read_event()
    # Unset (start-up warned): no event is ours. Stripped, as the keys are: a secret file's newline.
    ours = (getattr(ravan, "org_id", None) or "").strip()
    if not ours or not hmac.compare_digest(org_id.encode(), str(ours).encode()):
        log.warning("webhook ravan: refused an event for another org")
        raise WrongWebhookOrg()
    if event != CALL_COMPLETED:
        log.info("webhook ravan: ignored event %.64s", event)
        return "ignored"
    call = read_call(data)
    outcome = _applied("ravan", CALL_COMPLETED, call)
    if outcome == "unknown":
        raise UnknownCallSession()
    return outcome


def read_event() -> tuple[str, str, dict[str, object]]:
    """``{event, org_id, data: {...}}`` from the body, or ``InvalidWebhook``."""
    request.max_content_length = MAX_BODY_BYTES
    try:
        body = parse_json(request.get_data())
    except ValueError:
        raise InvalidWebhook("The body is not JSON.") from None
    if not isinstance(body, dict):
        raise InvalidWebhook("The body must be a JSON object.")
    event, org_id, data = body.get("event"), body.get("org_id"), body.get("data")
    if not isinstance(event, str) or not event or not isinstance(org_id, str) or not isinstance(data, dict):
        raise InvalidWebhook("The body needs event, org_id and data.")
    return event, org_id, data


def read_call(data: dict[str, object]) -> ProviderCall:
    """The call in ``data`` (``call_session_id`` and what Ravan reports of it)."""
    session_id = data.get("call_session_id")
    if not isinstance(session_id, str):
        raise InvalidWebhook("data.call_session_id is required.")
    if len(session_id.strip()) > MAX_ID_CHARS:
        raise InvalidWebhook("data.call_session_id is too long.")
    try:
        return parse_session({**data, "id": session_id})
    except ProviderBadResponse:
        raise InvalidWebhook("data.call_session_id is required.") from None


@bp.post("/livekit")
def livekit_event() -> Response:
    """Apply a LiveKit room event to the livekit call of that room; others are acknowledged and ignored.

    Counted by outcome for ``/metrics`` like Ravan's; without the livekit provider there is
    no key pair to check a signature with, and no endpoint.
    """
    return _counted("livekit", _apply_livekit_event)


@bp.post("/retell")
def retell_event() -> Response:
    """Apply Retell's call events to the call they carry; others are acknowledged and ignored.

    Counted by outcome for ``/metrics`` like Ravan's; without the retell provider there is no
    key to check a signature with, and no endpoint.
    """
    return _counted("retell", lambda: _apply_signed(RETELL))


@bp.post("/elevenlabs")
def elevenlabs_event() -> Response:
    """Apply ElevenLabs' post-call transcription to the call it names; other types are
    acknowledged and ignored. Without ``ELEVENLABS_WEBHOOK_SECRET`` there is no endpoint."""
    return _counted("elevenlabs", lambda: _apply_signed(ELEVENLABS))


def _apply_signed(hook: SignedWebhook) -> str:
    """Check and apply one delivery of ``hook``: its outcome, or the refusal raised. Calls the log
    does not have are ``ignored``: Retell retries any other answer, and ElevenLabs (which retries
    none by default) turns off a webhook that keeps failing."""
    settings = app_state().settings.providers.get(hook.provider)
    values = (getattr(settings, name, None) for name in hook.keys)
    key = next((secret(value) for value in values if value is not None and secret(value)), None)
    if key is None:
        raise NotFound()
    body = read_signed(hook, key)
    event = body.get(hook.kind)
    if not isinstance(event, str) or not event:
        raise InvalidWebhook(f"The body needs {hook.kind} and {hook.carried}.")
    if event not in hook.applied:
        log.info("webhook %s: ignored event %.64s", hook.provider, event)
        return "ignored"
    outcome = _applied(hook.provider, event, reported_call(hook, body.get(hook.carried)))
    return "ignored" if outcome == "unknown" else outcome


def _applied(provider: str, event: str, call: ProviderCall) -> Applied:
    """Apply ``provider``'s ``event`` of ``call`` once (a repeat of the same event of the same call
    is a duplicate); a call log outage is a 503, which Ravan, Retell and LiveKit retry (ElevenLabs
    does not, by default: the history sync reads that call at its next run)."""
    try:
        outcome = app_state().history.apply_webhook(provider, event, call.call_id, call)
    except CallLogError as error:
        log.error("webhook %s: the call log failed for call %s: %s", provider, call.call_id, error)
        raise CallLogUnavailable(retry_after_s=30) from None
    log.info("webhook %s %s call=%s: %s", provider, event, call.call_id, outcome)
    return outcome


def read_signed(hook: SignedWebhook, key: str) -> dict[str, object]:
    """The body, a JSON object, once its signature (``hook``'s header) proves the provider
    signed this very body lately with ``key``; a missing or stale signature is refused before a
    byte of the body is read."""
    request.max_content_length = SIGNED_MAX_BODY_BYTES
    signed = signature_parts(hook, request.headers.get(hook.header, ""))
    now = time.time() * hook.per_second
    if signed is None or abs(now - int(signed[0])) > hook.within_s * hook.per_second:
        log.warning("webhook %s: refused a delivery without a valid signature", hook.provider)
        raise InvalidWebhookSignature()
    raw = request.get_data()
    message = hook.message(raw, signed[0].encode())
    expected = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signed[1].lower()):
        log.warning("webhook %s: refused a delivery without a valid signature", hook.provider)
        raise InvalidWebhookSignature()
    try:
        body = parse_json(raw)
    except ValueError:
        raise InvalidWebhook("The body is not JSON.") from None
    if not isinstance(body, dict):
        raise InvalidWebhook("The body must be a JSON object.")
    return body


def signature_parts(hook: SignedWebhook, header: str) -> tuple[str, str] | None:
    """The time and the hex digest in ``hook``'s signature ``header``, its comma-separated parts
    in any order as the providers' SDKs read them (ElevenLabs' takes ``v0=<hex>,t=<s>`` too, and
    the last of a repeated part); None without both."""
    parts = dict(part.strip().partition("=")[::2] for part in header.split(","))
    at, digest = parts.get(hook.time_key, ""), parts.get(hook.digest_key, "")
    if SIGNED_TIME.fullmatch(at) is None or SIGNED_DIGEST.fullmatch(digest) is None:
        return None
    return at, digest


def reported_call(hook: SignedWebhook, data: object) -> ProviderCall:
    """The call an event of ``hook`` carries, as its provider's parser reads it."""
    problem = f"{hook.carried}.{hook.id_field} is required (at most {MAX_ID_CHARS} characters)."
    if not isinstance(data, dict):
        raise InvalidWebhook(f"The body needs {hook.kind} and {hook.carried}.")
    call_id = data.get(hook.id_field)
    if not isinstance(call_id, str) or len(call_id.strip()) > MAX_ID_CHARS:
        raise InvalidWebhook(problem)
    try:
        return hook.parse(data)
    except ProviderBadResponse:
        raise InvalidWebhook(problem) from None


def _counted(provider: str, apply: Callable[[], str]) -> Response:
    """Apply one delivery and answer its outcome, counting it (or the refusal's code) for
    ``/metrics``; a 404 (the endpoint is off) is not a delivery."""
    try:
        outcome = apply()
    except NotFound:
        raise
    except AppError as error:
        WEBHOOKS.labels(provider, error.code).inc()
        raise
    WEBHOOKS.labels(provider, outcome).inc()
    return jsonify(status=outcome)


def _apply_livekit_event() -> str:
    """Check and apply one delivery: its outcome, or the refusal raised."""
    state = app_state()
    livekit = state.settings.providers.get("livekit")
    api_key, api_secret = getattr(livekit, "api_key", None), getattr(livekit, "api_secret", None)
    if not api_key or not api_secret:
        raise NotFound()
    event = read_livekit_event(secret(api_key), secret(api_secret))  # stripped, as tokens are signed
    room = event.room.name
    if event.event not in LIVEKIT_EVENTS or not room:
        return "ignored"
    try:
        # A livekit call's id is its room's name: one lookup by the unique key, where find(room)
        # tried our ids first, then any provider's id (and could answer another provider's call).
        record = state.history.find_provider_call("livekit", room)
        if event.event == ROOM_STARTED:
            return close_if_started_again(event, record)
        change = livekit_change(event, record) if record is not None else None
        if change is None:
            log.info("webhook livekit %s room=%.128s: ignored", event.event, room)
            return "ignored"
        delivery_key, call = change
        outcome = state.history.apply_webhook("livekit", event.event, delivery_key, call)
    except CallLogError as error:
        log.error("webhook livekit: the call log failed for room %.128s: %s", room, error)
        raise CallLogUnavailable(retry_after_s=30) from None
    log.info("webhook livekit %s room=%.128s: %s", event.event, room, outcome)
    return "ignored" if outcome == "unknown" else outcome


def read_livekit_event(api_key: str, api_secret: str) -> WebhookEvent:
    """The event in the body, once ``Authorization`` proves our server signed this very body."""
    request.max_content_length = MAX_BODY_BYTES
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    verifier = api.TokenVerifier(api_key, api_secret)
    # Before a byte of the body is read: a stranger (or a caller's own token, which has no
    # body hash) is refused at once, not after sending a megabyte slowly.
    why = "no Authorization" if not token else "no body hash in it"
    try:
        signed_body = bool(token) and bool(verifier.verify(token).sha256)
    except Exception as error:  # noqa: BLE001 - PyJWT's errors, whatever the token's fault
        signed_body, why = False, _token_fault(token, api_key, error)
    if not signed_body:
        # LiveKit does not retry a 4xx: what was wrong is said, so a wrong key is found.
        log.warning("webhook livekit: refused a delivery without a valid signature (%s)", why)
        raise InvalidWebhookSignature()
    try:
        body = request.get_data().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidWebhook("The body is not JSON.") from None
    receiver = api.WebhookReceiver(verifier)
    try:
        return receiver.receive(body, token)
    except json_format.ParseError:  # signed by our server, yet not an event (checked after the signature)
        raise InvalidWebhook("The body is not a LiveKit webhook event.") from None
    except Exception:  # noqa: BLE001 - the SDK raises a bare Exception for a hash mismatch
        log.warning("webhook livekit: refused a delivery without a valid signature (another body's)")
        raise InvalidWebhookSignature() from None


def _token_fault(token: str, api_key: str, error: Exception) -> str:
    """Why a webhook's token did not verify, in words an operator can act on (no value of it)."""
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return "not a token"
    if issuer != api_key:
        return "signed with another API key than LIVEKIT_API_KEY (LiveKit's webhook api_key)"
    if isinstance(error, jwt.ExpiredSignatureError | jwt.ImmatureSignatureError):
        return "outside its validity: are the two servers' clocks apart?"
    return f"not signed with LIVEKIT_API_SECRET ({type(error).__name__})"


def close_if_started_again(event: WebhookEvent, record: CallRecord | None) -> str:
    """Close a livekit call's room created after the call ended (see the module's docstring)."""
    room = event.room
    livekit = app_state().providers.get("livekit")
    if record is None or not started_after_end(room, record) or not isinstance(livekit, LiveKitProvider):
        return "ignored"
    log.warning("webhook livekit room_started room=%.128s: its call has ended", room.name)
    livekit.close_room(room.name, "its call had ended (a rejoin with a refreshed token)")
    return "closed"


def started_after_end(room: Room, record: CallRecord) -> bool:
    """Whether ``room`` was created after ``record``'s call ended: a rejoin (see the module's
    docstring). In whole seconds: an end is known to the second (an event's time), and a call's
    own room may be created within the second its caller left."""
    created = _moment(room.creation_time_ms or room.creation_time * 1000)
    if record.ended_at is None or created is None:
        return False
    return created.replace(microsecond=0) > record.ended_at


def livekit_change(event: WebhookEvent, record: CallRecord) -> tuple[str, ProviderCall] | None:
    """What ``event`` changes of the livekit call ``record`` (its room's), keyed by what makes a repeat.

    Only the caller (a standard participant, not the agent) starts and ends the call: from
    its first join to its leaving, which is the length the page showed. ``room_finished`` then
    marks it completed (a room closes ``departure_timeout`` after the last one leaves). A room
    created after the call ended changes nothing: its rejoin is closed, and counted nowhere.
    """
    room = event.room
    if started_after_end(room, record):
        return None
    at = _moment(event.created_at * 1000) or datetime.now(UTC)
    started = record.started_at or _moment(room.creation_time_ms or room.creation_time * 1000)
    caller = event.participant.identity and event.participant.kind == ParticipantInfo.Kind.STANDARD
    if event.event == CALLER_JOINED and caller:
        if record.started_at is not None:
            return None  # joined again after a drop: the call started at the first join
        joined = _moment(event.participant.joined_at_ms or event.participant.joined_at * 1000) or at
        return event.participant.sid or event.id, ProviderCall(
            room.name, status="in_progress", started_at=joined
        )
    if event.event == CALLER_LEFT and caller:
        return event.participant.sid or event.id, ended_call(room.name, started, at, status=None)
    if event.event == CALLER_ABORTED and caller:
        if record.started_at is not None:
            return None  # a later connection of a caller already in the call: it goes on, or ended
        return event.participant.sid or event.id, ProviderCall(room.name, status="failed", ended_at=at)
    if event.event == ROOM_FINISHED:
        if record.status == "failed":
            return None  # the caller never connected: failed it stays, with no length
        return room.sid or room.name, ended_call(
            room.name, started, record.ended_at or at, status="completed"
        )
    return None


def ended_call(
    room: str, started: datetime | None, ended: datetime, *, status: CallStatus | None
) -> ProviderCall:
    """The call of ``room`` ending at ``ended``, with its duration when its start is known."""
    duration_s = max(0.0, (ended - started).total_seconds()) if started else None
    return ProviderCall(room, status=status, started_at=started, ended_at=ended, duration_s=duration_s)


def _moment(epoch_ms: int) -> datetime | None:
    """A LiveKit timestamp (milliseconds since the epoch; 0 when absent) as a UTC time; None
    when it is absent or off the calendar."""
    return from_unix(epoch_ms / 1000) if epoch_ms > 0 else None
