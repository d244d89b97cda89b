"""The events sent to the site's own URL, in the admin view (``/admin/events``): where they go,
how many wait or were given up, the latest of them, and sending those given up again.

What a call's page shows of its own events, for every call; the CLI's ``history
resend-events`` for people without a shell. The events themselves are ``history.events``.
Signed in as the rest of the view (``views.gate``).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast, get_args
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, current_app, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from ..history.events import app_sender
from ..history.payloads import iso
from ..history.store import CallLogError, EventCounts, EventFilter, EventType, LoggedEvent
from ..pages.render import render_error_page
from ..state import app_state
from .auth import csrf_ok
from .models import admin_event
from .views import EXPIRED_FORM, call_log_unavailable, gate, page

bp = Blueprint("admin_events", __name__, url_prefix="/admin/events")
bp.before_request(gate)  # the view's own: a 404 when it is off, the sign-in page for strangers
EVENT_ID = re.compile(r"evt_[0-9a-f]{24}")
STATES: tuple[str, ...] = get_args(EventFilter)
TYPES: tuple[str, ...] = get_args(EventType)
SHOWN = 100  # the latest events listed
SENT_WITHIN = timedelta(hours=24)  # "sent lately", in the counts
log = logging.getLogger(__name__)


@bp.get("")
def events() -> Response:
    """Where events go, their counts, and the latest of them (``?state=waiting|given_up|sent``,
    ``&type=call.ended``; ``&before=evt_…``: the page after the one ending with that event)."""
    return _events_page()


@bp.post("/test")
def send_test_event() -> Response:
    """Post a test event to the URL now and show what it answered (setting up a receiver)."""
    if not csrf_ok(request.form.get("csrf_token")):
        return _events_page(error=EXPIRED_FORM, status=400)
    sender = app_sender(current_app)
    if sender is None:
        return _events_page(error="Events are off: there is no URL to send a test event to.", status=400)
    return _events_page(tried=sender.send_test_event())


def _events_page(*, status: int = 200, **context: Any) -> Response:
    """The page, with the state and type asked for in the query (a test's answer, an error, when
    given); one not in the list shows every event, and says so."""
    state, kind = request.args.get("state") or None, request.args.get("type") or None
    refused = (state is not None and state not in STATES) or (kind is not None and kind not in TYPES)
    before = request.args.get("before") or None
    if before is not None and (refused or not EVENT_ID.fullmatch(before)):
        before = None  # from the latest, then
    history = app_state().history
    counts: EventCounts | None = None
    latest: list[LoggedEvent] | None = None
    try:
        counts = history.event_counts(datetime.now(UTC) - SENT_WITHIN)
        if refused:
            latest = history.recent_events(limit=SHOWN)
        else:
            latest = history.recent_events(
                cast(EventFilter, state), kind=cast(EventType, kind), limit=SHOWN, before=before
            )
    except CallLogError as error:  # the page still says where events go, and tries the URL
        log.error("admin: the call log failed: %s", error)
    resent = request.args.get("resent", "")
    return page(
        "admin/events.html",
        status=400 if refused else status,
        destination=destination(app_state().settings.events_url),
        types=app_state().settings.events_types,
        some_types=len(app_state().settings.events_types) < len(TYPES),
        counts=counts,
        oldest=iso(counts.oldest_waiting_at) if counts else None,
        events=None if latest is None else [admin_event(event) for event in latest],
        state="" if refused else state or "",
        kind="" if refused else kind or "",
        kinds=TYPES,
        refused=refused,
        resent=int(resent) if re.fullmatch(r"[0-9]{1,9}", resent) else None,
        shown=SHOWN,
        before=before,
        older=_older(state, kind, latest) if not refused else None,
        latest_query="?" + urlencode(_filters(state, kind)) if state or kind else "",
        **context,
    )


def _older(state: str | None, kind: str | None, shown: list[LoggedEvent] | None) -> str | None:
    """The query of the page after ``shown`` (the same filters, before its last event), when it
    was full: there may be more."""
    if not shown or len(shown) < SHOWN:
        return None
    return urlencode({**_filters(state, kind), "before": shown[-1].event_id})


def _filters(state: str | None, kind: str | None) -> dict[str, str]:
    """The query parameters of the filters given."""
    return {name: value for name, value in (("state", state), ("type", kind)) if value}


@bp.post("/resend")
def resend_given_up() -> BaseResponse:
    """Put every event given up back in line (the CLI's ``history resend-events``)."""
    if not csrf_ok(request.form.get("csrf_token")):
        return render_error_page(400, title="Form expired", message=EXPIRED_FORM)
    try:
        queued = app_state().history.resend_given_up(None, datetime.now(UTC))
    except CallLogError as error:
        return call_log_unavailable(error)
    log.info("admin: %d events given up queued to be sent again", queued)
    return redirect(f"/admin/events?resent={queued}", code=303)


@bp.post("/<event_id>/resend")
def resend_event(event_id: str) -> BaseResponse:
    """Put one event given up back in line."""
    if not EVENT_ID.fullmatch(event_id):
        return render_error_page(404, title="No such event", message="That is not an event's id.")
    if not csrf_ok(request.form.get("csrf_token")):
        return render_error_page(400, title="Form expired", message=EXPIRED_FORM)
    try:
        queued = app_state().history.resend_event(event_id, datetime.now(UTC))
    except CallLogError as error:
        return call_log_unavailable(error)
    if queued is None:
        return render_error_page(
            404, title="No such event", message="The call log keeps no event with that id."
        )
    if queued:
        log.info("admin: event %s queued to be sent again", event_id)
    return redirect(f"/admin/events?resent={int(queued)}", code=303)


def destination(url: str | None) -> str | None:
    """The events' URL as the page names it: its scheme and host alone (its path or query may
    hold the receiver's token, and its user part a password)."""
    if url is None:
        return None
    parts = urlsplit(str(url))
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"
