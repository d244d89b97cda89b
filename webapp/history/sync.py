"""Pulling the providers' own call history into the call log.

For each provider an agent uses: list each agent's calls since a moment (providers with
``list_calls``; once for all its agents where the list cannot be cut to one, Convoi's) and
store every call, keyed by the provider's id; then read in full the calls that are still live
or were never read in full (providers with ``get_call``: Ravan's transcript is only in its
detail, and Zudu has no list at all), except those a list just gave whole (Convoi's). A list
page that fails in a way that may pass is asked for again (a few times, after a short wait); a
page or a call the provider still breaks is logged and skipped, and the rest of the run goes
on. Each agent's calls are listed from a day before where the last run that read every page of
them began (not from the newest call stored: webhooks and status polls store calls no list
gave), so calls on a page one run could not read are listed by the next (the start is kept in
the call log until a run reads it all). Where the list can be gone on with (a cursor that lasts,
a call id: Convoi's; or a time range, for lists by start time cut at ``MAX_PAGES``), the call log
also keeps where, and a run after one that stopped (at the key's read limit, say) lists the calls
made since and then goes on from there: an account too big for one run is listed in a few.

``flask --app webapp history sync`` runs it once; with ``WEBCALL_HISTORY_SYNC_INTERVAL_S``
each process runs it in the background, and a lease in the database lets one of them at a
time do the work.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from flask import Flask

from ..catalogue import Agent
from ..errors import ProviderAuthError, ProviderBusy, ProviderError
from ..metrics import HISTORY_SYNC
from ..providers import CallPage, HistoryQuery, Provider, ProviderCall
from ..providers.transport import is_outage
from .background import Background, start_with_first_request
from .store import CallLogError, CallStore, UnfinishedListing, now

log = logging.getLogger(__name__)
MAX_PAGES = 500  # per listing (an agent's, or a provider's) and run: a runaway cursor must end somewhere
MAX_BROKEN_PAGES = 3  # in a row: then the provider is down, not one page broken
PAGE_ATTEMPTS = 3  # a list page that fails in a way that may pass is asked for this often in all
PAGE_BACKOFF_S = 0.25  # before asking again; doubled each time
MAX_PAGE_WAIT_S = 10.0  # a provider (or our circuit breaker) asking for a longer wait: not a blip
# A call still running at the last sync ends within a day (max_call_s is at most 86400 s), so
# each run lists again from a day before the last complete listing began (the provider's clock
# may differ from ours too).
OVERLAP = timedelta(days=1)
# A listing that goes on where an earlier run stopped also lists the calls made since that run
# began, and this long before (its clock and the provider's may differ).
RESUME_MARGIN = timedelta(minutes=10)
DETAIL_WINDOW = timedelta(days=7)  # a call asked about and not read in full is asked again this long
MAX_DETAIL_READS = 2000  # calls asked for per provider and run: a long history is read over runs
MAX_FAILED_READS = 3  # in a row (the provider down or broken, not one call): the reading stops
LEASE = "history-sync"
MAX_ID_CHARS = 255


@dataclass
class SyncReport:
    """What one provider's sync did."""

    provider: str
    since: datetime | None = None
    listed: int = 0  # calls read from lists
    new: int = 0  # of which the log did not have yet
    detailed: int = 0  # calls read in full
    skipped: int = 0  # entries or calls that could not be read
    broken_pages: int = 0
    errors: list[str] = field(default_factory=list)  # why the run stopped early
    complete: bool = True  # every page listed; if not, the next run lists from ``since`` again (or goes on)
    whole: set[str] = field(default_factory=set)  # the calls a list gave whole (Convoi's): read already
    resumed: bool = False  # went on where an earlier run stopped listing
    cut_short: bool = False  # a listing reached MAX_PAGES: not every page was read
    # Each listing cut at MAX_PAGES: the oldest start it reached, where the next run goes on below
    # (None: not known, or not a list to go on below; a kept cursor goes on by itself)
    cut_at: list[datetime | None] = field(default_factory=list)
    unread: bool = False  # calls left to read in full past MAX_DETAIL_READS: the next run goes on

    @property
    def missed_pages(self) -> bool:
        """Not every page was read: a page broken, a listing stopped or cut at ``MAX_PAGES``."""
        return bool(self.broken_pages or self.errors or self.cut_short)

    def summary(self) -> str:
        """One line for the operator."""
        since = self.since.isoformat() if self.since else "the beginning"
        text = (
            f"{self.provider}: {self.listed} calls listed since {since} ({self.new} new), "
            f"{self.detailed} read in full, {self.skipped} skipped, {self.broken_pages} broken pages"
        )
        if self.resumed:
            text += "; went on from where the last run stopped listing"
        if self.unread:
            text += f"; more calls to read in full than a run asks for ({MAX_DETAIL_READS}): the next goes on"
        text += "".join(f"; stopped: {error}" for error in self.errors)
        return text if self.complete else text + "; not every page was read: the next run lists them again"


def sync_all(
    providers: Mapping[str, Provider],
    agents: Iterable[Agent],
    store: CallStore,
    *,
    only: str | None = None,
    since: datetime | None = None,
) -> list[SyncReport]:
    """Sync every configured provider that some agent uses and that has a history (or ``only`` that one)."""
    by_provider: dict[str, list[Agent]] = {}
    for agent in agents:
        by_provider.setdefault(agent.provider, []).append(agent)
    reports = []
    for name in sorted(by_provider):
        adapter = providers.get(name)
        if adapter is None or (only is not None and name != only) or not has_history(adapter):
            continue
        reports.append(sync_provider(name, adapter, by_provider[name], store, since=since))
    return reports


def has_history(adapter: object) -> bool:
    """True when the provider can list its calls or look one up."""
    return callable(getattr(adapter, "list_calls", None)) or callable(getattr(adapter, "get_call", None))


def sync_provider(
    name: str, adapter: Provider, agents: list[Agent], store: CallStore, *, since: datetime | None = None
) -> SyncReport:
    """List, then read in full, one provider's calls; never raises for the provider's or the log's faults."""
    report = SyncReport(name)
    slugs: dict[str, str] = {}
    regions: dict[str, str | None] = {}
    for agent in sorted(agents, key=lambda a: a.slug):
        # Its own id, and the one its phone calls run on when that is another (a phone agent, a
        # Convoi workforce): the provider lists each call under the one that ran it.
        phone_runner = agent.phone.agent_id if agent.phone is not None else None
        for agent_id in (agent.agent_id, *([phone_runner] if phone_runner else [])):
            slugs.setdefault(agent_id, agent.slug)  # two slugs on one agent: the first names new calls
            regions.setdefault(agent_id, agent.region)
    try:
        list_calls = getattr(adapter, "list_calls", None)
        if callable(list_calls):
            by_agent = getattr(adapter, "filters_by_agent", True)
            resumable = not by_agent and getattr(adapter, "lasting_cursors", False)
            _list_all(
                list_calls, slugs, regions, store, report, since, by_agent=by_agent, resumable=resumable
            )
        get_call = getattr(adapter, "get_call", None)
        if callable(get_call):
            _read_in_full(get_call, slugs, store, report, since)
    except CallLogError as error:
        report.errors.append(f"the call log failed ({error})")
        log.error("history sync %s: the call log failed: %s", name, error)
    log.info("history sync %s", report.summary())
    counts = {
        "listed": report.listed,
        "new": report.new,
        "detailed": report.detailed,
        "skipped": report.skipped,
        "broken_page": report.broken_pages,
        "stopped": len(report.errors),
    }
    for outcome, count in counts.items():
        HISTORY_SYNC.labels(name, outcome).inc(count)
    return report


def _starts(
    store: CallStore,
    provider: str,
    agent_ids: list[str],
    since: datetime | None,
    unfinished: UnfinishedListing | None,
) -> dict[str, datetime | None]:
    """Where each agent's listing starts: ``since`` when given; else a day before where the last
    complete listing of its calls reached, and no later than where an unfinished listing started;
    None (everything) for an agent never listed in full."""
    if since is not None:
        return dict.fromkeys(agent_ids, since)
    reached = store.listed_through(provider, agent_ids)
    starts: dict[str, datetime | None] = {}
    for agent_id in agent_ids:
        start = reached[agent_id] - OVERLAP if agent_id in reached else None
        if unfinished is not None and start is not None:
            start = None if unfinished.since is None else min(start, unfinished.since)
        starts[agent_id] = start
    return starts


def _earliest(starts: Iterable[datetime | None]) -> datetime | None:
    """The earliest start (None, the beginning, if any is)."""
    values = list(starts)
    return None if not values or None in values else min(v for v in values if v is not None)


ListCalls = Callable[[HistoryQuery, str | None], CallPage]


def _list_all(
    list_calls: ListCalls,
    slugs: dict[str, str],
    regions: dict[str, str | None],
    store: CallStore,
    report: SyncReport,
    since: datetime | None,
    *,
    by_agent: bool = True,
    resumable: bool = False,
) -> None:
    """Every agent's calls since ``since`` or where the last complete listing of them left off:
    one listing per agent, or (``by_agent`` false: a list the provider cannot filter) one in all.

    The newest call stored is no sign that the older ones were: a page lost on the way would
    be skipped past for good. So the start is noted before listing and forgotten only once
    every page was read; until then each run lists from there again, or, where the listing can
    be gone on with (``resumable``: one listing, by a cursor that lasts; or lists by start time
    cut at ``MAX_PAGES``), lists the calls made since the last run began and then goes on from
    where it stopped.
    """
    started = now()
    unfinished = store.unfinished_listing(report.provider) if since is None else None
    starts = _starts(store, report.provider, sorted(slugs), since, unfinished)
    report.since = _earliest(starts.values())
    hold = Hold(store, report.provider, store.begin_listing(report.provider, report.since, list(starts)))
    report.complete = False  # until the last page (the call log may fail half-way)
    kept = resumable and since is None  # (a run from a given moment keeps no cursor of its own)
    queries = _queries(starts, regions, by_agent=by_agent)
    listings = [Listing(query, kept=kept) for query in queries]
    held = unfinished if unfinished is not None and unfinished.began_at == hold.began_at else None
    # Where the held listing stopped: a kept cursor (Convoi's), or a start lists by agent go on below.
    if held is not None and held.began_at is not None and (held.cursor if kept else by_agent and held.before):
        report.resumed = True
        # The calls made since the stopped run began; then, those listed too, the listing counts
        # as begun with this run (the next goes on from here), and goes on from where it stopped.
        made_since = [Listing(_made_since(query, held.began_at), catching_up=True) for query in queries]
        going_on = _list_each(list_calls, made_since, slugs, store, report, hold)
        if going_on and not report.missed_pages:
            hold.keep(held.cursor, caught_up_at=started)
        rest = [replace(query, until=held.before if by_agent else None) for query in queries]
        listings = [Listing(query, start=held.cursor, kept=kept) for query in rest] if going_on else []
    _list_each(list_calls, listings, slugs, store, report, hold)
    if report.missed_pages:
        # Again: a run beside this one may have ended it.
        store.begin_listing(report.provider, report.since, list(starts))
        if since is None and (before := going_on_before(report)) is not None:
            hold.keep_before(before, caught_up_at=started)
        return
    report.complete = True
    store.finish_listing(report.provider, report.since)
    store.note_listed(report.provider, starts, through=started)


def _queries(
    starts: dict[str, datetime | None], regions: dict[str, str | None], *, by_agent: bool
) -> list[HistoryQuery]:
    """One query per agent from its start, or (``by_agent`` false) one of the account's calls
    from the earliest."""
    if not by_agent:
        return [HistoryQuery(since=_earliest(starts.values()))]
    return [HistoryQuery(agent_id=a, since=start, region=regions[a]) for a, start in starts.items()]


def _made_since(query: HistoryQuery, began_at: datetime) -> HistoryQuery:
    """``query`` cut to the calls made since a stopped run began (and this long before it)."""
    made_since = began_at - RESUME_MARGIN
    return replace(query, since=made_since if query.since is None else max(made_since, query.since))


def _list_each(
    list_calls: ListCalls,
    listings: list[Listing],
    slugs: dict[str, str],
    store: CallStore,
    report: SyncReport,
    hold: Hold,
) -> bool:
    """Each listing in turn; False when the provider refused our key or rate-limited us (the rest
    are not listed)."""
    return all(_list_agent(list_calls, listing, slugs, store, report, hold) for listing in listings)


def going_on_before(report: SyncReport) -> datetime | None:
    """Where the next run goes on below, when this run read every page above each cut it made
    (no page broken, none of the cuts in a list that cannot be gone on with by start time): a
    second after the latest start a cut reached (more calls of that second may be on the pages
    not read). None otherwise: the next run lists from the top again."""
    if report.broken_pages or report.errors or not report.cut_at or None in report.cut_at:
        return None
    return max(at for at in report.cut_at if at is not None) + timedelta(seconds=1)


@dataclass
class Hold:
    """A run's hold on the provider's unfinished listing, the one that began at ``began_at``: where
    it goes on is written only while the call log still keeps that one (a run beside this one may
    have ended or restarted it meanwhile)."""

    store: CallStore
    provider: str
    began_at: datetime

    def keep(self, cursor: str | None, *, caught_up_at: datetime | None = None) -> None:
        """Note the next page (None: list from the top again); ``caught_up_at``: see
        :meth:`CallStore.keep_listing_cursor`."""
        kept = self.store.keep_listing_cursor(
            self.provider, cursor, began_at=self.began_at, caught_up_at=caught_up_at
        )
        if kept and caught_up_at is not None:
            self.began_at = caught_up_at

    def keep_before(self, before: datetime, *, caught_up_at: datetime) -> None:
        """Note, for a list by start time, that it goes on below ``before``; see
        :meth:`CallStore.keep_listing_before`."""
        if self.store.keep_listing_before(
            self.provider, before, began_at=self.began_at, caught_up_at=caught_up_at
        ):
            self.began_at = caught_up_at


@dataclass(frozen=True)
class Listing:
    """One listing a run reads: from ``start`` (a cursor) or the top; ``kept``: the call log
    keeps its next page once a page is stored; ``catching_up``: the calls made since a stopped run
    began (where it goes on is not below these)."""

    query: HistoryQuery
    start: str | None = None
    kept: bool = False
    catching_up: bool = False


def _list_agent(
    list_calls: ListCalls,
    listing: Listing,
    slugs: dict[str, str],
    store: CallStore,
    report: SyncReport,
    hold: Hold,
) -> bool:
    """Every page of one listing (an agent's calls, or the account's); False when the provider
    refused us (stop this provider).

    A page still broken after :func:`_read_page` is stepped over where the paging allows
    (numbered pages) until ``MAX_BROKEN_PAGES`` in a row; the calls of every page read are
    kept either way.
    """
    query, what = listing.query, listing_of(listing.query)
    cursor = listing.start
    broken = 0
    oldest: datetime | None = None  # the oldest start listed
    for _ in range(MAX_PAGES):
        page = _read_page(list_calls, query, cursor, report.provider)
        report.skipped += page.skipped
        if page.error is not None:
            report.broken_pages += 1
            broken += 1
            going_on = page.next_cursor is not None and broken < MAX_BROKEN_PAGES
            log.warning(
                "history sync %s: a page of %s could not be read (%s); %s",
                report.provider, what, page.error.code, "going on" if going_on else "stopping",
            )  # fmt: skip
            if not going_on:
                report.errors.append(f"{page.error.code} while listing {what}")
                refused = page.error.upstream_status in (400, 404)  # not our key, not a rate limit
                if refused and listing.start is not None and cursor == listing.start:
                    # the cursor kept is refused (its call deleted?): the next run lists from the top
                    log.warning("history sync %s: the page kept was refused", report.provider)
                    hold.keep(None)
                # Our key refused, or its rate limit: the provider's other listings would fare no
                # better. Any other refusal is this listing's (an agent deleted there, say): the
                # agents after it are listed all the same.
                return not isinstance(page.error, ProviderAuthError | ProviderBusy)
        else:
            broken = 0
            oldest = min(filter(None, (oldest, *(call.started_at for call in page.calls))), default=None)
            for call in page.calls:
                if query.agent_id is None and call.agent_id not in slugs:
                    continue  # another agent's, in a list that cannot be cut to ours
                report.listed += _store(store, report, call, slugs, detailed=page.whole)
                if page.whole:
                    report.whole.add(call.call_id)
            if listing.kept and page.next_cursor is not None and len(page.next_cursor) <= MAX_ID_CHARS:
                hold.keep(page.next_cursor)
        cursor = page.next_cursor
        if cursor is None:
            return True
    log.warning("history sync %s: stopped listing %s after %d pages", report.provider, what, MAX_PAGES)
    report.cut_short = True  # not every page was read: the next run goes on (or lists them again)
    if not listing.kept:  # (a kept cursor goes on by itself)
        report.cut_at.append(None if listing.catching_up else oldest)
    return True


def listing_of(query: HistoryQuery) -> str:
    """What a listing is of, in the operator's words."""
    return f"agent {query.agent_id}" if query.agent_id else "the account's calls"


def _read_page(list_calls: ListCalls, query: HistoryQuery, cursor: str | None, provider: str) -> CallPage:
    """One page, asked for again while it fails in a way that may pass (``PAGE_ATTEMPTS`` in all).

    Listing only reads, so asking again is safe (each list is a GET, or Retell's POST that
    only reads); each attempt keeps the transport's timeouts and its own retries.
    """
    page = list_calls(query, cursor)
    for attempt in range(1, PAGE_ATTEMPTS):
        if page.error is None or (wait_s := page_retry_wait_s(page.error, attempt)) is None:
            break
        log.warning(
            "history sync %s: a page of %s failed (%s); asking again in %.2f s",
            provider, listing_of(query), page.error.code, wait_s,
        )  # fmt: skip
        time.sleep(wait_s)
        page = list_calls(query, cursor)
    return page


def page_retry_wait_s(error: ProviderError, attempt: int) -> float | None:
    """Seconds to wait before asking for a failed page again; None when not to ask again.

    Only a provider down or broken (5xx, timeouts, an unreadable answer) or its rate limit
    (429, after its ``Retry-After``) may answer differently next time; another refusal will not.
    """
    if not (is_outage(error) or isinstance(error, ProviderBusy)):
        return None
    wait_s = max(PAGE_BACKOFF_S * 2 ** (attempt - 1), float(error.retry_after_s or 0))
    return wait_s if wait_s <= MAX_PAGE_WAIT_S else None


def _read_in_full(
    get_call: Callable[[str], ProviderCall],
    slugs: dict[str, str],
    store: CallStore,
    report: SyncReport,
    since: datetime | None,
) -> None:
    """Read calls in full from the provider's own record, up to ``MAX_DETAIL_READS`` a run: first
    those of the last week (or since ``since``) not read in full yet, and those still live from
    the last day; then every call never asked about, however old (newest first; the rest the
    next run). Not those this run's list gave whole (Convoi's: its key's reads are few).

    Each call asked about is noted (``detail_asked_at``) once the provider answered, for it or
    for a call after it: a call it does not know, refuses or fails on alone is asked again only
    when something new is heard of it, so none holds up the others, and an outage costs no call
    its record. Our key refused, a rate limit, or ``MAX_FAILED_READS`` failures in a row (the
    provider down) stop the reading.
    """
    moment = now()
    window = since if since is not None else moment - DETAIL_WINDOW
    live_since = since if since is not None else moment - OVERLAP
    reading = _Reading(get_call, slugs, store, report)
    if not reading.each(store.calls_needing_detail(report.provider, window, live_since=live_since)):
        return
    while batch := reading.fresh(store.calls_never_asked(report.provider, since)):
        if not reading.each(batch):
            return


@dataclass
class _Reading:
    """One run's reading of calls in full: what it asked about, and its failures in a row."""

    get_call: Callable[[str], ProviderCall]
    slugs: dict[str, str]
    store: CallStore
    report: SyncReport
    asked: set[str] = field(default_factory=set)
    failing: list[str] = field(default_factory=list)  # unanswered, in a row: theirs, or the provider's

    def fresh(self, call_ids: list[str]) -> list[str]:
        """Those not asked about yet this run, nor given whole by its list."""
        return [c for c in call_ids if c not in self.asked and c not in self.report.whole]

    def each(self, call_ids: list[str]) -> bool:
        """Read each call not asked about yet this run; False when the reading stops."""
        for call_id in self.fresh(call_ids):
            if len(self.asked) >= MAX_DETAIL_READS:
                self.report.unread = True
                log.info("history sync %s: asked for %d calls in full; the next run goes on",
                         self.report.provider, MAX_DETAIL_READS)  # fmt: skip
                return False
            self.asked.add(call_id)
            if not self.read(call_id):
                return False
        return True

    def read(self, call_id: str) -> bool:
        """Ask for one call; False when the reading must stop."""
        report = self.report
        try:
            call = self.get_call(call_id)
        except (ProviderAuthError, ProviderBusy) as error:  # our key, or its rate limit: not this call
            report.errors.append(f"{error.code} while reading calls")
            log.warning("history sync %s: stopped reading calls: %s", report.provider, error.code)
            return False
        except ProviderError as error:
            report.skipped += 1
            if error.upstream_status in (400, 404, 409, 410, 422):  # about this call: not found, gone
                self.answered(call_id)
                return True
            # Down, slow or broken: noted as asked only once the provider answers for a later
            # call (then it was this call's fault), so an outage costs no call its record.
            self.failing.append(call_id)
            log.warning("history sync %s: call %s could not be read (%s)",
                        report.provider, call_id, error.code)  # fmt: skip
            if len(self.failing) >= MAX_FAILED_READS:
                report.errors.append(f"{error.code} while reading calls")
                log.warning("history sync %s: stopped reading calls after %d failures in a row",
                            report.provider, len(self.failing))  # fmt: skip
                return False
            return True
        if call.call_id != call_id:
            report.skipped += 1  # an answer about another call is no answer about this one
        else:
            report.detailed += _store(self.store, report, call, self.slugs, detailed=True)
        self.answered(call_id)
        return True

    def answered(self, call_id: str) -> None:
        """Note the call as asked about, and those that failed just before it (the provider works)."""
        for failed in (*self.failing, call_id):
            self.store.mark_detail_asked(self.report.provider, failed)
        self.failing.clear()


def _store(
    store: CallStore, report: SyncReport, call: ProviderCall, slugs: dict[str, str], *, detailed: bool = False
) -> bool:
    """Upsert one reported call under its agent's slug; False when it could not be kept."""
    if len(call.call_id) > MAX_ID_CHARS:
        report.skipped += 1
        return False
    agent = slugs.get(call.agent_id or "")
    if store.upsert_provider_call(report.provider, call, agent=agent, detailed=detailed) == "new":
        report.new += 1
    return True


class PeriodicSync(Background):
    """Runs the sync every ``interval_s`` in a daemon thread; one process of many holds the lease."""

    thread_name = "webcall-history-sync"

    def __init__(self, run: Callable[[], object], store: CallStore, interval_s: int) -> None:
        super().__init__()
        self.run = run
        self.store = store
        self.interval_s = interval_s
        self.holder = f"{socket.gethostname()[:40]}:{os.getpid()}"

    def _loop(self) -> None:
        """Sleep a little less or more than the interval (so processes don't wake together), then sync."""
        lease = timedelta(seconds=self.interval_s * 0.8)
        while not self.stopping.wait(self.interval_s * random.uniform(0.9, 1.1)):
            try:
                if self.store.acquire_lease(LEASE, self.holder, lease):
                    self._run_holding(lease)
            except Exception:  # a bad run must not end the thread: the next one may well work
                log.exception("history sync: the periodic run failed")

    def _run_holding(self, lease: timedelta) -> None:
        """One run, the lease renewed as it goes: a run that outlasts it (thousands of calls read
        in full, a slow provider) let another process start the same run beside it, asking for
        the same calls again against the provider's rate limits."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(lease.total_seconds() / 3):
                try:
                    self.store.acquire_lease(LEASE, self.holder, lease)
                except CallLogError as error:  # the run goes on; another may start beside it
                    log.warning("history sync: the lease could not be renewed: %s", error)

        threading.Thread(target=renew, name="webcall-history-sync-lease", daemon=True).start()
        try:
            self.run()
        finally:
            done.set()


def init_app(app: Flask, sync: PeriodicSync | None) -> None:
    """Start the periodic sync with the first request a process serves (never in a CLI command)."""
    start_with_first_request(app, "webcall.history_sync", sync)
