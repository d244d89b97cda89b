"""The admin JSON API for people's own tools: ``GET /api/admin/calls``, ``/api/admin/calls/<call_id>``
and ``/api/admin/summary``.

``Authorization: Bearer <WEBCALL_ADMIN_TOKEN>`` on every request (without the variable, every
request is refused); wrong tokens are limited per client, as sign-in passwords are. Answers are
never cached.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..errors import (
    AdminTokenRequired,
    AppError,
    CallLogUnavailable,
    InvalidQuery,
    LimitsUnavailable,
    TooManyWrongTokens,
    UnknownCall,
)
from ..history.store import CallLogError
from ..state import app_state
from .auth import require_token
from .models import (
    CallFilter,
    CallList,
    CallSelection,
    admin_call,
    admin_call_detail,
    calls_summary,
    parse_filter,
)

bp = Blueprint("admin_api", __name__, url_prefix="/api/admin")
# The errors each endpoint answers with (the OpenAPI document lists them from here); the token's
# (too many wrong ones, their count's storage down) are every endpoint's.
TOKEN_RAISES: tuple[type[AppError], ...] = (AdminTokenRequired, TooManyWrongTokens, LimitsUnavailable)
LIST_RAISES: tuple[type[AppError], ...] = (InvalidQuery, *TOKEN_RAISES, CallLogUnavailable)
DETAIL_RAISES: tuple[type[AppError], ...] = (*TOKEN_RAISES, UnknownCall, CallLogUnavailable)


@bp.before_request
def authenticate() -> None:
    """Every admin API request carries the token."""
    require_token()


@bp.get("/calls")
def list_calls() -> Response:
    """One page of the calls the filters match, newest first, with the total."""
    filters = parse_filter(CallFilter, request.args)
    try:
        records, total = app_state().history.search(filters.query())
    except CallLogError as error:
        raise CallLogUnavailable(retry_after_s=5) from error
    answer = CallList(
        calls=[admin_call(r) for r in records], page=filters.page, page_size=filters.page_size, total=total
    )
    return no_store(jsonify(answer.model_dump()))


@bp.get("/summary")
def summarize_calls() -> Response:
    """What the calls the filters match add up to: counts by status, time, cost and ratings."""
    selection = parse_filter(CallSelection, request.args)
    try:
        summary = app_state().history.summarize(selection.query())
    except CallLogError as error:
        raise CallLogUnavailable(retry_after_s=5) from error
    return no_store(jsonify(calls_summary(summary).model_dump()))


@bp.get("/calls/<call_id>")
def get_call(call_id: str) -> Response:
    """One call (by our id or the provider's) with its transcript and recording."""
    try:
        record = app_state().history.find(call_id)
    except CallLogError as error:
        raise CallLogUnavailable(retry_after_s=5) from error
    if record is None:
        raise UnknownCall()
    return no_store(jsonify(admin_call_detail(record).model_dump()))


def no_store(response: Response) -> Response:
    """Call records are personal data: no cache keeps them."""
    response.headers["Cache-Control"] = "no-store"
    return response
