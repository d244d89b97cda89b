"""The events sent to the site's own URL, in the admin JSON API, for a monitoring script or a
runbook: ``GET /api/admin/events`` (the counts and the latest events), ``POST
/api/admin/events/resend`` (every event given up, back in line), ``POST
/api/admin/events/<event_id>/resend`` (one) and ``POST /api/admin/events/test`` (a
``webhook.test`` posted now, and what the URL answered).

The admin view's Events page (``admin.events``) for people; the same token as the rest of the
admin API (``admin.api``), never cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from ..errors import AppError, CallLogUnavailable, EventsDisabled, InvalidQuery, UnknownEvent
from ..history.events import app_sender
from ..history.payloads import iso
from ..history.store import EventCounts, EventFilter, EventType
from ..state import app_state
from .api import TOKEN_RAISES, authenticate, call_log_or_503, list_limit, no_store
from .events import EVENT_ID, SENT_WITHIN, STATES, TYPES, destination
from .models import AdminEvent, admin_event

bp = Blueprint("admin_events_api", __name__, url_prefix="/api/admin/events")
bp.before_request(authenticate)
MAX_LIST_LIMIT = 1000
LIST_RAISES: tuple[type[AppError], ...] = (InvalidQuery, *TOKEN_RAISES, CallLogUnavailable)
RESEND_ALL_RAISES: tuple[type[AppError], ...] = (*TOKEN_RAISES, CallLogUnavailable)
RESEND_RAISES: tuple[type[AppError], ...] = (*TOKEN_RAISES, UnknownEvent, CallLogUnavailable)
TEST_RAISES: tuple[type[AppError], ...] = (*TOKEN_RAISES, EventsDisabled)


class EventTotals(BaseModel):
    """Where the events are."""

    model_config = ConfigDict(extra="forbid")

    waiting: int = Field(description="Waiting to be sent: due, or waiting for a retry.")
    oldest_waiting_at: str | None = Field(
        json_schema_extra={"format": "date-time"}, description="When the oldest of those happened."
    )
    given_up: int = Field(description="Given up after eight attempts (`resend` puts them back in line).")
    sent_last_24h: int = Field(description="Delivered in the last 24 hours.")


class EventList(BaseModel):
    """The counts, and the latest events, newest first."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(description="Where they go: the URL's scheme and host alone; null while off.")
    types: list[EventType] = Field(description="The types sent (`WEBCALL_EVENTS_TYPES`); none while off.")
    counts: EventTotals
    events: list[AdminEvent]


class Resent(BaseModel):
    """Events put back in line: sent within seconds, eight attempts again."""

    model_config = ConfigDict(extra="forbid")

    queued: int


class EventTrial(BaseModel):
    """What the URL answered a test event (``webhook.test``), posted once, not kept."""

    model_config = ConfigDict(extra="forbid")

    event_id: str
    delivered: bool = Field(description="Whether the URL answered 2xx.")
    status: int | None = Field(description="Its HTTP status; null when it did not answer.")
    problem: str | None = Field(
        description="Why it is no delivery (`HTTP 401`, `timed out`, `could not connect`)."
    )
    elapsed_ms: int


@bp.get("")
def list_events() -> Response:
    """The counts, and the latest ``limit`` events (100), of one ``state`` and one ``type`` when given;
    with ``before`` (the last event's id of a page), the next page: the events kept before it."""
    state, kind, limit = _list_args(request.args)
    before = request.args.get("before") or None
    if before is not None and not EVENT_ID.fullmatch(before):
        raise InvalidQuery("before is not valid: must be an event's id (evt_…).")
    history, settings = app_state().history, app_state().settings
    with call_log_or_503():
        counts = history.event_counts(datetime.now(UTC) - SENT_WITHIN)
        latest = history.recent_events(state, kind=kind, limit=limit, before=before)
    answer = EventList(
        url=destination(settings.events_url),
        types=[cast(EventType, name) for name in settings.events_types] if settings.events_url else [],
        counts=_totals(counts),
        events=[admin_event(event) for event in latest],
    )
    return no_store(jsonify(answer.model_dump()))


@bp.post("/resend")
def resend_given_up() -> Response:
    """Every event given up, back in line."""
    with call_log_or_503():
        queued = app_state().history.resend_given_up(None, datetime.now(UTC))
    return no_store(jsonify(Resent(queued=queued).model_dump()))


@bp.post("/<event_id>/resend")
def resend_event(event_id: str) -> Response:
    """One event given up, back in line (``queued`` 0: it was not given up)."""
    if not EVENT_ID.fullmatch(event_id):
        raise UnknownEvent()
    with call_log_or_503():
        queued = app_state().history.resend_event(event_id, datetime.now(UTC))
    if queued is None:
        raise UnknownEvent()
    return no_store(jsonify(Resent(queued=int(queued)).model_dump()))


@bp.post("/test")
def send_test_event() -> Response:
    """Post a ``webhook.test`` to the URL now; what it answered."""
    sender = app_sender(current_app)
    if sender is None:
        raise EventsDisabled()
    tried = sender.send_test_event()
    answer = EventTrial(
        event_id=tried.event_id, delivered=tried.problem is None, status=tried.status, problem=tried.problem,
        elapsed_ms=tried.elapsed_ms,
    )  # fmt: skip
    return no_store(jsonify(answer.model_dump()))


def _list_args(args: Mapping[str, str]) -> tuple[EventFilter | None, EventType | None, int]:
    """``state``, ``type`` and ``limit`` (the query parameters, with ``before``), or ``InvalidQuery``."""
    limit = list_limit(args, takes=("state", "type", "limit", "before"), maximum=MAX_LIST_LIMIT)
    state, kind = args.get("state") or None, args.get("type") or None
    if state is not None and state not in STATES:
        raise InvalidQuery("state is not valid: must be waiting, given_up or sent.")
    if kind is not None and kind not in TYPES:
        raise InvalidQuery(f"type is not valid: must be one of {', '.join(TYPES)}.")
    return cast(EventFilter | None, state), cast(EventType | None, kind), limit


def _totals(counts: EventCounts) -> EventTotals:
    return EventTotals(
        waiting=counts.waiting, oldest_waiting_at=iso(counts.oldest_waiting_at), given_up=counts.given_up,
        sent_last_24h=counts.sent,
    )  # fmt: skip
