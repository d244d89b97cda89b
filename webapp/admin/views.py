"""The admin view: ``/admin`` lists recent calls with filters, opens one call, exports CSV
(sales-demo links have their own pages: ``links``).

Server-rendered pages under the site's strict CSP; the only script keeps the count of calls in
progress current (``static/src/admin/live.js``). Without ``WEBCALL_ADMIN_PASSWORD`` every
address here is a 404.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import chain, islice
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from ..calls.models import RATINGS
from ..errors import AdminSignInRequired, CallLogUnavailable, InvalidQuery, LimitsUnavailable, RateLimited
from ..guards.headers import page_headers
from ..guards.limits import NOT_COUNTED, limited
from ..history.payloads import iso, link_fields
from ..history.store import ANY_DEMO_LINK, CallLogError, CallQuery, CallRecord, EventState, unknown_link
from ..pages.demo_links import MAX_CALLS
from ..pages.render import render_error_page
from ..providers import CALL_STATUSES, CHANNELS, provider_names, registry
from ..state import app_state
from . import display
from .auth import (
    LOGIN_LIMIT,
    csrf_ok,
    csrf_token,
    password_matches,
    sign_in,
    sign_out,
    signed_in,
    view_enabled,
)
from .models import (
    MAX_PAGE,
    CallFilter,
    FilterProblem,
    admin_call,
    admin_call_detail,
    calls_summary,
    parse_filter,
    read_filter,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")
MAX_SUMMED_CALLS = 100_000  # the list's totals are added up for at most this many matching calls
display.init_blueprint(bp)
log = logging.getLogger(__name__)
CSV_COLUMNS = (
    "call_id", "provider_call_id", "created_at", "agent", "provider", "channel", "status", "outcome",
    "started_at", "ended_at", "duration_s", "cost", "currency", "origin", "room", "summary",
    "feedback_rating", "feedback_comment", "feedback_at", "demo_link_id", "demo_link_label",
)  # fmt: skip
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run a cell starting with these
EXPIRED_FORM = "This form has expired. Reload the page and try again."
CSV_CHUNK_CHARS = 64 * 1024  # the export is written in pieces of about this size
CSV_PAUSE_S = 0.0002  # and pauses this long after each: see csv_lines
CONTROL_CHAR = re.compile(r"[\x00-\x1f\x7f]")  # never in a redirect: a CR or LF would end the header
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")  # what a date box (<input type="date">) can show
# The filter form's fields (the filters' names) and their labels.
FORM_FIELDS = {
    "agent": "Agent", "provider": "Provider", "status": "Status", "channel": "Channel",
    "feedback": "Feedback", "demo_link": "Demo link", "since": "From", "until": "To", "q": "Search",
}  # fmt: skip


@bp.before_request
def gate() -> BaseResponse | None:
    """404 when the view is off; the sign-in page for anyone not signed in.

    The 404 is the one any unknown address gets (a page, or JSON for ``live.json``), and the live
    count's 401 is the API's error shape: the page's script reads only the status.
    """
    if not view_enabled():
        abort(404)
    if request.endpoint in ("admin.login", "admin.submit_login") or signed_in():
        return None
    if request.endpoint == "admin.live":
        raise AdminSignInRequired()
    wanted = request.full_path.rstrip("?") if request.method == "GET" else "/admin"
    return redirect(f"/admin/login?{urlencode({'next': wanted})}", code=303)


@bp.errorhandler(RateLimited)
def too_many_attempts(error: RateLimited) -> Response:
    """Sign-in attempts past the limit: the page again, saying when to try."""
    wait_s = error.retry_after_s or 60
    minutes = max(1, round(wait_s / 60))
    message = f"Too many attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}."
    response = page("admin/login.html", status=429, error=message, next=safe_next(_form_next()))
    response.headers["Retry-After"] = str(wait_s)
    return response


@bp.errorhandler(LimitsUnavailable)
def storage_unreachable(error: LimitsUnavailable) -> Response:
    """Sign-in and sign-out are counted where the limits are (Redis): while it cannot be reached
    a page says so (the other views never ask it: a session that cannot be checked is none)."""
    if request.endpoint == "admin.submit_login":
        message = "Signing in is not possible right now. Please try again in a moment."
        response = page("admin/login.html", status=503, error=message, next=safe_next(_form_next()))
    else:
        response = render_error_page(503, message="Please try again in a moment.")
    response.headers["Retry-After"] = str(max(1, int(error.retry_after_s or 5)))
    return response


@bp.get("/login")
def login() -> BaseResponse:
    """The sign-in form."""
    if signed_in():
        return redirect(safe_next(request.args.get("next")), code=303)
    return page("admin/login.html", next=safe_next(request.args.get("next")))


@bp.post("/login")
@limited(LOGIN_LIMIT, scope="admin-login")
def submit_login() -> BaseResponse:
    """Check the password (and the form's token); open a session."""
    target = safe_next(request.form.get("next"))
    if not csrf_ok(request.form.get("csrf_token")):
        return page("admin/login.html", status=400, error=EXPIRED_FORM, next=target)
    if not password_matches(request.form.get("password", "")):
        log.warning("admin: a sign-in with a wrong password")
        return page("admin/login.html", status=401, error="That password is not right.", next=target)
    sign_in()
    setattr(g, NOT_COUNTED, True)  # guesses are what the limit counts
    log.info("admin: signed in")
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> BaseResponse:
    """Close the session (a form with the session's token: no other site can sign you out)."""
    if not csrf_ok(request.form.get("csrf_token")):
        return render_error_page(400, title="Form expired", message=EXPIRED_FORM)
    sign_out()
    return redirect("/admin/login", code=303)


@bp.get("")
@bp.get("/")
def calls() -> Response:
    """Recent calls, filtered and paged, newest first."""
    filters = read_filter(CallFilter, request.args, form=True)
    if isinstance(filters, FilterProblem):
        return page("admin/calls.html", status=400, **_refused_listing(filters))
    try:
        query = filters.query()
        records, total = app_state().history.search(query)
        # Adding up reads every matching call (about 1 ms a thousand here): not on every view of
        # a long log, whose totals a narrower filter (or the API, asked on purpose) gives.
        summed = 0 < total <= MAX_SUMMED_CALLS
        summary = app_state().history.summarize(query) if summed else None
        days = filters.days(datetime.now(UTC).date()) if summed else None
        per_day = app_state().history.calls_per_day(query, *days) if days else []
        one_link = filters.demo_link if filters.demo_link not in (None, ANY_DEMO_LINK) else None
        known = app_state().history.demo_link(one_link) if one_link else None
    except CallLogError as error:
        return call_log_unavailable(error)
    listing = _listing(filters, records, total)
    totals = calls_summary(summary, per_day) if summary else None
    # One link's calls: above them, the link as the log knows it (unknown yet: a link that works).
    link = link_fields(known or unknown_link(one_link), datetime.now(UTC)) if one_link else None
    if link and link["label"]:
        listing["demo_link_name"] = link["label"]
    return page(
        "admin/calls.html",
        **listing,
        summary=totals,
        chart=display.day_chart(totals.days) if totals else None,
        max_summed=MAX_SUMMED_CALLS,
        link=link,
        most_calls=MAX_CALLS,
    )


@bp.get("/calls/<call_id>")
def call(call_id: str) -> Response:
    """One call: its fields, summary, recording and transcript."""
    try:
        record = app_state().history.find(call_id)
        events = app_state().history.events_of(record.call_id) if record is not None else []
        link_id = record.demo_link_id if record is not None else None
        link_revoked_at = app_state().history.demo_link_revoked_at(link_id) if link_id else None
    except CallLogError as error:
        return call_log_unavailable(error)
    if record is None:
        return render_error_page(404, title="No such call", message="There is no call with that id.")
    back = safe_next(request.args.get("back"))
    spec = registry().get(record.provider)
    no_summary = "No summary yet."
    if spec is not None and not spec.writes_summaries:
        no_summary = f"No summary: {spec.title} calls have none here."
    return page(
        "admin/call.html",
        call=admin_call_detail(record),
        back=back,
        no_summary=no_summary,
        events=[event_line(event) for event in events],
        link_revoked_at=iso(link_revoked_at),
    )


@bp.get("/calls.csv")
def export() -> Response:
    """Every call the filters match (all pages) as CSV, streamed.

    The first batch is read before the answer starts: a call log that cannot be read is the list's
    503, where a 200 with the header alone said "no call matches" (see csv_lines for a later failure).
    """
    try:
        filters = parse_filter(CallFilter, request.args, form=True)
    except InvalidQuery as error:
        return render_error_page(400, title="Filters not valid", message=error.message)
    rows = app_state().history.iter_search(filters.query())
    try:
        first = list(islice(rows, 1))
    except CallLogError as error:
        return call_log_unavailable(error)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    response = Response(stream_with_context(csv_lines(chain(first, rows))), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="webcall-calls-{stamp}.csv"'
    return no_store(response)


@bp.get("/live.json")
def live() -> Response:
    """How many calls are in progress now (the page polls this)."""
    try:
        count = app_state().history.count_live()
    except CallLogError as error:
        raise CallLogUnavailable(retry_after_s=5) from error
    return no_store(jsonify(in_progress=count))


def event_line(event: EventState) -> dict[str, Any]:
    """One of a call's events as its page shows it: what it is, and whether it reached the URL."""
    return {
        "type": event.type,
        "event_id": event.event_id,
        "state": event.state,
        "attempts": event.attempts,
        "last_error": event.last_error,
        "sent_at": iso(event.sent_at),
        "next_attempt_at": iso(event.next_attempt_at),
    }


def csv_lines(records: Iterator[CallRecord]) -> Iterator[str]:
    """The header, then the calls, one line each, in pieces of about ``CSV_CHUNK_CHARS``; cells a
    spreadsheet would run as formulas are defused.

    After each piece the worker's other requests get their turn: a sleep runs a round of
    gevent's loop in gunicorn's gevent worker (``sleep(0)`` does not: it can resume before the
    loop polls its sockets) and hands over the GIL in a threaded one. Without it a gevent
    worker wrote the whole file before serving anything else: 20,000 calls take most of a
    second, and every call in flight in that worker waited for them.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def taken() -> str:
        """What the buffer holds, emptying it."""
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield taken()
    try:
        for record in records:
            values = admin_call(record).model_dump()
            writer.writerow([safe_cell(values[column]) for column in CSV_COLUMNS])
            if buffer.tell() >= CSV_CHUNK_CHARS:
                yield taken()
                time.sleep(CSV_PAUSE_S)
    except CallLogError as error:
        # The 200 has gone, and a file ended here would look whole. Raised, it makes the server
        # (gunicorn's workers, Werkzeug's) close the connection without the chunked body's last
        # chunk: the browser reports a failed download, not a shorter file.
        log.error("admin: the CSV export stopped, the call log failed: %s", error)
        raise
    if buffer.tell():
        yield taken()


def call_log_unavailable(error: CallLogError) -> Response:
    """The page for a call log that failed (why goes to the log, not to the page)."""
    log.error("admin: the call log failed: %s", error)
    return render_error_page(503, title="Call log unavailable", message="Please try again in a moment.")


def safe_cell(value: Any) -> Any:
    """Text a spreadsheet would read as a formula gets a leading apostrophe (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this view only (never another site), on one line
    (Werkzeug refuses a Location with a line break in it: that was a 500)."""
    if not target or CONTROL_CHAR.search(target):
        return "/admin"
    if target.startswith("/admin") and not target.startswith("/admin//") and "\\" not in target:
        return target
    return "/admin"


def _form_next() -> str | None:
    """The sign-in form's ``next``, or None when its body cannot be read.

    A refused sign-in may carry any body: one past the size limit raises a 413 when read, one
    cut short (the client went away) a 400, and raised inside the 429's handler either was a 500.
    """
    try:
        return request.form.get("next")
    except HTTPException:
        return None


def page(template: str, *, status: int = 200, **context: Any) -> Response:
    """An admin page under the strict CSP, never cached."""
    if signed_in():
        context.setdefault("live", _live_count())
    html = render_template(template, csrf_token=csrf_token(), **context)
    return page_headers(make_response(html, status), microphone=False, cacheable=False)


def no_store(response: Response) -> Response:
    """Call records are personal data: no cache keeps them."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _listing(filters: CallFilter, records: list[CallRecord], total: int) -> dict[str, Any]:
    """What the list page shows: the rows, the paging and the filter form's choices."""
    defaults = CallFilter.model_validate({})
    chosen = {k: v for k, v in filters.model_dump(exclude={"page"}).items() if v != getattr(defaults, k)}
    pages = min(MAX_PAGE, max(1, -(-total // filters.page_size)))  # past its last page, narrower filters

    def page_link(number: int) -> str:
        return "/admin?" + urlencode({**chosen, "page": number})

    first = (filters.page - 1) * filters.page_size + 1 if records else 0
    query = filters.query()
    return {
        **_form(filters.model_dump(include=set(FORM_FIELDS))),
        "calls": [admin_call(r) for r in records],
        # One link's calls: the filter says its label (its calls carry it).
        "demo_link_name": next((r.demo_link_label for r in records if r.demo_link_label), None),
        "filters": filters,
        "total": total,
        "first": first,
        "last": first + len(records) - 1 if records else 0,
        "pages": pages,
        # Past the end (an old link, narrower filters): the way back is the last page with calls.
        "last_page": page_link(pages) if filters.page > pages else None,
        "backwards": bool(query.since and query.until and query.since >= query.until),
        "previous": page_link(min(filters.page - 1, pages)) if filters.page > 1 else None,
        "next": page_link(filters.page + 1) if filters.page < pages else None,
        "csv": "/admin/calls.csv?" + urlencode({k: v for k, v in chosen.items() if k != "page_size"}),
        "here": "/admin?" + urlencode({**chosen, "page": filters.page}),
        # Under the chart of the calls a day, each day to its calls, by the same other filters.
        "day_calls": lambda day: "/admin?" + urlencode({**chosen, **_day_bounds(day, chosen, query)}),
    }


def _day_bounds(day: str, chosen: dict[str, Any], query: CallQuery) -> dict[str, str]:
    """``since`` and ``until`` for one day's calls: the whole day, except on the filter's own first
    or last day when it names a moment in it (11:30), which stays: the day's row counted from it."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC)

    def inside(moment: datetime | None) -> bool:
        return moment is not None and start < moment < start + timedelta(days=1)

    return {
        "since": chosen["since"] if inside(query.since) else day,
        "until": chosen["until"] if inside(query.until) else day,
    }


def _refused_listing(problem: FilterProblem) -> dict[str, Any]:
    """The list page for filters that are not valid: the form as it was sent, the field at fault
    marked, and no calls (nor a CSV link or a count that would be those of no filter at all)."""
    return {**_form(request.args), "problem": problem, "labels": FORM_FIELDS}


def _form(values: Any) -> dict[str, Any]:
    """The filter form's values (as sent: a wrong one stays, to be corrected) and its choices."""
    typed = {name: str(values.get(name) or "") for name in FORM_FIELDS}
    return {
        "form": typed,
        # A date-time from a link cannot show in a date box (re-sent, it would be lost), nor can
        # a day there is not: a text box.
        "moment_inputs": {
            name: "date" if not typed[name] or _day(typed[name]) else "text" for name in ("since", "until")
        },
        "agents": sorted(app_state().settings.agents),
        "providers": provider_names(),
        "statuses": CALL_STATUSES,
        "channels": CHANNELS,
        "ratings": RATINGS,
    }


def _day(value: str) -> bool:
    """True for a day a date box can show (``2026-03-01``; not ``2026-02-30``)."""
    try:
        return bool(DAY.fullmatch(value)) and bool(date.fromisoformat(value))
    except ValueError:
        return False


def _live_count() -> int | None:
    """Calls in progress, or None when the call log cannot say."""
    try:
        return app_state().history.count_live()
    except CallLogError:
        return None
