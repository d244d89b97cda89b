"""The admin API's models: the filters a list takes and the calls it answers with.

The HTML view reads its filter form with the same :class:`CallFilter`, and the OpenAPI
document is generated from these models (``webapp.ops.openapi``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal, TypeVar, cast, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
)

from ..calls.models import RATINGS, Rating
from ..catalogue import SLUG_PATTERN
from ..errors import InvalidQuery
from ..history.payloads import call_fields, iso
from ..history.store import (
    ANY_DEMO_LINK,
    CallEventType,
    CallQuery,
    CallRecord,
    CallSummary,
    DayCount,
    EventFilter,
    EventType,
    LoggedEvent,
)
from ..pages.demo_links import LINK_ID_PATTERN
from ..providers import CALL_STATUSES, TranscriptLine, provider_names

MAX_PAGE = 10_000
MAX_PAGE_SIZE = 200
MAX_SEARCH_CHARS = 200
CHART_DAYS = 30  # the days the summary counts one by one without a start date
MOST_DAYS = 92  # and at most, whatever the dates asked for (the latest)
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
# The seconds of a time (hh:mm:ss or hhmmss) when they are 60, before any fraction and zone. Python
# takes any one character between the date and the time ("T", a space, ...): the hours follow a non-digit.
_LEAP_SECOND = re.compile(r"(?<!\d)(\d{2}:?\d{2}:?)60(?=(?:[.,]\d+)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$)")
# An unencoded "+01:00" after a time in a query string arrives as " 01:00".
_LOST_PLUS = re.compile(r"(?<!\d)(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")
Status = Literal["created", "in_progress", "completed", "failed", "no_answer", "busy", "voicemail", "unknown"]
assert set(Status.__args__) == set(CALL_STATUSES)  # type: ignore[attr-defined]  # one vocabulary


def _providers() -> list[JsonValue]:
    """Every provider name (the values ``provider`` may take)."""
    return list(provider_names())


DATE_WORDS = "must be a date or a date and time, like 2026-03-01 or 2026-03-01T12:00:00Z"


def _moment(value: str) -> str:
    """An ISO 8601 date or date-time (checked here, converted by :func:`moment_of`)."""
    try:
        moment_of(value)
    except ValueError:  # Python's words would echo the value, upper-cased
        raise ValueError(DATE_WORDS) from None
    return value


_WEEK = re.compile(r"\d{4}-?W\d{2}")  # an ISO week date without its day


def moment_of(value: str, *, until: bool = False) -> datetime:
    """An ISO 8601 date or date-time as aware UTC; no zone means UTC.

    A date is its day's first moment, or as ``until`` (created before) the next day's, so an
    ``until`` date includes that whole day. Every form of date counts (``2026-03-01``,
    ``20260301``, ``2026-W09-7``; ``2026-W09`` is its Monday, or as ``until`` the whole week), and
    an ``until`` that ends past the last day there is (``9999-W52``) is the end of time; a leap
    second (``23:59:60``, which RFC 3339 allows) is read as the second before it, and ``:60``
    anywhere else is refused.
    """
    text = value.strip().upper()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        if not until:
            return datetime.combine(day, time.min, tzinfo=UTC)
        span = timedelta(days=7 if _WEEK.fullmatch(text) else 1)  # a week without its day: all of it
        if day > date.max - span:  # the last day or week there is: until the end of time
            return datetime.max.replace(tzinfo=UTC)
        return datetime.combine(day + span, time.min, tzinfo=UTC)
    text = _LOST_PLUS.sub(r"\1+\2", text)  # put the sign back
    parsed = datetime.fromisoformat(_LEAP_SECOND.sub(r"\g<1>59", text))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # within a few hours of year 1 or 9999
        return datetime.min.replace(tzinfo=UTC) if parsed.year < 5000 else datetime.max.replace(tzinfo=UTC)


Moment = Annotated[
    str,
    AfterValidator(_moment),
    Field(json_schema_extra={"anyOf": [{"format": "date-time"}, {"format": "date"}]}),
]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=64)]
Search = Annotated[str, StringConstraints(max_length=MAX_SEARCH_CHARS, pattern=NO_CONTROL)]
DemoLinkFilter = Annotated[
    str, StringConstraints(pattern=f"^(?:{LINK_ID_PATTERN.strip('^$')}|{ANY_DEMO_LINK})$")
]


class CallSelection(BaseModel):
    """Which calls (query parameters; each one optional): the summary's, and the list's before paging."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    agent: Slug | None = Field(None, description="The agent's slug.")
    provider: str | None = Field(
        None, json_schema_extra=lambda schema: schema.update(enum=_providers()), description="The provider."
    )
    status: Status | None = None
    channel: Literal["web", "phone"] | None = None
    feedback: Rating | None = Field(
        None, description="The caller's rating (of agents that ask for feedback)."
    )
    demo_link: DemoLinkFilter | None = Field(
        None, description="A demo link's id (`dl_…`): its calls; `any`: every call made through a demo link."
    )
    since: Moment | None = Field(
        None, description="Created at or after (ISO 8601 date or date-time; UTC if no zone)."
    )
    until: Moment | None = Field(None, description="Created before (a date includes that whole day).")
    q: Search | None = Field(
        None,
        description="Text in the ids, agent, room, origin, outcome, summary, transcript, feedback or demo "
        "link.",
    )

    def days(self, today: date) -> tuple[date, date] | None:
        """The days (UTC, first and last) to count the calls of, one by one: those of the dates
        asked for up to ``today``, or the last ``CHART_DAYS`` without ``since``; ``MOST_DAYS`` at
        most, the latest. None when the dates asked for are all to come, or all within three months
        of the year 1 (no call was made then)."""
        query = self.query()
        try:
            last = (
                today if query.until is None else min(today, (query.until - timedelta(microseconds=1)).date())
            )
            first = last - timedelta(days=CHART_DAYS - 1) if query.since is None else query.since.date()
            first = max(first, last - timedelta(days=MOST_DAYS - 1))
        except OverflowError:
            return None
        return (first, last) if first <= last else None

    def query(self) -> CallQuery:
        """The store's query for these filters (an empty text box is no filter)."""
        return CallQuery(
            agent=self.agent,
            provider=self.provider,
            status=self.status,
            channel=self.channel,
            feedback=self.feedback,
            demo_link=self.demo_link,
            since=moment_of(self.since) if self.since else None,
            until=moment_of(self.until, until=True) if self.until else None,
            text=self.q.strip() or None if self.q else None,
        )


class CallFilter(CallSelection):
    """Which calls to list, newest first, and which page of them."""

    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)

    def query(self) -> CallQuery:
        """The store's query for these filters and this page."""
        return replace(super().query(), page=self.page, page_size=self.page_size)


Selection = TypeVar("Selection", bound=CallSelection)


def parse_filter(model: type[Selection], args: Any, *, form: bool = False) -> Selection:
    """Validate query parameters (a ``MultiDict``: the first value of each), or ``InvalidQuery``.

    A parameter left empty (``?agent=&status=``, a form's blank field) means "any". The API
    refuses names it does not document (a typo would otherwise list every call), except a
    ``_`` cache-buster; a form may carry more.
    """
    filters = read_filter(model, args, form=form)
    if isinstance(filters, FilterProblem):
        raise InvalidQuery(filters.message)
    return filters


@dataclass(frozen=True)
class FilterProblem:
    """Why query parameters are no filter: the one at fault (a field of the filter's model, or
    ``query`` for a name it does not have) and what it must be."""

    field: str
    message: str  # the API's words: "since is not valid: must be a date ..."
    reason: str  # the words for the form, beside the field: "Must be a date ..."


def read_filter(model: type[Selection], args: Any, *, form: bool = False) -> Selection | FilterProblem:
    """The filters in query parameters (as :func:`parse_filter` reads them), or what is wrong with them."""
    values = {name: args.get(name) for name in model.model_fields if args.get(name) not in (None, "")}
    for name in values if hasattr(args, "getlist") else ():
        if len([value for value in args.getlist(name) if value != ""]) > 1:  # not "either": one value
            message = f"{name} is given more than once: give it once."
            return FilterProblem(name, message, "Give one value.")
    if not form:
        extra = set(args) - set(model.model_fields)
        unknown = sorted(name for name in extra if not name.startswith("_"))
        if unknown:
            message = f"Unknown query parameter {unknown[0][:64]!r}."
            return FilterProblem("query", message, message)
    if values.get("provider") is not None and values["provider"] not in provider_names():
        reason = "must be one of " + ", ".join(provider_names())
        return FilterProblem("provider", f"provider {reason}.", as_sentence(reason))
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problem = error.errors(include_url=False, include_input=False)[0]
        name = str(problem["loc"][0]) if problem["loc"] else "query"
        reason = problem["msg"].removeprefix("Value error, ")
        return FilterProblem(name, f"{name} is not valid: {reason}.", as_sentence(reason))


def as_sentence(words: str) -> str:
    """``must be ...`` → ``Must be ....``"""
    return words[:1].upper() + words[1:] + ("" if words.endswith(".") else ".")


class TranscriptEntry(BaseModel):
    """One utterance."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="`agent`, `user` (the caller), or the provider's own word.")
    text: str
    at: str | None = Field(json_schema_extra={"format": "date-time"})


class AdminCall(BaseModel):
    """One call in the log."""

    model_config = ConfigDict(extra="forbid")

    call_id: str = Field(description="Ours (`wc_…`).")
    provider_call_id: str | None = Field(description="The provider's; none when the call was never created.")
    agent: str | None
    provider: str
    channel: Literal["web", "phone"]
    status: Status
    outcome: str | None = Field(
        description="`created`, or the error code our API answered; none for calls seen only at the provider."
    )
    started_at: str | None = Field(json_schema_extra={"format": "date-time"})
    ended_at: str | None = Field(json_schema_extra={"format": "date-time"})
    duration_s: float | None
    cost: float | None
    currency: str | None
    summary: str | None
    origin: str | None = Field(description="The page that asked for the call.")
    room: str | None
    request_id: str | None = Field(description="The `X-Request-ID` of the request that asked for the call.")
    phone_number: str | None = Field(description="A phone call's destination, masked (`+1 415 ***-**71`).")
    feedback_rating: Rating | None = Field(description="The caller's rating after the call (`good`, `bad`).")
    feedback_comment: str | None = Field(description="What the caller added to their rating.")
    feedback_at: str | None = Field(json_schema_extra={"format": "date-time"})
    demo_link_id: str | None = Field(
        description="The signed sales-demo link the call came through (`dl_…`; `flask demo-link` makes them)."
    )
    demo_link_label: str | None = Field(
        description="That link's label (`--label`), or else its preset variables (`company=Acme, name=Jo`)."
    )
    created_at: str = Field(json_schema_extra={"format": "date-time"})


class CallEvent(BaseModel):
    """What ``WEBCALL_EVENTS_URL`` is sent (``history.events``): one event of one call."""

    model_config = ConfigDict(extra="forbid")

    type: CallEventType
    timestamp: str = Field(json_schema_extra={"format": "date-time"}, description="When it happened.")
    data: AdminCall = Field(description="The call as it was then.")


class AdminEvent(BaseModel):
    """One event kept for the URL, and where it is."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(description="Its `webhook-id` (`evt_…`), the same on every attempt.")
    type: EventType
    call_id: str | None = Field(description="Our id for its call (`wc_…`); null for a demo link's event.")
    link_id: str | None = Field(description="Its demo link's id (`dl_…`) for `demo_link.opened`; else null.")
    label: str | None = Field(description="That demo link's label, when it was made here.")
    agent: str | None
    state: EventFilter
    occurred_at: str = Field(json_schema_extra={"format": "date-time"})
    attempts: int = Field(description="The attempts made at posting it.")
    last_error: str | None = Field(description="Why the last attempt failed (`HTTP 503`, `timed out`).")
    next_attempt_at: str | None = Field(json_schema_extra={"format": "date-time"})
    sent_at: str | None = Field(json_schema_extra={"format": "date-time"})


class WebhookTestData(BaseModel):
    """A test event's data: words, no call."""

    model_config = ConfigDict(extra="forbid")

    message: str


class WebhookTest(BaseModel):
    """What ``WEBCALL_EVENTS_URL`` is sent when an operator tries it (the admin view's Events page)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook.test"]
    timestamp: str = Field(json_schema_extra={"format": "date-time"}, description="When it was sent.")
    data: WebhookTestData


class AdminCallDetail(AdminCall):
    """One call with its transcript and recording."""

    transcript: list[TranscriptEntry]
    recording_url: str | None


class CallList(BaseModel):
    """``GET /api/admin/calls``: one page of calls, newest first."""

    model_config = ConfigDict(extra="forbid")

    calls: list[AdminCall]
    page: int
    page_size: int
    total: int = Field(description="Calls matching the filters, on every page.")


class Durations(BaseModel):
    """How long the calls lasted, of those whose duration is known."""

    model_config = ConfigDict(extra="forbid")

    calls: int = Field(description="Calls with a duration.")
    total_s: float
    average_s: float | None = Field(description="None when no call has a duration.")


class CostTotal(BaseModel):
    """What the calls in one currency cost, as their providers reported it."""

    model_config = ConfigDict(extra="forbid")

    currency: str | None = Field(description="As the provider wrote it; none when it named none.")
    total: float
    calls: int = Field(description="Calls with a cost in this currency.")


class DayTotal(BaseModel):
    """The matching calls made on one day (UTC)."""

    model_config = ConfigDict(extra="forbid")

    day: date
    calls: int
    refused: int = Field(description="Requests the API refused that day.")


class CallsSummary(BaseModel):
    """``GET /api/admin/summary``: what the calls the filters match add up to."""

    model_config = ConfigDict(extra="forbid")

    calls: int = Field(description="Calls matching the filters (the requests refused apart).")
    refused: int = Field(description="Requests the API refused (their `outcome` an error code).")
    statuses: dict[Status, int] = Field(description="The calls by status (every status, 0 included).")
    durations: Durations
    costs: list[CostTotal] = Field(description="One total per currency, the largest number of calls first.")
    feedback: dict[Rating, int] = Field(description="The callers' ratings (of agents that ask for feedback).")
    days: list[DayTotal] = Field(
        description=f"The calls by the day they were made (UTC), oldest first, every day of `since` to "
        f"`until` (up to today; the last {CHART_DAYS} days without `since`), {MOST_DAYS} days at most: "
        "the latest."
    )


def calls_summary(summary: CallSummary, days: list[DayCount]) -> CallsSummary:
    """The store's sums as the API shows them."""
    # The currency with the most calls first; none named last.
    costs = sorted(summary.costs.items(), key=lambda item: (-item[1][1], item[0] is None, item[0] or ""))
    return CallsSummary(
        calls=summary.calls,
        refused=summary.refused,
        statuses={status: summary.statuses.get(status, 0) for status in get_args(Status)},
        durations=Durations(
            calls=summary.timed,
            total_s=summary.duration_s,
            average_s=summary.duration_s / summary.timed if summary.timed else None,
        ),
        costs=[CostTotal(currency=currency, total=total, calls=n) for currency, (total, n) in costs],
        feedback={rating: summary.ratings.get(rating, 0) for rating in RATINGS},
        days=[DayTotal(day=d.day, calls=d.calls, refused=d.refused) for d in days],
    )


def admin_call(record: CallRecord) -> AdminCall:
    """A stored call as the API shows it."""
    return AdminCall(**call_fields(record))


def admin_call_detail(record: CallRecord) -> AdminCallDetail:
    """A stored call with its transcript."""
    return AdminCallDetail(
        **call_fields(record),
        transcript=[transcript_entry(line) for line in record.transcript or ()],
        recording_url=record.recording_url,
    )


def transcript_entry(line: TranscriptLine) -> TranscriptEntry:
    """One stored utterance."""
    return TranscriptEntry(role=line.role, text=line.text, at=iso(line.at))


def admin_event(event: LoggedEvent) -> AdminEvent:
    """What the Events page and the admin API show of ``event``."""
    of_link = event.type.startswith("demo_link.")
    return AdminEvent(
        event_id=event.event_id, type=cast(EventType, event.type), call_id=None if of_link else event.call_id,
        link_id=event.call_id if of_link else None, label=event.label, agent=event.agent,
        state=event.state, occurred_at=iso(event.occurred_at) or "", attempts=event.attempts,
        last_error=event.last_error, next_attempt_at=iso(event.next_attempt_at), sent_at=iso(event.sent_at),
    )  # fmt: skip
