"""Events to the site's own URL (``WEBCALL_EVENTS_URL``): a call created, started, ended, rated; a
demo link opened.

The call log keeps each event in the transaction that changed the call or the link (``CallStore``,
given the types to keep), so an event is never lost to a crash between the two; here a daemon thread
in each process sends what is due, about once a second (four at a time, of different calls and
links: one call's go in turn, the oldest first, whichever process sends them), and retries what
failed. Each event is ``POST``ed as JSON, ``{"type", "timestamp", "data"}`` (``data``: the call, or
the link, as the admin API shows it), signed as Standard Webhooks sign
(https://www.standardwebhooks.com): ``webhook-id`` (the event's id, the same on every attempt: the
receiver's key to drop repeats), ``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body`` under the
secret's bytes), so any Standard Webhooks library checks it.

A 2xx answer is delivery (its body is not read). Anything else (another status, a redirect, no
answer in 10 s, however slowly it trickles in) is tried again after 5 s, 5 min, 30 min, 2 h, 5 h,
10 h and 10 h, and given up after those eight attempts (about a day and a quarter); each failure is
logged with the URL's host alone (its path or query may hold a token of the receiver's) and counted
for ``/metrics``. Several processes share the work: an attempt is claimed in the database first, and
an attempt a dying process left is taken up again after a minute (the slower attempt's outcome then
changes nothing). So an event can arrive twice (a lost answer, a timeout): receivers drop repeats by
``webhook-id``. Events of one call may overtake each other when a retry waits; the ``timestamp``
says when each happened.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from flask import Flask

from ..metrics import EVENTS
from .background import Background, start_with_first_request
from .payloads import iso
from .store import CallLogError, CallStore, PendingEvent, new_event_id, now

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (5, 300, 1800, 7200, 18000, 36000, 36000)  # after attempts 1 to 7; 8 is the last
ATTEMPT_TIMEOUT_S = 10.0
CLAIM_S = 60  # an attempt's hold on its event, should its process die during it
POLL_S = 1.0
BATCH = 20
AT_ONCE = 4  # events posted at the same time (of different calls): a slow receiver holds a pass less
EXTENSION = "webcall.events"  # app.extensions' key for the sender
TEST_EVENT = "webhook.test"  # sent from the admin view's Events page, to try a receiver
TEST_MESSAGE = "A test event from webcall's admin view: your URL takes events."


@dataclass(frozen=True)
class Delivery:
    """What came of one attempt at posting an event."""

    event_id: str
    status: int | None  # the URL's HTTP status; None when it did not answer
    problem: str | None  # why it is no delivery ("HTTP 401", "timed out"); None for a 2xx
    elapsed_ms: int


def signature(key: bytes, event_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header of ``body`` sent as ``event_id`` at ``timestamp``."""
    signed = f"{event_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class EventSender(Background):
    """Sends the due events to ``url``, from a daemon thread (:meth:`start`) or a pass at a time."""

    thread_name = "webcall-events"

    def __init__(
        self,
        store: CallStore,
        url: str,
        key: bytes,
        *,
        user_agent: str = "webcall",
        timeout_s: float = ATTEMPT_TIMEOUT_S,
    ) -> None:
        super().__init__()
        self.store = store
        self.url = url
        self.host = urlsplit(url).netloc.rpartition("@")[2]  # what a log line may say of the URL
        self.key = key
        self.timeout_s = timeout_s
        # A connection per attempt, each watched by its deadline (``_Deadline``).
        self.http = httpx.Client(
            timeout=timeout_s,
            follow_redirects=False,
            headers={"User-Agent": user_agent},
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def _loop(self) -> None:
        """A pass about every second; a call log that cannot be read is logged once, not each time."""
        unreadable = False
        while not self.stopping.wait(POLL_S):
            try:
                while self.send_due() == BATCH and not self.stopping.is_set():
                    pass  # a full batch: more may be due at once
            except CallLogError as error:
                if not unreadable:
                    log.warning("events: the call log cannot be read, none is sent meanwhile: %s", error)
                unreadable = True
                continue
            except Exception:  # a bad pass must not end the thread: the next one may well work
                log.exception("events: a pass failed")
            if unreadable:
                log.info("events: the call log can be read again")
                unreadable = False

    def send_due(self, at: datetime | None = None) -> int:
        """Attempt each event due at ``at`` (now) once; how many were attempted.

        The events of different calls (and links) go ``AT_ONCE`` at a time, those of one call in
        turn, the oldest first: a receiver taking seconds to answer, or not answering at all, holds
        a pass for one event's time per call, not for all of them in a row.

        Each claim holds its event for ``CLAIM_S`` from the moment it is made, not from the pass's
        start: behind such a receiver the later events of a pass would be claimed for less, or not
        at all, and another process would take them up during their attempt. (A retry's time
        counts from ``at``: a few seconds early, behind such a receiver.)
        """
        at = at or now()
        started = time.monotonic()

        def send(events: list[PendingEvent]) -> int:
            """One call's events, in turn; how many were attempted."""
            attempted = 0
            for event in events:
                claimed_at = at + timedelta(seconds=time.monotonic() - started)
                if not self.store.claim_event(event, claimed_at, claimed_at + timedelta(seconds=CLAIM_S)):
                    break  # another process has it, or one before it: the rest wait their turn
                self._attempt(event, at)
                attempted += 1
            return attempted

        by_subject: dict[str, list[PendingEvent]] = {}
        for event in self.store.due_events(at, limit=BATCH):
            by_subject.setdefault(event.call_id, []).append(event)
        if len(by_subject) < 2:
            return sum(send(events) for events in by_subject.values())
        with ThreadPoolExecutor(min(AT_ONCE, len(by_subject)), thread_name_prefix=self.thread_name) as pool:
            return sum(pool.map(send, by_subject.values()))

    def _attempt(self, event: PendingEvent, at: datetime) -> None:
        """Post ``event`` once and record what came of it."""
        answered = self._post(event.event_id, event.body)
        if answered.problem is None:
            self.store.event_sent(event, now())
            EVENTS.labels(event.type, "sent").inc()
            log.info("event %s %s (%s) sent to %s", *_named(event), self.host)
            return
        problem = answered.problem
        attempt = event.attempts + 1
        delay = RETRY_DELAYS_S[attempt - 1] if attempt <= len(RETRY_DELAYS_S) else None
        retry_at = at + timedelta(seconds=delay) if delay is not None else None
        self.store.event_failed(event, problem, retry_at)
        EVENTS.labels(event.type, "failed" if retry_at else "given_up").inc()
        then = f"again in {delay} s" if delay is not None else "given up"
        log.warning(
            "event %s %s (%s) not sent to %s: %s (attempt %d; %s)", *_named(event), self.host, problem,
            attempt, then,
        )  # fmt: skip

    def send_test_event(self) -> Delivery:
        """Post a test event (``webhook.test``) now, signed as every event is, and say what came of
        it: for an operator setting up a receiver. Not kept, not tried again."""
        event_id = new_event_id()
        body = {"type": TEST_EVENT, "timestamp": iso(now()), "data": {"message": TEST_MESSAGE}}
        answered = self._post(event_id, json.dumps(body, separators=(",", ":")))
        outcome = answered.problem or "delivered"
        log.info("event %s %s sent to %s: %s", event_id, TEST_EVENT, self.host, outcome)
        return answered

    def _post(self, event_id: str, body: str) -> Delivery:
        """One attempt at posting ``body`` as the event ``event_id``, signed."""
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self.key, event_id, timestamp, body),
        }
        started = time.perf_counter()
        deadline = _Deadline(self.timeout_s)
        try:
            # The status is the answer: its body is never read (a receiver sending it a byte at a
            # time would hold the attempt past its timeout, which counts each read alone).
            with self.http.stream(
                "POST", self.url, content=body.encode(), headers=headers, extensions={"trace": deadline.trace}
            ) as answer:
                status = answer.status_code
        except httpx.HTTPError as error:
            failed = "timed out" if deadline.passed else _described(error)
            return Delivery(event_id, None, failed, _ms_since(started))
        finally:
            deadline.cancel()
        problem = None if 200 <= status < 300 else f"HTTP {status}"
        return Delivery(event_id, status, problem, _ms_since(started))

    def close(self) -> None:
        """Stop the thread and close the HTTP client."""
        self.stop()
        self.http.close()


class _Deadline:
    """Ends an attempt ``seconds`` after it began, however it stands: httpx's timeouts count each
    read alone, so a receiver sending its answer's head a line at a time would hold the attempt
    (and the pass, and a claim another process would then take over) for as long as it liked.
    Its connection, new for each attempt, is shut down then; httpx raises, and it is a timeout."""

    def __init__(self, seconds: float) -> None:
        self.lock = threading.Lock()
        self.passed = False
        self.sock: socket.socket | None = None
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True
        self.timer.start()

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpx's ``trace`` extension: takes the attempt's socket as it connects, and again once
        TLS has wrapped it (the TLS socket takes the connection over from the plain one)."""
        if not name.endswith(("connect_tcp.complete", "start_tls.complete")):
            return
        sock = info["return_value"].get_extra_info("socket")
        with self.lock:
            self.sock = sock
            if self.passed:  # connected only as the time ran out
                _shut(sock)

    def _expire(self) -> None:
        with self.lock:
            self.passed = True
            if self.sock is not None:
                _shut(self.sock)

    def cancel(self) -> None:
        self.timer.cancel()


def _shut(sock: socket.socket) -> None:
    """Wake whatever waits on ``sock`` (the sending thread, or greenlet under gevent)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed meanwhile: the attempt is over anyway


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _named(event: PendingEvent) -> tuple[str, str, str]:
    """What a log line says of an event: its id, its type and what it is of (``call wc_…``, ``link dl_…``)."""
    of = "link" if event.type.startswith("demo_link.") else "call"
    return event.event_id, event.type, f"{of} {event.call_id}"


def _described(error: httpx.HTTPError) -> str:
    """An attempt's failure in a few words, never the URL (httpx may name it in its messages)."""
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    if isinstance(error, httpx.ConnectError):
        return "could not connect"
    return type(error).__name__


def init_app(app: Flask, sender: EventSender | None) -> None:
    """Start sending with the first request a process serves (never in a CLI command: the events
    a ``history sync`` keeps are sent by the app's processes)."""
    start_with_first_request(app, EXTENSION, sender)


def app_sender(app: Flask) -> EventSender | None:
    """The app's sender (:func:`init_app`'s), or None while events are off."""
    sender = app.extensions.get(EXTENSION)
    return sender if isinstance(sender, EventSender) else None
