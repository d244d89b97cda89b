"""The history tests' shared parts: a receiver of events over real HTTP, and the app sending to it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import httpx
import pytest
from flask import Flask

from tests.fakes import FakeServer, FakeState
from tests.fakes.receiver import SECRET, Receiver
from tests.support.apps import app_state_of, post
from webapp.history.events import EventSender
from webapp.history.store import CallRecord
from webapp.metrics import WEBHOOKS

HOOK_TOKEN = "hook-" + "k" * 40
RECEIVER_TOKEN = "receiver-secret-token"  # in the URL's query: never in a log line
MakeApp = Callable[..., Flask]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """The receiver and the URL to give the app (with a token of the receiver's in its query)."""
    target = Receiver()
    server = FakeServer(target.app()).start()
    yield target, f"{server.url}/hooks/webcall?token={RECEIVER_TOKEN}"
    server.stop()


@pytest.fixture
def events_app(make_app: MakeApp, receiver: tuple[Receiver, str], call_log_url: str) -> Callable[..., Flask]:
    """Build the app with events on (SQLite, then PostgreSQL), its thread held back."""

    def build(*, thread: bool = False, **env: str) -> Flask:
        app = make_app(
            WEBCALL_DATABASE_URL=call_log_url, WEBCALL_EVENTS_URL=receiver[1], WEBCALL_EVENTS_SECRET=SECRET,
            WEBCALL_WEBHOOK_TOKEN=HOOK_TOKEN, RAVAN_ORG_ID="org_fake", **env,
        )  # fmt: skip
        if not thread:
            sender_of(app).started = True  # the test sends, a pass at a time
        return app

    return build


class PlacedCall:
    """The app served over HTTP, a web call placed through it with ``agent``, and the address of
    the provider's webhook there (``/webhooks/<provider>``)."""

    def __init__(self, app: Flask, fake: FakeState, provider: str, agent: str) -> None:
        self.app = app
        self.fake = fake
        self.provider = provider
        self.server = FakeServer(app).start()
        self.hook = f"{self.server.url}/webhooks/{provider}"
        answer = post(app, {"agent": agent})
        assert answer.status_code == 201, answer.get_json()
        self.call_id: str = answer.get_json()["call_id"]

    def record(self) -> CallRecord:
        """The placed call as the log has it now."""
        record = app_state_of(self.app).history.find(self.call_id)
        assert record is not None
        return record

    def send(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST ``body`` to the webhook once."""
        return httpx.post(self.hook, content=body, headers=headers, timeout=5)

    def refused_unsigned(
        self, body: bytes, headers: dict[str, str], key: str, logged: pytest.LogCaptureFixture
    ) -> None:
        """The delivery is 401 ``invalid_webhook_signature``, changes nothing of the call, is
        counted for ``/metrics`` and leaves ``key`` out of every log line."""
        before = self.record()
        refusals = WEBHOOKS.labels(self.provider, "invalid_webhook_signature")
        counted = refusals._value.get()
        logged.set_level(logging.DEBUG)
        answer = self.send(body, headers)
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, "invalid_webhook_signature")
        assert self.record() == before
        assert refusals._value.get() == counted + 1
        assert key not in logged.text


def with_signature(
    header: str, value: str | None, signed: tuple[bytes, dict[str, str]]
) -> tuple[bytes, dict[str, str]]:
    """A signed delivery (its body and headers) with its signature ``header`` left out (``value``
    None) or written as ``value`` (``{signed}`` in it: the right signature)."""
    body, headers = signed[0], dict(signed[1])
    if value is None:
        del headers[header]
    else:
        headers[header] = value.format(signed=headers[header])
    return body, headers


def sender_of(app: Flask) -> EventSender:
    sender = app.extensions["webcall.events"]
    assert isinstance(sender, EventSender)
    return sender
