"""The admin JSON API for people's own tools: ``GET /api/admin/calls``, ``/api/admin/calls/<call_id>``
and ``/api/admin/summary``.

``Authorization: Bearer <WEBCALL_ADMIN_TOKEN>`` on every request (without the variable, every
request is refused); wrong tokens are limited per client, as sign-in passwords are. Answers are
never cached.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

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
    with call_log_or_503():
        records, total = app_state().history.search(filters.query())
    answer = CallList(
        calls=[admin_call(r) for r in records], page=filters.page, page_size=filters.page_size, total=total
    )
    return no_store(jsonify(answer.model_dump()))


@bp.get("/summary")
def summarize_calls() -> Response:
    """What the calls the filters match add up to: counts by status, time, cost and ratings."""
    selection = parse_filter(CallSelection, request.args)
    query, days = selection.query(), selection.days(datetime.now(UTC).date())
    with call_log_or_503():
        summary = app_state().history.summarize(query)
        per_day = app_state().history.calls_per_day(query, *days) if days else []
    return no_store(jsonify(calls_summary(summary, per_day).model_dump(mode="json")))


@bp.get("/calls/<call_id>")
def get_call(call_id: str) -> Response:
    """One call (by our id or the provider's) with its transcript and recording."""
    with call_log_or_503():
        record = app_state().history.find(call_id)
    if record is None:
        raise UnknownCall()
    return no_store(jsonify(admin_call_detail(record).model_dump()))


@contextmanager
def call_log_or_503() -> Iterator[None]:
    """A read or write of the call log, whose failure the API answers as 503
    ``call_log_unavailable`` (to retry in 5 s)."""
    try:
        yield
    except CallLogError as error:
        raise CallLogUnavailable(retry_after_s=5) from error


def list_limit(args: Mapping[str, str], *, takes: tuple[str, ...], maximum: int, default: int = 100) -> int:
    """A list's ``limit`` query parameter (``default`` when left out), an endpoint taking the
    parameters ``takes`` and no other (but a ``_`` cache-buster); ``InvalidQuery`` otherwise."""
    unknown = sorted(name for name in args if name not in takes and not name.startswith("_"))
    if unknown:
        raise InvalidQuery(f"Unknown query parameter {unknown[0][:64]!r}.")
    text = args.get("limit") or str(default)
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= maximum:
        raise InvalidQuery(f"limit is not valid: must be a whole number from 1 to {maximum:,}.")
    return int(text)


def no_store(response: Response) -> Response:
    """Call records are personal data: no cache keeps them."""
    response.headers["Cache-Control"] = "no-store"
    return response
