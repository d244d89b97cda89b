"""The only code that reads and writes the call log.

A call is recorded once, when someone asks for it (:meth:`CallStore.record_created`,
:meth:`CallStore.record_failed`: one INSERT in one round trip, committed before the answer
leaves), and
later completed by what its provider reports (:meth:`CallStore.upsert_provider_call`
from the history sync, :meth:`CallStore.apply_webhook` from a webhook), keyed by the
provider's call id: a call placed here and seen again in the provider's list is one row.
With events on (``WEBCALL_EVENTS_URL``), a call created, started, ended or rated, and a demo link
opened the first time, also keeps its event (of the types asked for), in the same transaction;
``history.events`` sends them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    Table,
    and_,
    case,
    column,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    table,
    true,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.sql.util import ClauseAdapter

from ..providers import FINAL_STATUSES, Channel, ProviderCall, TranscriptLine
from .database import RowInserter, open_engine, upgrade, writing
from .payloads import call_fields, event_body, link_fields
from .schema import (
    SEARCHED,
    StoredText,
    call_events,
    calls,
    complete_listings,
    demo_link_opens,
    demo_links,
    leases,
    revoked_demo_links,
    searched_text,
    unfinished_listings,
    webhook_deliveries,
)

log = logging.getLogger(__name__)
LIVE_WINDOW = timedelta(hours=1)  # a call nobody reports an end for counts as live this long
LIVE_STATUSES = ("created", "in_progress")
LIVE_OR_FINAL = ("in_progress", *FINAL_STATUSES)  # a call in one has had its call.started, or never will
PRUNE_BATCH = 1000  # records a pruning transaction deletes
# SQLite's full-text index of the search (migration 0018) hands over every call that may hold the
# text, each then read and put in order: a word in most calls is found sooner walking the calls
# newest first and reading each one's text. Measured at 200,000 calls (bench/README.md): about
# 7.6 µs a call found through the index, 21 µs a call read by the walk (SEARCH_WALK_COST: about 3
# times as much), and a page of the walk reads about (its offset + its size) × calls / found.
# PostgreSQL's index (below) walks too, by the same rule (its ratio nearer 1: it walks less often).
SEARCH_WALK_COST = 3
# PostgreSQL's trigram index hands over its calls to be read again by one process, 9.5 µs each at
# 200,000 calls, where a parallel scan of the columns (which stops at a call's first match) takes
# about 2.3 µs a call kept: a text in more than SEARCH_SCAN_SHARE of a sample of about
# SEARCH_SAMPLE calls is looked for in the columns (a word in most calls: the count 1132 → 382 ms,
# the page 1436 → 2 ms). A log of fewer than SEARCH_SAMPLED_FROM calls is searched by the index.
SEARCH_SAMPLE = 1000
SEARCH_SAMPLED_FROM = 10_000
SEARCH_SCAN_SHARE = 0.25
SEARCH_BATCH = 1024  # SQLite: new calls are indexed this many at a time (migration 0018)
SEARCH_BATCH_MOST = 5000  # calls indexed in one transaction (SQLite's write lock held for it)
_search = table("calls_search", column("rowid"), column("calls_search"), column("body"))
_search_progress = table("search_progress", column("through"))
# Columns of a call in lists (the transcript stays behind until one call is opened).
_UNLISTED = ("transcript", "transcript_text", "detail_at", "detail_asked_at")
_LIST_COLUMNS = [c for c in calls.c if c.name not in _UNLISTED]
Upserted = Literal["new", "updated"]
CallEventType = Literal["call.created", "call.started", "call.ended", "call.rated"]
EventType = Literal["call.created", "call.started", "call.ended", "call.rated", "demo_link.opened"]
ANY_DEMO_LINK = "any"  # CallQuery.demo_link: every call that came through a demo link
Applied = Literal["applied", "duplicate", "unknown"]


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def new_event_id() -> str:
    """An event's id (its ``webhook-id``): ``evt_`` and 24 hex digits."""
    return "evt_" + secrets.token_hex(12)


def new_call_id() -> str:
    """Our id for a call: ``wc_`` and 20 random hex digits."""
    return "wc_" + secrets.token_hex(10)


def client_reference(key: str, address: str) -> str:
    """A privacy-safe stand-in for the caller's address: a keyed hash, never the address.

    The same caller gets the same reference while the key stays the same, so repeated
    calls can be told apart from many callers; the address cannot be read back.
    """
    return hmac.new(key.encode(), address.encode(), hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class CallAttempt:
    """What the call log keeps of a request for a call, before the provider answers."""

    agent: str
    provider: str
    provider_agent_id: str | None = None
    origin: str | None = None
    client_ref: str | None = None
    request_id: str | None = None  # the X-Request-ID answered: a screenshot of an error leads here
    phone_number: str | None = None  # a phone call's destination, masked
    demo_link_id: str | None = None  # the signed demo link the call came through (dl_…)
    demo_link_label: str | None = None  # its label, or its variables written out
    channel: Channel = "web"
    received_at: datetime = field(default_factory=now)


@dataclass(frozen=True)
class CallRecord:
    """One call as the log has it (``transcript`` only when one call is read)."""

    call_id: str
    provider: str
    provider_call_id: str | None
    agent: str | None
    provider_agent_id: str | None
    channel: str
    room: str | None
    origin: str | None
    client_ref: str | None
    request_id: str | None
    phone_number: str | None
    outcome: str | None
    status: str
    provider_status: str | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    cost: float | None
    cost_currency: str | None
    summary: str | None
    recording_url: str | None
    created_at: datetime
    updated_at: datetime
    feedback_rating: str | None = None  # the caller's, after the call: good | bad
    feedback_comment: str | None = None
    feedback_at: datetime | None = None
    demo_link_id: str | None = None  # the signed demo link it came through (dl_…)
    demo_link_label: str | None = None
    transcript: tuple[TranscriptLine, ...] | None = None


@dataclass(frozen=True)
class CallQuery:
    """A filtered, paged view of the log, newest first; every filter is optional."""

    agent: str | None = None
    provider: str | None = None
    status: str | None = None
    channel: str | None = None
    feedback: str | None = None  # the caller's rating: good | bad
    demo_link: str | None = None  # a demo link's id, or ANY_DEMO_LINK
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    text: str | None = None  # in ids, agent, room, origin, outcome, summary, transcript, feedback, demo link
    page: int = 1
    page_size: int = 50


@dataclass(frozen=True)
class CallSummary:
    """What the calls a query matches add up to (its paging aside).

    A request we refused (its outcome an error code) is no call: it is counted apart, and the
    statuses, durations and costs are the calls'.
    """

    refused: int
    statuses: dict[str, int]  # the calls by status
    timed: int  # calls with a duration
    duration_s: float  # all of them together
    costs: dict[str | None, tuple[float, int]]  # currency: (sum, calls)
    ratings: dict[str, int]  # the callers' ratings

    @property
    def calls(self) -> int:
        """The calls matched, refused requests aside."""
        return sum(self.statuses.values())


@dataclass(frozen=True)
class DayCount:
    """The calls a query matches that were made on one day (UTC), and the requests refused."""

    day: date
    calls: int
    refused: int


@dataclass(frozen=True)
class LinkMade:
    """A demo link as it was made here (the admin view, the CLI)."""

    link_id: str
    agent: str
    label: str | None  # its label, or its variables written out
    expires_at: datetime
    max_calls: int | None
    made_at: datetime
    made_by: str  # admin | cli


@dataclass(frozen=True)
class LinkState:
    """One demo link as the call log knows it: how it was made (when it was made here), its calls,
    whether it was revoked, and how often its page was opened."""

    link_id: str
    label: str | None
    agent: str | None
    calls: int  # placed through it
    refused: int  # requests refused (an expired or revoked link, a limit, ...)
    last_at: datetime | None  # the last request through it
    revoked_at: datetime | None
    made: LinkMade | None  # None for a link made elsewhere (before links were kept, or signed by hand)
    opened: LinkOpens | None  # None until its page is opened in a browser

    @property
    def latest_at(self) -> datetime:
        """When it was last made, opened or tried."""
        made_at = self.made.made_at if self.made else None
        opened_at = self.opened.last_opened_at if self.opened else None
        moments = [m for m in (self.last_at, made_at, opened_at) if m is not None]
        return max(moments)


@dataclass(frozen=True)
class LinkGrant:
    """What a demo link made here grants now: as it was signed, or more once extended."""

    expires_at: datetime
    max_calls: int | None  # None: any number


@dataclass(frozen=True)
class LinkStanding:
    """What a demo link's page and calls check in the call log: whether it was revoked, and what
    it grants when it was made here."""

    revoked_at: datetime | None
    grant: LinkGrant | None  # None for a link made elsewhere: what is signed in it holds


@dataclass(frozen=True)
class LinkExtension:
    """More for a demo link made here: a later expiry, more calls (``calls``: ``max_calls`` is
    asked for, None meaning any number), or both."""

    until: datetime | None = None
    calls: bool = False
    max_calls: int | None = None


Extended = Literal["extended", "not_later", "not_more", "unknown"]


@dataclass(frozen=True)
class LinkOpens:
    """How often a demo link's page was opened in a browser (reloads count), first and last."""

    opens: int
    first_opened_at: datetime
    last_opened_at: datetime


@dataclass(frozen=True)
class UnfinishedListing:
    """A provider's call list not read in full since ``since`` (None: since the beginning).

    ``cursor``, when kept: every call above it in the list (newest first) was read by a run that
    began at or after ``began_at``, so listing on from it, and the calls made since then, is enough.
    ``before``, likewise for lists by start time: every call started from then to ``began_at``.
    """

    since: datetime | None
    began_at: datetime | None = None
    cursor: str | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class PendingEvent:
    """An event waiting to be sent to the site's own URL (``history.events``)."""

    id: int
    event_id: str  # evt_…
    type: str
    call_id: str
    body: str
    occurred_at: datetime
    attempts: int  # made before now


EventFilter = Literal["waiting", "given_up", "sent"]


@dataclass(frozen=True)
class EventState:
    """Where one of a call's events is (the admin view shows them)."""

    event_id: str
    type: str
    occurred_at: datetime
    attempts: int
    next_attempt_at: datetime | None  # None: sent, or given up
    sent_at: datetime | None
    last_error: str | None

    @property
    def state(self) -> EventFilter:
        """Sent, waiting to be (tried again), or given up."""
        return "sent" if self.sent_at else "waiting" if self.next_attempt_at else "given_up"


@dataclass(frozen=True)
class LoggedEvent(EventState):
    """An event of any call or demo link (the admin view's Events page): which, of which agent."""

    call_id: str  # the call's id, or the demo link's for a demo_link event
    agent: str | None
    label: str | None  # a demo link's (made here)


@dataclass(frozen=True)
class EventCounts:
    """Where the events are: waiting to be sent (and since when), given up, sent lately."""

    waiting: int
    oldest_waiting_at: datetime | None  # when the oldest waiting one happened
    given_up: int
    sent: int  # since the moment asked about


TextVia = Literal["fts", "trigrams", "columns"]  # how a search's text is looked for (_matching)


class CallLogError(Exception):
    """The call log could not be used (its database is down, full or locked too long)."""


@contextmanager
def _recording() -> Iterator[None]:
    """Translate the database's failures into :class:`CallLogError`, once, at the boundary."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise CallLogError(f"{type(exc).__name__}: {str(getattr(exc, 'orig', None) or exc)[:200]}") from exc


def _within(connection: Connection, seconds: float | None) -> None:
    """The statements of ``connection``'s transaction give up after ``seconds`` (a read that has
    someone waiting, such as a scrape): PostgreSQL's statement timeout, lock waits included, in
    place of the engine's 10 s. SQLite's readers never wait for a writer."""
    if seconds is not None and connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(seconds * 1000))}")


class CallStore:
    """The call log on one database (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, events: Collection[str] = ()) -> None:
        self.engine: Engine = open_engine(url)
        self.insert_call = RowInserter(self.engine, calls)  # the hot path's one INSERT
        # The events (EventType) to keep for the site's own URL, with each change it hears of
        # (history.events); none when events are off.
        self.events = frozenset(events)
        self._fts: bool | None = None  # SQLite: whether the search's index is there (read once)

    def migrate(self) -> None:
        """Create or upgrade the tables (safe to run from every worker at once)."""
        upgrade(self.engine)
        self._fts = None

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # --- recording our own calls (the hot path: one INSERT each) ---------------------------

    def record_created(self, attempt: CallAttempt, provider_call_id: str, room: str | None) -> str:
        """Record a call the provider created; our id for it. Raises :class:`CallLogError`."""
        room = room or None
        values = self._attempt_values(attempt, outcome="created", status="created")
        values.update(provider_call_id=provider_call_id, room=room)
        row_id: int | None
        with _recording():
            try:
                if "call.created" in self.events:  # the call and its event in one transaction
                    with writing(self.engine) as connection:
                        inserted = connection.execute(insert(calls).values(values))
                        row_id = inserted.lastrowid if self.engine.dialect.name == "sqlite" else None
                        _emit(connection, "call.created", values["call_id"], attempt.received_at)
                else:
                    row_id = self.insert_call(values)
                self._index_now_and_then(row_id)
                return str(values["call_id"])
            except IntegrityError:
                # The provider's history reached us first (or it replayed a call): one call, one row.
                return self._claim(attempt, provider_call_id, room)

    def record_feedback(self, call_id: str, rating: str, comment: str | None, at: datetime) -> bool:
        """Keep the caller's rating of our call ``call_id`` and, when given, their comment (a
        later rating keeps an earlier comment); whether the call was there. Raises
        :class:`CallLogError`."""
        values: dict[str, Any] = {"feedback_rating": rating, "feedback_at": at, "updated_at": at}
        if comment is not None:
            values["feedback_comment"] = comment or None
        with _recording(), writing(self.engine) as connection:
            result = connection.execute(update(calls).where(calls.c.call_id == call_id).values(**values))
            if result.rowcount and "call.rated" in self.events:
                _emit(connection, "call.rated", call_id, at)
        return bool(result.rowcount)

    def record_failed(self, attempt: CallAttempt, code: str) -> str:
        """Record a request that ended in error ``code``; our id for it. Raises :class:`CallLogError`."""
        values = self._attempt_values(attempt, outcome=code, status="failed")
        with _recording():
            row_id = self.insert_call(values)
        self._index_now_and_then(row_id)
        return str(values["call_id"])

    def _index_now_and_then(self, row_id: int | None) -> None:
        """Index the calls made since the last batch once there are SEARCH_BATCH of them (on
        SQLite: the call that makes them so does it, after its own commit). A failure is no
        failure of the call: the search reads the calls not indexed yet itself."""
        if row_id is None or row_id % SEARCH_BATCH:
            return
        try:
            self.index_new_calls()
        except CallLogError as exc:
            log.warning("call log: new calls not indexed for the search yet: %s", exc)

    def index_new_calls(self) -> int:
        """Add the calls made since the last batch to SQLite's search index (migration 0018; on
        PostgreSQL its index is kept by each INSERT); how many. Raises :class:`CallLogError`."""
        done = 0
        with _recording():
            if self.engine.dialect.name != "sqlite" or not self._has_fts():
                return 0
            while True:
                with writing(self.engine) as connection:
                    through = connection.execute(select(_search_progress.c.through)).scalar_one()
                    last = connection.execute(select(func.max(calls.c.id))).scalar() or 0
                    upto = min(last, through + SEARCH_BATCH_MOST)
                    if upto <= through:
                        return done
                    new = and_(calls.c.id > through, calls.c.id <= upto)
                    rows = select(calls.c.id, searched_text("sqlite")).where(new)
                    connection.execute(insert(_search).from_select(["rowid", "body"], rows))
                    connection.execute(update(_search_progress).values(through=upto))
                done += upto - through

    def _attempt_values(self, attempt: CallAttempt, *, outcome: str, status: str) -> dict[str, Any]:
        """The row for an attempt (a demo link's columns only when it came through one)."""
        values = {
            "call_id": new_call_id(),
            "provider": attempt.provider,
            "agent": attempt.agent,
            "provider_agent_id": attempt.provider_agent_id,
            "channel": attempt.channel,
            "origin": attempt.origin or None,
            "client_ref": attempt.client_ref,
            "request_id": attempt.request_id,
            "phone_number": attempt.phone_number,
            "outcome": outcome,
            "status": status,
            "created_at": attempt.received_at,
            "updated_at": attempt.received_at,
        }
        if attempt.demo_link_id:
            values.update(demo_link_id=attempt.demo_link_id, demo_link_label=attempt.demo_link_label)
        return values

    def _claim(self, attempt: CallAttempt, provider_call_id: str, room: str | None) -> str:
        """Add what we know of our own call to the row the provider's history (or a replay) made.

        The channel is ours to say (a provider's list may not, and the row then said web); the
        request id, the number, the origin, the client and the demo link are only ever ours, kept
        from a first request when a provider replays its call to a second; the room and the
        provider's agent id are the provider's when it reported them.
        """
        key = and_(calls.c.provider == attempt.provider, calls.c.provider_call_id == provider_call_id)
        with writing(self.engine) as connection:
            looked_up = select(calls.c.call_id, calls.c.outcome).where(key).with_for_update()
            call_id, outcome = connection.execute(looked_up).one()
            connection.execute(
                update(calls)
                .where(key)
                .values(
                    agent=attempt.agent,
                    channel=attempt.channel,
                    origin=_kept_or("origin", attempt.origin or None),
                    client_ref=_kept_or("client_ref", attempt.client_ref),
                    outcome="created",
                    request_id=_kept_or("request_id", attempt.request_id),
                    phone_number=_kept_or("phone_number", attempt.phone_number),
                    demo_link_id=_kept_or("demo_link_id", attempt.demo_link_id),
                    demo_link_label=_kept_or("demo_link_label", attempt.demo_link_label),
                    provider_agent_id=_kept_or("provider_agent_id", attempt.provider_agent_id),
                    room=_kept_or("room", room),
                    updated_at=now(),
                )
            )
            # Not for a call a first request placed already.
            if "call.created" in self.events and outcome != "created":
                _emit(connection, "call.created", call_id, attempt.received_at)
        return str(call_id)

    # --- what providers report -------------------------------------------------------------

    def upsert_provider_call(
        self, provider: str, call: ProviderCall, *, agent: str | None = None, detailed: bool = False
    ) -> Upserted:
        """Store what the provider reports about ``call``: a new row, or the existing one updated.

        Only what the provider reported overwrites (our own fields stay), and a final
        status never goes back to a live one (a list can be older than a webhook), nor
        ``in_progress`` back to ``created``: a report behind the stored status only fills
        what is still empty. ``detailed`` says this was the provider's full record of the
        call. Raises :class:`CallLogError`.
        """
        with _recording():
            try:
                with writing(self.engine) as connection:
                    return self._upsert(connection, provider, call, agent, detailed)
            except IntegrityError:
                pass  # inserted by someone else between our look and our insert: now it is an update
            with writing(self.engine) as connection:
                return self._upsert(connection, provider, call, agent, detailed)

    def _upsert(
        self, connection: Connection, provider: str, call: ProviderCall, agent: str | None, detailed: bool
    ) -> Upserted:
        """One upsert inside a write transaction."""
        key = and_(calls.c.provider == provider, calls.c.provider_call_id == call.call_id)
        # The row stays as read until the update: on PostgreSQL (read committed) another writer
        # would otherwise end the call between the two, and this older news put it back live.
        # (SQLite's writers hold the database's write lock from their BEGIN.)
        looked_up = select(calls.c.status, calls.c.agent, calls.c.call_id).where(key).with_for_update()
        existing = connection.execute(looked_up).first()
        values = reported_values(call)
        if detailed:
            values["detail_at"] = now() if call.settled else None  # unsettled: read again later
        if existing is None:
            moment = call.created_at or call.started_at or now()
            row = {
                "call_id": new_call_id(),
                "provider": provider,
                "provider_call_id": call.call_id,
                "agent": agent,
                "channel": call.channel or "web",
                "status": call.status or "unknown",
                "created_at": moment,
                "updated_at": now(),
                **values,
            }
            connection.execute(insert(calls).values(row))
            return "new"
        if status_behind(existing.status, call.status):
            # Older news than the row has (duration 0 after 95, say): it fills gaps, nothing more.
            # Not a full read of the call as it is now either, so detail_at stays as it was. A
            # live call's new word we do not know is news, though not a status: its word is kept.
            word = values.get("provider_status") if existing.status not in FINAL_STATUSES else None
            for name in ("status", "provider_status", "detail_at"):
                values.pop(name, None)
            values = {name: _kept_or(name, value) for name, value in values.items()}
            if call.status == "unknown" and word:
                values["provider_status"] = word
        elif call.status in FINAL_STATUSES and existing.status not in FINAL_STATUSES and not detailed:
            values["detail_at"] = None  # read in full while live: read it again now that it ended
        if existing.agent is None and agent is not None:
            values["agent"] = agent
        connection.execute(update(calls).where(key).values(**values, updated_at=now()))
        news = _status_news(existing.status, call.status)
        if news in self.events:
            at = call.started_at if news == "call.started" else call.ended_at
            _emit(connection, news, existing.call_id, at or now())
        return "updated"

    def apply_webhook(self, provider: str, event: str, delivery_key: str, call: ProviderCall) -> Applied:
        """Apply a webhook delivery once: ``duplicate`` if it came before, ``unknown`` for a call we lack.

        Raises :class:`CallLogError`.
        """
        key = and_(calls.c.provider == provider, calls.c.provider_call_id == call.call_id)
        delivery = and_(
            webhook_deliveries.c.provider == provider,
            webhook_deliveries.c.event == event,
            webhook_deliveries.c.delivery_key == delivery_key,
        )
        with _recording():
            try:
                with writing(self.engine) as connection:
                    call_id = connection.execute(select(calls.c.call_id).where(key)).scalar()
                    if call_id is None:
                        return "unknown"
                    if connection.execute(select(webhook_deliveries.c.id).where(delivery)).first():
                        return "duplicate"
                    connection.execute(
                        insert(webhook_deliveries).values(
                            provider=provider, event=event, delivery_key=delivery_key, call_id=call_id,
                            received_at=now(),
                        )
                    )  # fmt: skip
                    self._upsert(connection, provider, call, None, detailed=False)
            except IntegrityError:
                return "duplicate"  # the same delivery, applied by another worker a moment ago
        return "applied"

    # --- reading ---------------------------------------------------------------------------

    def search(self, query: CallQuery) -> tuple[list[CallRecord], int]:
        """One page of the calls ``query`` matches, newest first, and how many match in all."""
        self._catch_up(query.text)
        offset = (query.page - 1) * query.page_size
        with _recording(), self.engine.connect() as connection:
            via = self._text_via(connection, query.text)
            where = _conditions(query, via)
            total = connection.execute(select(func.count()).select_from(calls).where(*where)).scalar_one()
            if self._walks(connection, via, offset + query.page_size, total):
                where = _conditions(query, "columns")
            rows = connection.execute(
                select(*_LIST_COLUMNS)
                .where(*where)
                .order_by(calls.c.created_at.desc(), calls.c.id.desc())
                .limit(query.page_size)
                .offset(offset)
            ).all()
        return [_record(row) for row in rows], int(total)

    def summarize(self, query: CallQuery) -> CallSummary:
        """What the calls ``query`` matches add up to: one pass over them, grouped by the few values
        that split the sums (status, refused or not, currency, rating), added up here."""
        self._catch_up(query.text)
        refused = case((_REFUSED, 1), else_=0)
        groups = (calls.c.status, refused.label("refused"), calls.c.cost_currency, calls.c.feedback_rating)
        totals = (
            func.count().label("rows"),
            func.count(calls.c.duration_s).label("timed"),
            func.sum(calls.c.duration_s).label("duration_s"),
            func.count(calls.c.cost).label("costed"),
            func.sum(calls.c.cost).label("cost"),
        )
        with _recording(), self.engine.connect() as connection:
            where = _conditions(query, self._text_via(connection, query.text))
            rows = connection.execute(select(*groups, *totals).where(*where).group_by(*groups))
            return _summary(rows.all())

    def calls_per_day(self, query: CallQuery, first: date, last: date) -> list[DayCount]:
        """The calls ``query`` matches by the day (UTC) they were made, from ``first`` to ``last``
        (both included; a day without any is there, with nothing). Raises :class:`CallLogError`."""
        self._catch_up(query.text)
        refused = case((_REFUSED, 1), else_=0)
        if self.engine.dialect.name == "postgresql":
            of_day = func.date(func.timezone("UTC", calls.c.created_at))
        else:  # SQLite keeps UTC without its zone, as text that date() reads
            of_day = func.date(calls.c.created_at)
        start, end = (datetime.combine(d, time(), UTC) for d in (first, last + timedelta(days=1)))
        with _recording(), self.engine.connect() as connection:
            counted = (
                select(of_day.label("day"), func.count().label("rows"), func.sum(refused).label("refused"))
                .where(*_conditions(query, self._text_via(connection, query.text)))
                .where(calls.c.created_at >= start, calls.c.created_at < end)
                .group_by(of_day)
            )
            rows = connection.execute(counted).all()
        found = {str(row.day): (int(row.rows) - int(row.refused), int(row.refused)) for row in rows}
        days = (first + timedelta(days=n) for n in range((last - first).days + 1))
        return [DayCount(day, *found.get(day.isoformat(), (0, 0))) for day in days]

    def iter_search(self, query: CallQuery, *, batch: int = 500) -> Iterator[CallRecord]:
        """Every call ``query`` matches (ignoring its paging), newest first, read in batches."""
        self._catch_up(query.text)
        with _recording(), self.engine.connect() as connection:
            via = self._text_via(connection, query.text)
            where = _conditions(query, via)
            if via == "fts":  # only SQLite's index may be slower than the walk: counted to choose
                found = connection.execute(select(func.count()).select_from(calls).where(*where)).scalar_one()
                if self._walks(connection, via, found, found):
                    where = _conditions(query, "columns")
        last: tuple[datetime, int] | None = None
        while True:
            after = []
            if last is not None:
                at, row_id = last
                after = [or_(calls.c.created_at < at, and_(calls.c.created_at == at, calls.c.id < row_id))]
            with _recording(), self.engine.connect() as connection:
                rows = connection.execute(
                    select(*_LIST_COLUMNS, calls.c.id)
                    .where(*where, *after)
                    .order_by(calls.c.created_at.desc(), calls.c.id.desc())
                    .limit(batch)
                ).all()
            yield from (_record(row) for row in rows)
            if len(rows) < batch:
                return
            last = (rows[-1].created_at, rows[-1].id)

    def _text_via(self, connection: Connection, text: str | None) -> TextVia:
        """How to look for ``text`` on this database (see :func:`_matching`)."""
        if not text or "\n" in text:  # a line break would match across two fields of the index
            return "columns"
        if self.engine.dialect.name == "postgresql":  # the index, where it is, unless most calls match
            return "columns" if self._common(connection, text) else "trigrams"
        # A trigram index finds three characters or more (the search's words, and in any case).
        return "fts" if len(text) >= 3 and self._has_fts(connection) else "columns"

    def _catch_up(self, text: str | None) -> None:
        """Before SQLite's index is searched: index the calls made since its last batch when there
        are more than a batch of them (the sync's, a webhook's, or those of a batch that failed),
        as the search would read each of them. A failure only leaves them to be read."""
        if not text or self.engine.dialect.name != "sqlite":
            return
        try:
            with _recording(), self.engine.connect() as connection:
                if not self._has_fts(connection):
                    return
                through = select(_search_progress.c.through).scalar_subquery()
                behind = connection.execute(select(func.max(calls.c.id) - through)).scalar() or 0
            if behind > SEARCH_BATCH:
                self.index_new_calls()
        except CallLogError as exc:
            log.warning("call log: new calls not indexed for the search yet: %s", exc)

    def _has_fts(self, connection: Connection | None = None) -> bool:
        """Whether SQLite's search index is there (read once: a migration makes it)."""
        if self._fts is None:
            lookup = "SELECT 1 FROM sqlite_master WHERE name = 'calls_search'"
            if connection is None:
                with self.engine.connect() as own:
                    return self._has_fts(own)
            self._fts = connection.exec_driver_sql(lookup).first() is not None
        return self._fts

    def _common(self, connection: Connection, text: str) -> bool:
        """Whether PostgreSQL finds ``text`` in so many calls that reading the columns is sooner
        than the trigram index: in more than SEARCH_SCAN_SHARE of a sample (see SEARCH_SAMPLE)."""
        kept = connection.execute(select(func.max(calls.c.id))).scalar() or 0  # no fewer than now
        if kept < SEARCH_SAMPLED_FROM:
            return False
        # Whole pages picked at random, the same ones each time (REPEATABLE): the same choice.
        share = min(100.0, 100.0 * SEARCH_SAMPLE / kept)
        sampled = calls.tablesample(func.system(share), seed=literal_column("0"))
        matching = ClauseAdapter(sampled).traverse(_matching(text, "columns"))
        found, read = connection.execute(
            select(func.count().filter(matching), func.count()).select_from(sampled)
        ).one()
        return found > read * SEARCH_SCAN_SHARE

    def _walks(self, connection: Connection, via: TextVia, wanted: int, found: int) -> bool:
        """Whether the ``wanted`` newest of the ``found`` calls a search matches ``via`` an index
        are read sooner by walking the calls (see SEARCH_WALK_COST)."""
        if not found or via == "columns":
            return False
        kept = connection.execute(select(func.max(calls.c.id))).scalar_one() or 0  # no fewer than now
        return wanted * kept * SEARCH_WALK_COST < found * found

    def find(self, call_id: str, *, ours_only: bool = False) -> CallRecord | None:
        """One call with its transcript, by our id or (unless ``ours_only``) the provider's.

        By the provider's id alone two providers' calls may match: the newest is the one.
        """
        columns = (calls.c.call_id,) if ours_only else (calls.c.call_id, calls.c.provider_call_id)
        with _recording(), self.engine.connect() as connection:
            for column in columns:
                record = _first(connection, column == call_id)
                if record is not None:
                    return record
        return None

    def find_provider_call(self, provider: str, provider_call_id: str) -> CallRecord | None:
        """One of ``provider``'s calls with its transcript, by its id there (one lookup by the
        unique key, for webhooks: the provider is known). Raises :class:`CallLogError`."""
        key = and_(calls.c.provider == provider, calls.c.provider_call_id == provider_call_id)
        with _recording(), self.engine.connect() as connection:
            return _first(connection, key)

    def prune(self, before: datetime, *, refusals_only: bool = False, batch: int = PRUNE_BATCH) -> int:
        """Delete the records created before ``before`` (with ``refusals_only``, only those of
        requests we refused), and the webhook deliveries received, the events that happened
        (sent or not), the demo links made that expired before it (their revocations too: an
        expired link is refused anyway) and the counts of links last opened before it; how many
        records.

        The calls, the deliveries and the events go in batches, each its own transaction: the
        calls recorded meanwhile wait for one batch at most, never for the whole (a year's events
        in one transaction held SQLite's lock for seconds). A provider's call deleted here comes
        back only if its history is listed again from before ``before`` (``history sync --since``)."""
        where = [calls.c.created_at < before]
        if refusals_only:
            where.append(_REFUSED)
        deleted = self._delete_in_batches(calls, where, batch)
        if not refusals_only:
            self._delete_in_batches(webhook_deliveries, [webhook_deliveries.c.received_at < before], batch)
            self._delete_in_batches(call_events, [call_events.c.occurred_at < before], batch)
            with _recording(), writing(self.engine) as connection:
                expired = select(demo_links.c.link_id).where(demo_links.c.expires_at < before)
                connection.execute(
                    delete(revoked_demo_links).where(revoked_demo_links.c.link_id.in_(expired))
                )
                connection.execute(delete(demo_links).where(demo_links.c.expires_at < before))
                connection.execute(delete(demo_link_opens).where(demo_link_opens.c.last_opened_at < before))
        return deleted

    def _delete_in_batches(self, table: Table, where: list[ColumnElement[bool]], batch: int) -> int:
        """Delete ``table``'s rows matching ``where``, ``batch`` at a time in the order of their
        ids, each batch read first and deleted in a transaction of its own; how many. Each read
        starts after the last batch's ids: rows kept (a placed call among refusals) are passed
        once, not read again by every batch."""
        deleted, after = 0, None
        while True:
            page = select(table.c.id).where(*where).order_by(table.c.id).limit(batch)
            if after is not None:
                page = page.where(table.c.id > after)
            with _recording(), self.engine.connect() as connection:
                ids = connection.execute(page).scalars().all()
            if ids:
                with _recording(), writing(self.engine) as connection:
                    connection.execute(delete(table).where(table.c.id.in_(ids)))
            deleted += len(ids)
            if len(ids) < batch:
                return deleted
            after = ids[-1]

    def count_live(self, at: datetime | None = None, *, within_s: float | None = None) -> int:
        """Calls in progress: created or started, not ended, and not older than ``LIVE_WINDOW``
        (given up after ``within_s`` on PostgreSQL, see :func:`_within`)."""
        at = at or now()
        with _recording(), self.engine.connect() as connection:
            _within(connection, within_s)
            return int(
                connection.execute(
                    select(func.count())
                    .select_from(calls)
                    .where(
                        calls.c.status.in_(LIVE_STATUSES),
                        calls.c.ended_at.is_(None),
                        calls.c.created_at >= at - LIVE_WINDOW,
                    )
                ).scalar_one()
            )

    def calls_needing_detail(
        self, provider: str, since: datetime, *, live_since: datetime | None = None, limit: int = 500
    ) -> list[str]:
        """The provider's ids of calls since ``since`` never read in full (and not asked about
        since their last news), or live since ``live_since``.

        A call is read in full once; one still live is read again while it is younger than
        ``live_since`` (default ``since``), not forever: some calls never report an end. One
        the provider did not answer for is asked again only once something new was heard of
        it (a list, a webhook). Raises :class:`CallLogError`.
        """
        live = and_(
            calls.c.status.not_in(sorted(FINAL_STATUSES)), calls.c.created_at >= (live_since or since)
        )
        unread = and_(
            calls.c.detail_at.is_(None),
            or_(calls.c.detail_asked_at.is_(None), calls.c.detail_asked_at < calls.c.updated_at),
        )
        with _recording(), self.engine.connect() as connection:
            rows = connection.execute(
                select(calls.c.provider_call_id)
                .where(
                    calls.c.provider == provider,
                    calls.c.provider_call_id.is_not(None),
                    calls.c.created_at >= since,
                    or_(live, unread),
                )
                .order_by(calls.c.created_at.desc())
                .limit(limit)
            ).all()
        return [str(row.provider_call_id) for row in rows]

    def calls_never_asked(self, provider: str, since: datetime | None, *, limit: int = 500) -> list[str]:
        """The provider's ids of calls since ``since`` (None: however old) that the sync never
        asked the provider about and that were never read in full, newest first.
        Raises :class:`CallLogError`."""
        wanted = and_(
            calls.c.provider == provider,
            calls.c.detail_asked_at.is_(None),
            calls.c.detail_at.is_(None),
            calls.c.provider_call_id.is_not(None),
        )
        if since is not None:
            wanted = and_(wanted, calls.c.created_at >= since)
        with _recording(), self.engine.connect() as connection:
            rows = connection.execute(
                select(calls.c.provider_call_id)
                .where(wanted)
                .order_by(calls.c.created_at.desc())
                .limit(limit)
            ).all()
        return [str(row.provider_call_id) for row in rows]

    def mark_detail_asked(self, provider: str, provider_call_id: str) -> None:
        """Note that the sync asked the provider for the call's full record, whatever it answered.
        Raises :class:`CallLogError`."""
        key = and_(calls.c.provider == provider, calls.c.provider_call_id == provider_call_id)
        with _recording(), writing(self.engine) as connection:
            connection.execute(update(calls).where(key).values(detail_asked_at=now()))

    # --- where the history sync lists from ---------------------------------------------------

    def listed_through(self, provider: str, agent_ids: Collection[str]) -> dict[str, datetime]:
        """Where the last complete listing of each of these provider agents reached (an agent
        never listed in full is left out). Raises :class:`CallLogError`."""
        where = and_(complete_listings.c.provider == provider, complete_listings.c.agent_id.in_(agent_ids))
        columns = (complete_listings.c.agent_id, complete_listings.c.through)
        with _recording(), self.engine.connect() as connection:
            rows = connection.execute(select(*columns).where(where)).all()
        return {str(row.agent_id): row.through for row in rows}

    def note_listed(self, provider: str, starts: Mapping[str, datetime | None], through: datetime) -> None:
        """Each agent's calls from its start (None: the beginning) to ``through`` were listed, every
        page: its complete listing reaches ``through`` when that start is within what it reached
        before (else a gap may lie between the two), and never goes back. Raises :class:`CallLogError`."""
        with _recording():
            try:
                with writing(self.engine) as connection:
                    for agent_id, start in sorted(starts.items()):
                        _note_reach(connection, provider, agent_id, start, through)
            except IntegrityError:
                pass  # a run beside this one noted an agent first: the next run lists a little more

    def unfinished_listing(self, provider: str) -> UnfinishedListing | None:
        """Where a listing of the provider's calls started that has not read every page since."""
        where = unfinished_listings.c.provider == provider
        columns = (
            unfinished_listings.c.since,
            unfinished_listings.c.recorded_at,
            unfinished_listings.c.resume_cursor,
            unfinished_listings.c.resume_before,
        )
        with _recording(), self.engine.connect() as connection:
            row = connection.execute(select(*columns).where(where)).first()
        if row is None:
            return None
        return UnfinishedListing(row.since, row.recorded_at, row.resume_cursor, row.resume_before)

    def begin_listing(
        self, provider: str, since: datetime | None, agent_ids: Collection[str] = ()
    ) -> datetime:
        """Note, before it lists, a run's start (None: the beginning) and the provider agents it
        lists; an earlier unfinished one stays.

        Written first, so a run that dies half-way is listed again as surely as one that
        counted a broken page. A start further back, or an agent that listing was not of, forgets
        where the listing stopped: the calls made between that listing and this one are above its
        cursor, and an agent's calls it did not list are above it too. Returns when the unfinished
        listing began (``began_at``): the run's hold on its cursor. Raises :class:`CallLogError`.
        """
        where = unfinished_listings.c.provider == provider
        columns = (
            unfinished_listings.c.since,
            unfinished_listings.c.recorded_at,
            unfinished_listings.c.agent_ids,
        )
        moment = now()
        agents = "\n".join(sorted(set(agent_ids)))
        values: dict[str, Any] = {"since": since, "recorded_at": moment, "resume_cursor": None}
        values.update(resume_before=None, agent_ids=agents)
        with _recording(), writing(self.engine) as connection:
            row = connection.execute(select(*columns).where(where)).first()
            if row is None:
                connection.execute(insert(unfinished_listings).values(provider=provider, **values))
                return moment
            further_back = row.since is not None and (since is None or since < row.since)
            joined = not set(agent_ids) <= set((row.agent_ids or "").split("\n"))
            if further_back or joined:
                values["since"] = since if further_back else row.since
                connection.execute(update(unfinished_listings).where(where).values(values))
                return moment
            # (an agent left: the next run must not count on this listing for its calls)
            connection.execute(update(unfinished_listings).where(where).values(agent_ids=agents))
            began: datetime = row.recorded_at
            return began

    def keep_listing_cursor(
        self, provider: str, cursor: str | None, *, began_at: datetime, caught_up_at: datetime | None = None
    ) -> bool:
        """Note where the listing that began at ``began_at`` goes on (None: from the top again),
        once every call above the cursor is stored; ``caught_up_at``: so is every call made
        before then, and the listing counts as begun then.

        Only for cursors that last (a call id). False, and nothing written, when the call log no
        longer keeps that listing (a run beside this one ended or restarted it). Raises
        :class:`CallLogError`.
        """
        values: dict[str, Any] = {"resume_cursor": cursor}
        if caught_up_at is not None:
            values["recorded_at"] = caught_up_at
        return self._keep_place(provider, began_at, values)

    def keep_listing_before(
        self, provider: str, before: datetime, *, began_at: datetime, caught_up_at: datetime
    ) -> bool:
        """Note that the listing that began at ``began_at``, a list by start time, goes on below
        ``before``: every call started from then to ``caught_up_at`` is stored, and the listing
        counts as begun then. False, and nothing written, as for :meth:`keep_listing_cursor`.
        Raises :class:`CallLogError`."""
        return self._keep_place(provider, began_at, {"resume_before": before, "recorded_at": caught_up_at})

    def _keep_place(self, provider: str, began_at: datetime, values: dict[str, Any]) -> bool:
        """Write ``values`` to the provider's unfinished listing while it is the one begun at ``began_at``."""
        where = (unfinished_listings.c.provider == provider) & (unfinished_listings.c.recorded_at == began_at)
        with _recording(), writing(self.engine) as connection:
            return bool(connection.execute(update(unfinished_listings).where(where).values(values)).rowcount)

    def finish_listing(self, provider: str, since: datetime | None) -> None:
        """Every page since ``since`` was read: forget an unfinished listing that started there or later."""
        statement = delete(unfinished_listings).where(unfinished_listings.c.provider == provider)
        if since is not None:  # a listing from the beginning covers any start; a later one does not
            statement = statement.where(unfinished_listings.c.since >= since)
        with _recording(), writing(self.engine) as connection:
            connection.execute(statement)

    # --- the events for the site's own URL (history.events sends them) ----------------------

    def due_events(self, at: datetime, *, limit: int = 20) -> list[PendingEvent]:
        """Events due to be sent at ``at``, the oldest first; none of a call (or link) while an
        attempt at one of its earlier events is under way (another process's, say)."""
        # From 1970 on (every moment due is): SQLite then reads the due ones by the index on
        # next_attempt_at, where it scanned every event kept, sent or not, in each pass.
        due = and_(_EVENT_STATES["waiting"], call_events.c.next_attempt_at <= at, ~_earlier_under_way(at))
        columns = [call_events.c[name] for name in PendingEvent.__dataclass_fields__]
        with _recording(), self.engine.connect() as connection:
            rows = connection.execute(select(*columns).where(due).order_by(call_events.c.id).limit(limit))
            return [PendingEvent(**row._mapping) for row in rows]

    def claim_event(self, event: PendingEvent, at: datetime, until: datetime) -> bool:
        """Take ``event`` at ``at`` for one attempt, counted, unless another process took it
        first or is attempting an earlier event of its call (its events go in turn); not due
        again before ``until`` (for the case that this process dies during the attempt)."""
        mine = and_(
            call_events.c.id == event.id,
            call_events.c.attempts == event.attempts,
            call_events.c.next_attempt_at.is_not(None),
            ~_earlier_under_way(at),
        )
        claimed = (
            update(call_events)
            .where(mine)
            .values(attempts=event.attempts + 1, next_attempt_at=until, claimed_until=until)
        )
        with _recording(), writing(self.engine) as connection:
            return bool(connection.execute(claimed).rowcount)

    def event_sent(self, event: PendingEvent, at: datetime) -> None:
        """``event`` reached the URL: never sent again."""
        with _recording(), writing(self.engine) as connection:
            connection.execute(
                update(call_events)
                .where(_claimed_by(event))
                .values(sent_at=at, next_attempt_at=None, last_error=None, claimed_until=None)
            )

    def event_failed(self, event: PendingEvent, error: str, retry_at: datetime | None) -> None:
        """An attempt at ``event`` failed with ``error``: try again at ``retry_at``, or (None) never.
        Nothing changes when a later attempt (another process's, once this one's claim ran out)
        has taken the event since: its outcome is the one that counts."""
        with _recording(), writing(self.engine) as connection:
            connection.execute(
                update(call_events)
                .where(_claimed_by(event))
                .values(last_error=error, next_attempt_at=retry_at, claimed_until=None)
            )

    def pending_events(self, *, within_s: float | None = None) -> tuple[int, datetime | None]:
        """How many events wait to be sent (due or retrying), and when the oldest happened (given
        up after ``within_s`` on PostgreSQL, see :func:`_within`)."""
        counted = select(func.count(), func.min(call_events.c.occurred_at)).where(_EVENT_STATES["waiting"])
        with _recording(), self.engine.connect() as connection:
            _within(connection, within_s)
            count, oldest = connection.execute(counted).one()  # min() reads back as its column: aware UTC
        return int(count), oldest

    def events_of(self, call_id: str) -> list[EventState]:
        """The events of our call ``call_id``, in the order they happened."""
        columns = [call_events.c[name] for name in EventState.__dataclass_fields__]
        of_call = call_events.c.call_id == call_id
        with _recording(), self.engine.connect() as connection:
            rows = connection.execute(select(*columns).where(of_call).order_by(call_events.c.id))
            return [EventState(**row._mapping) for row in rows]

    def recent_events(
        self,
        state: EventFilter | None = None,
        *,
        kind: EventType | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[LoggedEvent]:
        """The latest events (of every call and link, or those ``waiting``, ``given_up`` or
        ``sent``, of one ``kind`` when given), the newest first, at most ``limit``; only those kept
        before the event ``before`` when given (none when there is no such event): the next page.
        Raises :class:`CallLogError`."""
        columns = [call_events.c[name] for name in EventState.__dataclass_fields__]
        of = call_events.c.call_id
        query = (
            select(
                *columns,
                of,
                func.coalesce(calls.c.agent, demo_links.c.agent).label("agent"),
                demo_links.c.label,
            )
            .select_from(
                call_events.outerjoin(calls, calls.c.call_id == of).outerjoin(
                    demo_links, demo_links.c.link_id == of
                )
            )
            .order_by(call_events.c.id.desc())
            .limit(limit)
        )
        if state is not None:
            query = query.where(_EVENT_STATES[state])
        if kind is not None:
            query = query.where(call_events.c.type == kind)
        if before is not None:
            then = select(call_events.c.id).where(call_events.c.event_id == before).scalar_subquery()
            query = query.where(call_events.c.id < then)
        with _recording(), self.engine.connect() as connection:
            return [LoggedEvent(**row._mapping) for row in connection.execute(query)]

    def event_counts(self, sent_since: datetime) -> EventCounts:
        """How many events wait, were given up, and were sent since ``sent_since``. Raises
        :class:`CallLogError`."""
        # Three reads, each of the events it counts by an index (one pass with a filter per count
        # would read the whole table, which keeps every event until `history prune`).
        waiting, given_up = _EVENT_STATES["waiting"], _EVENT_STATES["given_up"]
        count = func.count()
        with _recording(), self.engine.connect() as connection:
            # min() reads back as its column: aware UTC.
            waits, oldest = connection.execute(
                select(count, func.min(call_events.c.occurred_at)).where(waiting)
            ).one()
            gave_up = connection.execute(select(count).where(given_up)).scalar_one()
            sent = connection.execute(select(count).where(call_events.c.sent_at >= sent_since)).scalar_one()
        return EventCounts(int(waits), oldest, int(gave_up), int(sent))

    def resend_event(self, event_id: str, at: datetime) -> bool | None:
        """Put the event ``event_id``, given up, back in line with eight attempts again from
        ``at``; whether it was given up (None: there is no such event). Raises :class:`CallLogError`."""
        this = call_events.c.event_id == event_id
        given_up = and_(this, _EVENT_STATES["given_up"])
        again = update(call_events).where(given_up).values(attempts=0, next_attempt_at=at)
        with _recording(), writing(self.engine) as connection:
            if connection.execute(again).rowcount:
                return True
            return False if connection.execute(select(call_events.c.id).where(this)).first() else None

    def resend_given_up(self, since: datetime | None, at: datetime) -> int:
        """Put the events given up (since ``since``) back in line, with eight attempts again from
        ``at``; how many."""
        given_up: list[ColumnElement[bool]] = [_EVENT_STATES["given_up"]]
        if since is not None:
            given_up.append(call_events.c.occurred_at >= since)
        again = update(call_events).where(*given_up).values(attempts=0, next_attempt_at=at)
        with _recording(), writing(self.engine) as connection:
            return int(connection.execute(again).rowcount)

    # --- demo links taken back before they expire ---------------------------------------------

    def revoke_demo_link(self, link_id: str, at: datetime) -> datetime:
        """Take the demo link ``link_id`` back from ``at``; when it was (a link revoked already
        keeps its first moment). Raises :class:`CallLogError`."""
        with _recording():
            try:
                with writing(self.engine) as connection:
                    connection.execute(insert(revoked_demo_links).values(link_id=link_id, revoked_at=at))
                return at
            except IntegrityError:
                pass  # revoked already (or by another process at the same moment)
        revoked = self.demo_link_revoked_at(link_id)
        return revoked or at

    def restore_demo_link(self, link_id: str) -> bool:
        """Let the link ``link_id`` work again (until it expires); whether it was revoked.
        Raises :class:`CallLogError`."""
        with _recording(), writing(self.engine) as connection:
            result = connection.execute(
                delete(revoked_demo_links).where(revoked_demo_links.c.link_id == link_id)
            )
        return bool(result.rowcount)

    def record_demo_link_open(self, link_id: str, at: datetime) -> None:
        """Count the page of the demo link ``link_id`` opened at ``at`` (its first open an event).
        Raises :class:`CallLogError`."""
        this = demo_link_opens.c.link_id == link_id
        again = (
            update(demo_link_opens).where(this).values(opens=demo_link_opens.c.opens + 1, last_opened_at=at)
        )
        first = insert(demo_link_opens).values(
            link_id=link_id, opens=1, first_opened_at=at, last_opened_at=at
        )
        with _recording():
            try:
                with writing(self.engine) as connection:
                    if not connection.execute(again).rowcount:
                        connection.execute(first)
                        if "demo_link.opened" in self.events:
                            _emit_link(connection, link_id, at)
                return
            except IntegrityError:
                pass  # its first open, counted (and told) by another process at the same moment
            with writing(self.engine) as connection:
                connection.execute(again)

    def record_demo_link(self, made: LinkMade) -> None:
        """Keep a link made here, so it is listed before anyone uses it. Raises :class:`CallLogError`."""
        with _recording(), writing(self.engine) as connection:
            connection.execute(insert(demo_links).values(**asdict(made)))

    def demo_links(self, *, limit: int = 100, q: str | None = None) -> list[LinkState]:
        """The demo links made here or used, the latest first (made, opened or tried), at most ``limit``:
        with what is known of each (how it was made, when it was revoked) and its calls; those whose
        label holds ``q`` (in any case) or whose id it is, when given. Raises :class:`CallLogError`."""
        usage = _link_usage()
        used_where: ColumnElement[bool] = calls.c.demo_link_id.is_not(None)
        made_where: ColumnElement[bool] = true()
        if q:
            used_where = and_(used_where, _named_by(calls.c.demo_link_label, calls.c.demo_link_id, q))
            made_where = _named_by(demo_links.c.label, demo_links.c.link_id, q)
        with _recording(), self.engine.connect() as connection:
            used = {
                row.demo_link_id: row
                for row in connection.execute(
                    usage.where(used_where)
                    .order_by(func.max(calls.c.created_at).desc(), calls.c.demo_link_id)
                    .limit(limit)
                )
            }
            made = {
                row.link_id: LinkMade(**row._asdict())
                for row in connection.execute(
                    select(demo_links).where(made_where).order_by(demo_links.c.made_at.desc()).limit(limit)
                )
            }
            # And links made here before those but opened lately ("did the prospect look?" is
            # what the opens are for).
            opened_lately = (
                select(demo_links)
                .join(demo_link_opens, demo_link_opens.c.link_id == demo_links.c.link_id)
                .where(made_where)
                .order_by(demo_link_opens.c.last_opened_at.desc())
                .limit(limit)
            )
            for row in connection.execute(opened_lately):
                made.setdefault(row.link_id, LinkMade(**row._asdict()))
            unseen = [link_id for link_id in made if link_id not in used]
            if unseen:  # made links that may have calls older than the latest ones
                more = usage.where(calls.c.demo_link_id.in_(unseen))
                used.update((row.demo_link_id, row) for row in connection.execute(more))
            unmade = [link_id for link_id in used if link_id not in made]
            if unmade:  # links used lately that were made here before the latest ones
                older = select(demo_links).where(demo_links.c.link_id.in_(unmade))
                made.update((row.link_id, LinkMade(**row._asdict())) for row in connection.execute(older))
            ids = [*used, *(link_id for link_id in made if link_id not in used)]
            taken = select(revoked_demo_links).where(revoked_demo_links.c.link_id.in_(ids))
            revoked = {row.link_id: row.revoked_at for row in connection.execute(taken)} if ids else {}
            opened = _opens(connection, demo_link_opens.c.link_id.in_(ids)) if ids else {}
        links = [
            _link_state(
                link_id, used.get(link_id), made.get(link_id), revoked.get(link_id), opened.get(link_id)
            )
            for link_id in ids
        ]
        links.sort(key=lambda link: (link.latest_at, link.link_id), reverse=True)
        return links[:limit]

    def demo_link(self, link_id: str) -> LinkState | None:
        """The demo link ``link_id`` as :meth:`demo_links` lists it; None when the call log knows
        nothing of it (not made here, never used, opened or revoked). Raises :class:`CallLogError`."""
        with _recording(), self.engine.connect() as connection:
            return _demo_link(connection, link_id)

    def demo_link_calls(self, link_id: str) -> int:
        """The calls placed through the demo link ``link_id`` (its refused tries aside). Raises
        :class:`CallLogError`."""
        placed = and_(calls.c.demo_link_id == link_id, calls.c.outcome == "created")
        with _recording(), self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).where(placed)).scalar_one())

    def demo_link_standing(self, link_id: str) -> LinkStanding:
        """Whether the link ``link_id`` was revoked, and what a link made here grants now (in one
        round trip: a demo link's page and its calls read them). Raises :class:`CallLogError`."""
        revoked = select(revoked_demo_links.c.revoked_at).where(revoked_demo_links.c.link_id == link_id)
        made = demo_links.c.link_id == link_id
        asked = select(
            revoked.scalar_subquery(),
            select(demo_links.c.expires_at).where(made).scalar_subquery(),
            select(demo_links.c.max_calls).where(made).scalar_subquery(),
        )
        with _recording(), self.engine.connect() as connection:
            revoked_at, expires_at, max_calls = connection.execute(asked).one()
        # Made elsewhere (no expiry kept): what is signed in it holds.
        return LinkStanding(revoked_at, LinkGrant(expires_at, max_calls) if expires_at is not None else None)

    def extend_demo_link(self, link_id: str, extension: LinkExtension) -> Extended:
        """Let the link ``link_id``, made here, work until ``extension.until`` and place
        ``extension.max_calls`` calls in all, whichever it says: each only more than the link has
        (so the call log never grants a link less than is signed in it, which ``prune`` relies
        on; less is a revocation's business), in one conditional UPDATE. Raises
        :class:`CallLogError`."""
        this = demo_links.c.link_id == link_id
        more: list[ColumnElement[bool]] = [this]
        changes: dict[str, Any] = {}
        if extension.until is not None:
            more.append(demo_links.c.expires_at < extension.until)
            changes["expires_at"] = extension.until
        if extension.calls:  # from a number to more, or to any number
            more.append(demo_links.c.max_calls.is_not(None))
            if extension.max_calls is not None:
                more.append(demo_links.c.max_calls < extension.max_calls)
            changes["max_calls"] = extension.max_calls
        with _recording(), writing(self.engine) as connection:
            if connection.execute(update(demo_links).where(*more).values(**changes)).rowcount:
                return "extended"
            expires_at = connection.execute(select(demo_links.c.expires_at).where(this)).scalar()
        if expires_at is None:
            return "unknown"
        return "not_later" if extension.until is not None and expires_at >= extension.until else "not_more"

    def demo_link_revoked_at(self, link_id: str) -> datetime | None:
        """When the link ``link_id`` was revoked; None while it is not. Raises :class:`CallLogError`."""
        with _recording(), self.engine.connect() as connection:
            where = revoked_demo_links.c.link_id == link_id
            revoked: datetime | None = connection.execute(
                select(revoked_demo_links.c.revoked_at).where(where)
            ).scalar()
        return revoked

    # --- leases: one worker of many does a periodic job --------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take (or renew) the lease ``name`` for ``ttl`` unless someone else holds it.

        Raises :class:`CallLogError`.
        """
        moment = now()
        with _recording():
            try:
                with writing(self.engine) as connection:
                    free = or_(leases.c.expires_at < moment, leases.c.holder == holder)
                    lease = {"holder": holder, "expires_at": moment + ttl}
                    claim = update(leases).where(leases.c.name == name, free).values(lease)
                    taken = connection.execute(claim).rowcount
                    if taken:
                        return True
                    if connection.execute(select(leases.c.name).where(leases.c.name == name)).first():
                        return False
                    connection.execute(insert(leases).values(name=name, **lease))
                    return True
            except IntegrityError:
                return False  # another worker created it at the same moment


def status_behind(stored: str, reported: str | None) -> bool:
    """Whether a reported status is older news than the stored one: a live status (or one we
    do not know) after a final one, ``created`` after ``in_progress``, or a provider's word we
    do not know (``unknown``) after any we do but ``created``. No status is no news."""
    if reported is None or reported in FINAL_STATUSES:
        return False
    if reported == "unknown":
        return stored not in ("created", "unknown")
    return stored in FINAL_STATUSES or (stored, reported) == ("in_progress", "created")


def _status_news(stored: str, reported: str | None) -> CallEventType | None:
    """The event a reported status makes of the stored one: ``call.started`` the first time the
    call is live (never after an end), ``call.ended`` the first time it ended (a later final
    report changes no status); None when it is no news."""
    if reported == "in_progress" and stored not in LIVE_OR_FINAL:
        return "call.started"
    if reported in FINAL_STATUSES and stored not in FINAL_STATUSES:
        return "call.ended"
    return None


def reported_values(call: ProviderCall) -> dict[str, Any]:
    """The columns a provider's report sets: only what it reported."""
    values: dict[str, Any] = {
        "provider_agent_id": call.agent_id or None,
        "status": call.status,
        "provider_status": call.provider_status or None,
        "room": call.room or None,
        "started_at": call.started_at,
        "ended_at": call.ended_at,
        "duration_s": call.duration_s,
        "cost": call.cost,
        "cost_currency": call.cost_currency or None,
        "summary": call.summary,
        "recording_url": call.recording_url,
    }
    values = {name: value for name, value in values.items() if value is not None}
    if call.transcript is not None:
        values["transcript"] = [
            {"role": line.role, "text": line.text, "at": line.at.isoformat() if line.at else None}
            for line in call.transcript
        ]
        values["transcript_text"] = "\n".join(f"{line.role}: {line.text}" for line in call.transcript)
    return values


def _note_reach(
    connection: Connection, provider: str, agent_id: str, start: datetime | None, through: datetime
) -> None:
    """One agent's part of :meth:`CallStore.note_listed`."""
    key = and_(complete_listings.c.provider == provider, complete_listings.c.agent_id == agent_id)
    reached = connection.execute(select(complete_listings.c.through).where(key)).scalar()
    if reached is None and start is None:
        connection.execute(
            insert(complete_listings).values(provider=provider, agent_id=agent_id, through=through)
        )
    elif reached is not None and (start is None or start <= reached) and reached < through:
        connection.execute(update(complete_listings).where(key).values(through=through))


def _kept_or(name: str, value: Any) -> ColumnElement[Any]:
    """The stored value of column ``name``, or ``value`` where it is still empty (SQL, so no
    other writer's value is lost between a read and this write)."""
    column = calls.c[name]
    return func.coalesce(column, literal(value, column.type))


def _conditions(query: CallQuery, text_via: TextVia) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a query, its text looked for as ``text_via`` says."""
    where: list[ColumnElement[bool]] = []
    for kept, value in (
        (calls.c.agent, query.agent),
        (calls.c.provider, query.provider),
        (calls.c.status, query.status),
        (calls.c.channel, query.channel),
        (calls.c.feedback_rating, query.feedback),
    ):
        if value is not None:
            where.append(kept == value)
    if query.demo_link == ANY_DEMO_LINK:
        where.append(calls.c.demo_link_id.is_not(None))
    elif query.demo_link is not None:
        where.append(calls.c.demo_link_id == query.demo_link)
    if query.since is not None:
        where.append(calls.c.created_at >= query.since)
    if query.until is not None:
        where.append(calls.c.created_at < query.until)
    if query.text:
        where.append(_matching(query.text, text_via))
    return where


def _matching(text: str, via: TextVia) -> ColumnElement[bool]:
    """A call holds ``text`` in one of its SEARCHED columns, in any case (``%`` and ``_`` as
    themselves): read in the calls SQLite's full-text index finds (``fts``; and in those made
    since its last batch), matched against the text
    PostgreSQL's trigram index holds (``trigrams``), or read in each column."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    search = literal(pattern, StoredText())  # a pattern is not a value of the column: never clipped
    if via == "trigrams":
        return searched_text("postgresql").ilike(search, escape="\\")
    read = or_(*(calls.c[name].ilike(search, escape="\\") for name in SEARCHED))
    if via == "columns":
        return read
    # The calls the index says hold each of the text's trigrams, and those made since its last
    # batch; read, to be sure (the index knows a trigram is there, not where).
    trigrams = dict.fromkeys(text[at : at + 3] for at in range(len(text) - 2))
    query = literal(" ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams), StoredText())
    indexed = select(_search.c.rowid).where(_search.c.calls_search.match(query))
    since = select(calls.c.id).where(calls.c.id > select(_search_progress.c.through).scalar_subquery())
    return and_(calls.c.id.in_(union_all(indexed, since)), read)


def _summary(rows: Sequence[Any]) -> CallSummary:
    """The summary from its groups' rows (see :meth:`CallStore.summarize`)."""
    statuses: Counter[str] = Counter()
    ratings: Counter[str] = Counter()
    costs: dict[str | None, tuple[float, int]] = {}
    refused = timed = 0
    duration_s = 0.0
    for row in rows:
        if row.feedback_rating:
            ratings[row.feedback_rating] += row.rows
        if row.refused:
            refused += row.rows
            continue
        statuses[row.status] += row.rows
        timed += row.timed
        duration_s += row.duration_s or 0.0
        if row.costed:
            total, counted = costs.get(row.cost_currency, (0.0, 0))
            costs[row.cost_currency] = (total + row.cost, counted + row.costed)
    return CallSummary(
        refused=refused,
        statuses=dict(statuses),
        timed=timed,
        duration_s=duration_s,
        # Sums of binary fractions carry noise (0.1 + 0.2): a cost is kept to a millionth of a cent.
        costs={currency: (round(total, 8), counted) for currency, (total, counted) in costs.items()},
        ratings=dict(ratings),
    )


def _link_usage() -> Select[Any]:
    """Each demo link's calls, grouped: its label and agent, its rows, the calls placed and the
    last request (what :func:`_link_state` reads)."""
    return select(
        calls.c.demo_link_id,
        func.max(calls.c.demo_link_label).label("label"),
        func.max(calls.c.agent).label("agent"),
        func.count().label("rows"),
        func.sum(case((calls.c.outcome == "created", 1), else_=0)).label("placed"),
        func.max(calls.c.created_at).label("last_at"),
    ).group_by(calls.c.demo_link_id)


def _named_by(label: ColumnElement[Any], link_id: ColumnElement[Any], q: str) -> ColumnElement[bool]:
    """A link whose label holds ``q`` (in any case; ``%`` and ``_`` as themselves), or whose id it is."""
    return or_(label.icontains(q, autoescape=True), link_id == q)


# A request we refused: its outcome an error code (a call's is "created").
_REFUSED = and_(calls.c.outcome.is_not(None), calls.c.outcome != "created")
_EVENT_STATES: dict[str, ColumnElement[bool]] = {
    # An attempt due at any moment: written as a range (every such moment is after 1970), which
    # SQLite reads by the index on next_attempt_at, where it scans the table for IS NOT NULL.
    "waiting": call_events.c.next_attempt_at >= datetime(1970, 1, 1, tzinfo=UTC),
    "given_up": and_(call_events.c.next_attempt_at.is_(None), call_events.c.sent_at.is_(None)),
    "sent": call_events.c.sent_at.is_not(None),
}


def _earlier_under_way(at: datetime) -> ColumnElement[bool]:
    """An attempt at an earlier event of the same call (or link) is under way at ``at``."""
    earlier = call_events.alias("earlier")
    return (
        select(earlier.c.id)
        .where(
            earlier.c.call_id == call_events.c.call_id,
            earlier.c.id < call_events.c.id,
            earlier.c.claimed_until > at,
        )
        .exists()
    )


def _claimed_by(event: PendingEvent) -> ColumnElement[bool]:
    """``event`` while the attempt that claimed it (``claim_event``) is still its latest."""
    return and_(call_events.c.id == event.id, call_events.c.attempts == event.attempts + 1)


def unknown_link(link_id: str) -> LinkState:
    """A demo link the call log knows nothing of (made elsewhere, never used or opened): it works."""
    return LinkState(link_id, None, None, 0, 0, None, None, None, None)


def _demo_link(connection: Connection, link_id: str) -> LinkState | None:
    """The demo link ``link_id`` as :meth:`CallStore.demo_link` reads it."""
    used = connection.execute(_link_usage().where(calls.c.demo_link_id == link_id)).first()
    row = connection.execute(select(demo_links).where(demo_links.c.link_id == link_id)).first()
    revoked_at = connection.execute(
        select(revoked_demo_links.c.revoked_at).where(revoked_demo_links.c.link_id == link_id)
    ).scalar()
    opened = _opens(connection, demo_link_opens.c.link_id == link_id).get(link_id)
    made = LinkMade(**row._asdict()) if row is not None else None
    if used is None and made is None and revoked_at is None and opened is None:
        return None
    return _link_state(link_id, used, made, revoked_at, opened)


def _opens(connection: Connection, where: ColumnElement[bool]) -> dict[str, LinkOpens]:
    """The opens of the links ``where`` matches, by link."""
    rows = connection.execute(select(demo_link_opens).where(where))
    return {row.link_id: LinkOpens(row.opens, row.first_opened_at, row.last_opened_at) for row in rows}


def _link_state(
    link_id: str, used: Any, made: LinkMade | None, revoked_at: datetime | None, opened: LinkOpens | None
) -> LinkState:
    """A link from its calls' group (None: no calls yet), its making (None: made elsewhere) and
    its opens (None: never opened)."""
    placed = int(used.placed or 0) if used is not None else 0
    return LinkState(
        link_id=link_id,
        label=made.label if made is not None else used.label if used is not None else None,
        agent=made.agent if made is not None else used.agent if used is not None else None,
        calls=placed,
        refused=used.rows - placed if used is not None else 0,
        last_at=used.last_at if used is not None else None,
        revoked_at=revoked_at,
        made=made,
        opened=opened,
    )


def _emit(connection: Connection, kind: CallEventType, call_id: str, at: datetime) -> None:
    """Keep the event ``kind`` of call ``call_id``, with the call as it is now, in the caller's
    transaction; ``history.events`` sends it."""
    row = connection.execute(select(*_LIST_COLUMNS).where(calls.c.call_id == call_id)).first()
    if row is not None:
        _keep_event(connection, kind, call_id, call_fields(_record(row)), at)


def _emit_link(connection: Connection, link_id: str, at: datetime) -> None:
    """Keep ``demo_link.opened`` for the link ``link_id``, with the link as it is at ``at``, in the
    caller's transaction."""
    link = _demo_link(connection, link_id)
    if link is not None:
        _keep_event(connection, "demo_link.opened", link_id, link_fields(link, at), at)


def _keep_event(
    connection: Connection, kind: EventType, subject: str, data: dict[str, Any], at: datetime
) -> None:
    """Keep the event ``kind`` of ``subject`` (a call's id, or a demo link's) to send."""
    connection.execute(
        insert(call_events).values(
            event_id=new_event_id(), type=kind, call_id=subject, body=event_body(kind, data, at),
            occurred_at=at, attempts=0, next_attempt_at=now(),
        )
    )  # fmt: skip


def _first(connection: Connection, where: ColumnElement[bool]) -> CallRecord | None:
    """The newest call ``where`` matches, with its transcript."""
    row = connection.execute(
        select(*_LIST_COLUMNS, calls.c.transcript).where(where).order_by(calls.c.created_at.desc()).limit(1)
    ).first()
    return None if row is None else _record(row, transcript=True)


def _record(row: Any, *, transcript: bool = False) -> CallRecord:
    """A row as a record."""
    values = {name: getattr(row, name) for name in CallRecord.__dataclass_fields__ if name != "transcript"}
    lines = None
    if transcript:
        lines = tuple(_line(item) for item in (row.transcript or []) if isinstance(item, dict))
    return CallRecord(**values, transcript=lines)


def _line(item: dict[str, Any]) -> TranscriptLine:
    """A stored transcript entry."""
    at = item.get("at")
    return TranscriptLine(
        role=str(item.get("role", "")),
        text=str(item.get("text", "")),
        at=datetime.fromisoformat(at) if isinstance(at, str) else None,
    )
