"""``POST /api/calls/<call_id>/feedback``: after a web call, the caller says how it went.

An agent with ``feedback = true`` has its page ask, once a call that connected has ended:
thumbs up or down, then a comment if the caller has one. The call's answer carries the address
(``feedback_url``), with our id for the call in it: only the caller who started the call has
that id, so only they can rate it. A later rating replaces the earlier one, for a day.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, Response, g, jsonify

from ..errors import (
    AppError,
    BadRequest,
    CallLogUnavailable,
    FeedbackClosed,
    FeedbackNotAsked,
    InvalidBody,
    InvalidField,
    InvalidJson,
    LimitsUnavailable,
    OriginNotAllowed,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    UnknownCall,
    UnknownField,
    UnsupportedMediaType,
)
from ..guards.limits import limited
from ..guards.origin import check_origin, cors_headers
from ..history.store import CallLogError, now
from ..metrics import FEEDBACK
from ..state import app_state
from .api import read_body
from .models import Feedback, FeedbackBody
from .service import AGENT, our_call

bp = Blueprint("feedback", __name__, url_prefix="/api")
log = logging.getLogger(__name__)
FEEDBACK_WINDOW = timedelta(days=1)  # from the call's start: long enough to come back to a tab
FEEDBACK_LIMITS = "30/minute"  # per client: a caller changes their mind a few times, not more
RAISES: tuple[type[AppError], ...] = (
    InvalidJson, InvalidBody, UnknownField, InvalidField, OriginNotAllowed, FeedbackNotAsked, UnknownCall,
    FeedbackClosed, PayloadTooLarge, RequestTimeout, BadRequest, UnsupportedMediaType, RateLimited,
    LimitsUnavailable, CallLogUnavailable,
)  # fmt: skip


@bp.post("/calls/<call_id>/feedback")
@limited(FEEDBACK_LIMITS, scope="feedback")
def give_feedback(call_id: str) -> Response:
    """Keep the caller's rating (and comment) of one of our web calls."""
    state = app_state()
    body = read_body(state.settings.max_body_bytes, FeedbackBody)
    record = our_call(state, call_id, "web")
    agent = state.settings.agents.get(record.agent or "")
    setattr(g, AGENT, agent)  # CORS for its agent's origins
    if agent is None or not agent.feedback:
        raise FeedbackNotAsked()
    check_origin(agent)
    at = now()
    if at - record.created_at > FEEDBACK_WINDOW:
        raise FeedbackClosed()
    try:
        kept = state.history.record_feedback(record.call_id, body.rating, body.comment, at)
    except CallLogError as error:
        raise CallLogUnavailable(retry_after_s=5) from error
    if not kept:  # pruned meanwhile
        raise UnknownCall()
    if body.rating != record.feedback_rating:  # a comment sent with the rating already given: not again
        FEEDBACK.labels(agent.slug, body.rating).inc()
    comment = record.feedback_comment if body.comment is None else body.comment or None
    # The comment is the caller's own words: the log says only that there is one.
    log.info("call feedback", extra={"call_id": record.call_id, "agent": agent.slug, "rating": body.rating,
                                     "comment": comment is not None})  # fmt: skip
    answer = Feedback(
        call_id=record.call_id, rating=body.rating, comment=comment, at=at.isoformat().replace("+00:00", "Z")
    )
    response = jsonify(answer.model_dump())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_request
def cors(response: Response) -> Response:
    """CORS for embeds on the call's agent's origins."""
    return cors_headers(response, g.get(AGENT))
