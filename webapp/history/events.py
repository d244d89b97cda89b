"""Events to the site's own URL (``WEBCALL_EVENTS_URL``): a call created, ended, rated.

The call log keeps each event in the transaction that changed the call (``CallStore``, with
``events=True``), so an event is never lost to a crash between the two; here a daemon thread in
each process sends what is due, about once a second, and retries what failed. Each event is
``POST``ed as JSON, ``{"type", "timestamp", "data"}`` (``data``: the call as the admin API shows
it), signed as Standard Webhooks sign (https://www.standardwebhooks.com): ``webhook-id`` (the
event's id, the same on every attempt: the receiver's key to drop repeats), ``webhook-timestamp``
(Unix seconds of this attempt) and ``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256 of
``id.timestamp.body`` under the secret's bytes), so any Standard Webhooks library checks it.

A 2xx answer is delivery. Anything else (another status, a redirect, no answer in 10 s) is tried
again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, and given up after those eight attempts
(about a day and a quarter); each failure is logged with the URL's host alone (its path or query
may hold a token of the receiver's) and counted for ``/metrics``. Several processes share the
work: an attempt is claimed in the database first, and an attempt a dying process left is taken
up again after a minute. So an event can arrive twice (a lost answer, a timeout): receivers drop
repeats by ``webhook-id``. Events of one call may overtake each other when a retry waits; the
``timestamp`` says when each happened.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from flask import Flask

from ..metrics import EVENTS
from .background import Background, start_with_first_request
from .store import CallLogError, CallStore, PendingEvent, now

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (5, 300, 1800, 7200, 18000, 36000, 36000)  # after attempts 1 to 7; 8 is the last
ATTEMPT_TIMEOUT_S = 10.0
CLAIM_S = 60  # an attempt's hold on its event, should its process die during it
POLL_S = 1.0
BATCH = 20


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
        self.http = httpx.Client(
            timeout=timeout_s, follow_redirects=False, headers={"User-Agent": user_agent}
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
        """Attempt each event due at ``at`` (now) once; how many were attempted."""
        at = at or now()
        attempted = 0
        for event in self.store.due_events(at, limit=BATCH):
            if self.store.claim_event(event, at + timedelta(seconds=CLAIM_S)):
                self._attempt(event, at)
                attempted += 1
        return attempted

    def _attempt(self, event: PendingEvent, at: datetime) -> None:
        """Post ``event`` once and record what came of it."""
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": event.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self.key, event.event_id, timestamp, event.body),
        }
        try:
            answer = self.http.post(self.url, content=event.body.encode(), headers=headers)
        except httpx.HTTPError as error:
            problem = _described(error)
        else:
            if answer.is_success:
                self.store.event_sent(event, now())
                EVENTS.labels(event.type, "sent").inc()
                log.info("event %s %s (call %s) sent to %s", *_named(event), self.host)
                return
            problem = f"HTTP {answer.status_code}"
        attempt = event.attempts + 1
        delay = RETRY_DELAYS_S[attempt - 1] if attempt <= len(RETRY_DELAYS_S) else None
        retry_at = at + timedelta(seconds=delay) if delay is not None else None
        self.store.event_failed(event, problem, retry_at)
        EVENTS.labels(event.type, "failed" if retry_at else "given_up").inc()
        then = f"again in {delay} s" if delay is not None else "given up"
        log.warning(
            "event %s %s (call %s) not sent to %s: %s (attempt %d; %s)", *_named(event), self.host, problem,
            attempt, then,
        )  # fmt: skip

    def close(self) -> None:
        """Stop the thread and close the HTTP client."""
        self.stop()
        self.http.close()


def _named(event: PendingEvent) -> tuple[str, str, str]:
    """What a log line says of an event: its id, type and call."""
    return event.event_id, event.type, event.call_id


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
    start_with_first_request(app, "webcall.events", sender)
