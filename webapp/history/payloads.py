"""A call and a demo link as programs outside read them: the admin API's fields, and the events'
bodies.

One place writes each as JSON, so an event's ``data`` is the admin API's call (or link), field
for field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the store imports this module
    from .store import CallRecord, LinkState

LinkStatus = Literal["works", "revoked", "expired", "used_up"]


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def call_fields(record: CallRecord) -> dict[str, Any]:
    """The fields every view of a call shares (the admin API's ``AdminCall``)."""
    return {
        "call_id": record.call_id,
        "provider_call_id": record.provider_call_id,
        "agent": record.agent,
        "provider": record.provider,
        "channel": record.channel,
        "status": record.status,
        "outcome": record.outcome,
        "started_at": iso(record.started_at),
        "ended_at": iso(record.ended_at),
        "duration_s": record.duration_s,
        "cost": record.cost,
        "currency": record.cost_currency,
        "summary": record.summary,
        "origin": record.origin,
        "room": record.room,
        "request_id": record.request_id,
        "phone_number": record.phone_number,
        "feedback_rating": record.feedback_rating,
        "feedback_comment": record.feedback_comment,
        "feedback_at": iso(record.feedback_at),
        "demo_link_id": record.demo_link_id,
        "demo_link_label": record.demo_link_label,
        "created_at": iso(record.created_at),
    }


def link_status(link: LinkState, now: datetime) -> LinkStatus:
    """Whether ``link`` still works at ``now``, and why not."""
    made = link.made
    if link.revoked_at is not None:
        return "revoked"
    if made is not None and made.expires_at <= now:
        return "expired"
    if made is not None and made.max_calls is not None and link.calls >= made.max_calls:
        return "used_up"
    return "works"


def link_fields(link: LinkState, now: datetime) -> dict[str, Any]:
    """A demo link as of ``now`` (the admin API's ``AdminDemoLink``)."""
    made, opened = link.made, link.opened
    return {
        "link_id": link.link_id,
        "label": link.label,
        "agent": link.agent,
        "state": link_status(link, now),
        "made_at": iso(made.made_at) if made else None,
        "made_by": made.made_by if made else None,
        "expires_at": iso(made.expires_at) if made else None,
        "max_calls": made.max_calls if made else None,
        "opens": opened.opens if opened else 0,
        "first_opened_at": iso(opened.first_opened_at) if opened else None,
        "last_opened_at": iso(opened.last_opened_at) if opened else None,
        "calls": link.calls,
        "refused": link.refused,
        "last_at": iso(link.last_at),
        "revoked_at": iso(link.revoked_at),
    }


def event_body(kind: str, data: dict[str, Any], at: datetime) -> str:
    """An event as sent: ``{"type", "timestamp", "data"}`` (the Standard Webhooks payload shape),
    ``data`` the call (:func:`call_fields`) or the link (:func:`link_fields`) as it was when the
    event happened."""
    body = {"type": kind, "timestamp": iso(at), "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
