"""The history tests' shared parts: a receiver of events over real HTTP, and the app sending to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from tests.fakes import FakeServer
from tests.fakes.receiver import SECRET, Receiver
from webapp.history.events import EventSender

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


def sender_of(app: Flask) -> EventSender:
    sender = app.extensions["webcall.events"]
    assert isinstance(sender, EventSender)
    return sender
