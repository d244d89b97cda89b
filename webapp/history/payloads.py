"""A call as programs outside read it: the admin API's fields, and the events' bodies.

One place writes a record as JSON, so an event's ``data`` is the admin API's call, field for field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the store imports this module
    from .store import CallRecord


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


def event_body(kind: str, record: CallRecord, at: datetime) -> str:
    """An event as sent: ``{"type", "timestamp", "data"}`` (the Standard Webhooks payload shape),
    ``data`` the call as it was when the event happened."""
    body = {"type": kind, "timestamp": iso(at), "data": call_fields(record)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
