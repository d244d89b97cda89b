"""Calls the providers report to us: Ravan's ``call.completed`` webhook.

``POST /webhooks/ravan/<token>``: the token (``WEBCALL_WEBHOOK_TOKEN``) is the only secret
Ravan's webhooks can carry (they document no signature), so it is compared in constant time
and never logged (``webapp.ops.logging`` masks it in every log line, gunicorn's access log
included). The body's ``org_id`` must be ours (``RAVAN_ORG_ID``). A delivery is applied once:
Ravan retries on any non-2xx, so a repeat answers 200 and changes nothing. Each refusal is a
clear 4xx that changes nothing; a call log outage is a 503, which Ravan will retry.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, jsonify, request

from ..errors import (
    AppError,
    CallLogUnavailable,
    InvalidWebhook,
    InvalidWebhookToken,
    NotFound,
    ProviderBadResponse,
    UnknownCallSession,
    WrongWebhookOrg,
)
from ..json_input import parse_json
from ..metrics import WEBHOOKS
from ..providers import ProviderCall
from ..providers.ravan import parse_session
from ..state import app_state
from .store import CallLogError

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


@bp.post("/ravan/<token>")
def ravan_event(token: str) -> Response:
    """Apply Ravan's ``call.completed`` to the call it names; other events are acknowledged and ignored.

    Every delivery is counted by outcome (``applied``, ``duplicate``, ``ignored`` or the refusal's
    code) for ``/metrics``; with webhooks off there is nothing to count.
    """
    try:
        outcome = _apply_ravan_event(token)
    except NotFound:
        raise
    except AppError as error:
        WEBHOOKS.labels("ravan", error.code).inc()
        raise
    WEBHOOKS.labels("ravan", outcome).inc()
    return jsonify(status=outcome)


def _apply_ravan_event(token: str) -> str:
    """Check and apply one delivery: its outcome, or the refusal raised."""
    state = app_state()
    expected = state.settings.webhook_token
    ravan = state.settings.providers.get("ravan")
    if expected is None or ravan is None:
        raise NotFound()  # webhooks are off
    if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise InvalidWebhookToken()
    event, org_id, data = read_event()
    ours = getattr(ravan, "org_id", None) or ""  # unset (start-up warned): no event is ours
    if not ours or not hmac.compare_digest(org_id.encode(), str(ours).encode()):
        log.warning("webhook ravan: refused an event for another org")
        raise WrongWebhookOrg()
    if event != CALL_COMPLETED:
        log.info("webhook ravan: ignored event %.64s", event)
        return "ignored"
    call = read_call(data)
    try:
        outcome = state.history.apply_webhook("ravan", CALL_COMPLETED, call.call_id, call)
    except CallLogError as error:
        log.error("webhook ravan: the call log failed for session %s: %s", call.call_id, error)
        raise CallLogUnavailable(retry_after_s=30) from None
    log.info("webhook ravan %s session=%s: %s", CALL_COMPLETED, call.call_id, outcome)
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
    try:
        call = parse_session({**data, "id": session_id})
    except ProviderBadResponse:
        raise InvalidWebhook("data.call_session_id is required.") from None
    if len(call.call_id) > 255:
        raise InvalidWebhook("data.call_session_id is too long.")
    return call
