"""Events to the site's own URL (``WEBCALL_EVENTS_URL``): kept with the call, sent signed, retried.

A receiver served over real HTTP records what reaches it; each event is checked with the
Standard Webhooks reference library (``standardwebhooks``), as a receiver would check it. The
app's sending thread is held back in most tests, which send a pass at a time (and move the
clock for the retries); one test lets the thread run.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import sqlalchemy as sa
from flask import Flask
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.ravan import call_completed_event, complete_session
from tests.fakes.receiver import SECRET, Receiver
from tests.history.conftest import HOOK_TOKEN, RECEIVER_TOKEN, sender_of
from tests.support.apps import app_state_of, post
from tests.support.processes import free_port, wait_until
from tests.support.services import self_signed_certificate
from webapp.admin.link_models import AdminDemoLink
from webapp.admin.models import AdminCall
from webapp.errors import ConfigError
from webapp.history import events
from webapp.history.events import CLAIM_S, RETRY_DELAYS_S, TEST_EVENT, EventSender
from webapp.history.schema import call_events
from webapp.history.store import CallAttempt, CallStore, EventType, now
from webapp.ops.openapi import document
from webapp.pages.demo_links import sign_demo_link, verify_demo_link
from webapp.providers import ProviderCall
from webapp.settings import EVENT_TYPES, Settings, events_key

CATALOGUE = """
[agents.sales]
provider = "ravan"
agent_id = "{ravan}"
feedback = true
"""
KEY = events_key(SECRET)  # the bytes it signs with
METRICS_TOKEN = "metrics-token-0123456789abcdef"
MakeApp = Callable[..., Flask]
LINK_KEY = "events-tests-secret-key-0123456789abcdef"  # WEBCALL_SECRET_KEY: it signs demo links
BROWSER = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}  # a person's browser opening a page
QUICK = {"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", "LIVEKIT_URL": "ws://127.0.0.1:7880",
         "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "s" * 32}  # fmt: skip


def rows(store: CallStore) -> list[Any]:
    """The kept events, oldest first."""
    with store.engine.connect() as connection:
        return list(connection.execute(sa.select(call_events).order_by(call_events.c.id)))


def sent_count(kind: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("webcall_events_total", {"type": kind, "outcome": outcome}) or 0.0


def new_call(app: Flask) -> tuple[str, str]:
    """A Ravan web call: the provider's session id and our id."""
    answer = post(app, {"agent": "sales"})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    ours = re.search(r"wc_[0-9a-f]{20}", body["feedback_url"])
    assert ours
    return body["call_id"], ours.group(0)


def ended_call(app: Flask, ravan: Any) -> tuple[str, str]:
    """A Ravan web call that has ended (its webhook applied): the provider's session id and our id."""
    session, ours = new_call(app)
    complete_session(ravan[1], session)
    ended = app.test_client().post(
        f"/webhooks/ravan/{HOOK_TOKEN}", json=call_completed_event(ravan[1], session)
    )
    assert ended.get_json() == {"status": "applied"}
    return session, ours


def test_a_call_created_ended_and_rated_reaches_the_url_signed(
    events_app: Callable[..., Flask],
    receiver: tuple[Receiver, str],
    ravan: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, (target, url) = events_app(), receiver
    before = {kind: sent_count(kind, "sent") for kind in ("call.created", "call.ended", "call.rated")}
    caplog.set_level(logging.INFO)
    session, ours = new_call(app)
    complete_session(ravan[1], session, transcript=[("assistant", "Hi!"), ("user", "Bye.")])
    ended = app.test_client().post(
        f"/webhooks/ravan/{HOOK_TOKEN}", json=call_completed_event(ravan[1], session)
    )
    assert ended.get_json() == {"status": "applied"}
    rated = app.test_client().post(f"/api/calls/{ours}/feedback", json={"rating": "good", "comment": "Fast."})
    assert rated.status_code == 200
    assert sender_of(app).send_due() == 3

    created, finished, feedback = target.events()  # each signature checked
    assert [e["type"] for e in (created, finished, feedback)] == ["call.created", "call.ended", "call.rated"]
    assert {e["data"]["call_id"] for e in (created, finished, feedback)} == {ours}
    assert (created["data"]["status"], created["data"]["provider_call_id"], created["data"]["agent"]) == (
        "created", session, "sales",
    )  # fmt: skip
    assert (finished["data"]["status"], finished["data"]["duration_s"]) == ("completed", 42)
    assert finished["data"]["summary"] == "The caller asked about pricing."
    assert (feedback["data"]["feedback_rating"], feedback["data"]["feedback_comment"]) == ("good", "Fast.")
    # data is the admin API's call, field for field (the transcript stays there), as /openapi.json
    # describes the events (OpenAPI's webhooks).
    assert set(created["data"]) == set(AdminCall.model_fields)
    described = document()
    schema = {**described["components"]["schemas"]["CallEvent"], "components": described["components"]}
    for event in (created, finished, feedback):
        jsonschema.validate(event, schema)
    for event in (created, finished, feedback):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", event["timestamp"])

    ids = [headers["Webhook-Id"] for headers, _, _ in target.received]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"evt_[0-9a-f]{24}", i) for i in ids)
    for headers, _, where in target.received:
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"].startswith("webcall/")
        assert abs(int(headers["Webhook-Timestamp"]) - time.time()) < 60
        assert where == url  # its path and query as given
    for kind in before:
        assert sent_count(kind, "sent") == before[kind] + 1
    assert all(
        row.sent_at is not None and row.next_attempt_at is None for row in rows(app_state_of(app).history)
    )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"call.ended (call {ours}) sent to 127.0.0.1:" in logged
    assert RECEIVER_TOKEN not in logged and SECRET not in logged and SECRET[6:] not in logged


def test_a_call_through_a_demo_link_says_which_link(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], ravan: Any
) -> None:
    """The sales person's CRM hears that Acme called, from the link made for Acme."""
    key = "events-secret-key-0123456789abcdef"
    app, (target, _) = events_app(WEBCALL_SECRET_KEY=key), receiver
    token = sign_demo_link(key, "sales", {}, int(time.time()) + 60, label="Acme")
    answer = post(app, {"agent": "sales", "demo_token": token})
    assert answer.status_code == 201, answer.get_json()
    assert sender_of(app).send_due() == 1
    (created,) = target.events()
    assert (created["type"], created["data"]["demo_link_label"]) == ("call.created", "Acme")
    assert created["data"]["demo_link_id"] == verify_demo_link(key, token).link_id


def test_a_failed_attempt_is_tried_again_later_with_the_same_id_and_body(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], caplog: pytest.LogCaptureFixture
) -> None:
    app, (target, _) = events_app(), receiver
    target.statuses = [503]
    new_call(app)
    sender, store, start = sender_of(app), app_state_of(app).history, now()
    assert sender.send_due(start) == 1
    (row,) = rows(store)
    assert (row.attempts, row.last_error, row.sent_at) == (1, "HTTP 503", None)
    assert row.next_attempt_at == start + timedelta(seconds=RETRY_DELAYS_S[0])
    assert "not sent to 127.0.0.1:" in caplog.text and "HTTP 503 (attempt 1; again in 5 s)" in caplog.text
    assert sender.send_due(start + timedelta(seconds=4)) == 0  # not yet
    assert sender.send_due(start + timedelta(seconds=5)) == 1
    (first, first_body, _), (second, second_body, _) = target.received
    assert first["Webhook-Id"] == second["Webhook-Id"] and first_body == second_body
    assert len(target.events()) == 2  # both signed (each with its own timestamp)
    (row,) = rows(store)
    assert (row.attempts, row.last_error, row.next_attempt_at) == (2, None, None) and row.sent_at


@pytest.mark.parametrize("status", [500, 302, 404])
def test_after_eight_failed_attempts_an_event_is_given_up(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], status: int
) -> None:
    """Standard Webhooks' schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; a
    redirect is not followed (the URL is the one configured)."""
    app, (target, _) = events_app(), receiver
    target.statuses = [status] * 20
    new_call(app)
    sender, store, at = sender_of(app), app_state_of(app).history, now()
    given_up = sent_count("call.created", "given_up")
    for delay in RETRY_DELAYS_S:
        assert sender.send_due(at) == 1
        assert sender.send_due(at + timedelta(seconds=delay - 1)) == 0
        at += timedelta(seconds=delay)
    assert sender.send_due(at) == 1  # the eighth
    assert sender.send_due(at + timedelta(days=365)) == 0
    (row,) = rows(store)
    assert (row.attempts, row.next_attempt_at, row.sent_at, row.last_error) == (
        8,
        None,
        None,
        f"HTTP {status}",
    )
    assert len(target.received) == 8 and {h["Webhook-Id"] for h, _, _ in target.received} == {row.event_id}
    assert sent_count("call.created", "given_up") == given_up + 1


def test_a_receiver_that_is_down_or_too_slow_is_tried_again(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str]
) -> None:
    app, (target, url) = events_app(), receiver
    new_call(app)
    store, at = app_state_of(app).history, now()
    closed = EventSender(store, f"http://127.0.0.1:{free_port()}/hooks?token=x", KEY)  # nobody listens
    assert closed.send_due(at) == 1
    assert rows(store)[0].last_error == "could not connect"
    target.delay_s = 1.0
    impatient = EventSender(store, url, KEY, timeout_s=0.3)
    assert impatient.send_due(at + timedelta(seconds=5)) == 1
    assert rows(store)[0].last_error == "timed out"
    target.delay_s = 0.0
    assert EventSender(store, url, KEY).send_due(at + timedelta(seconds=305)) == 1
    row = rows(store)[0]
    assert (row.attempts, row.last_error) == (3, None) and row.sent_at is not None


def test_two_processes_never_send_one_event_twice(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str]
) -> None:
    app, (target, url) = events_app(), receiver
    for _ in range(25):
        new_call(app)
    target.delay_s = 0.01
    store = app_state_of(app).history
    senders = [EventSender(store, url, KEY), EventSender(store, url, KEY)]
    threads = [threading.Thread(target=lambda s=s: [s.send_due() for _ in range(3)]) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    ids = [headers["Webhook-Id"] for headers, _, _ in target.received]
    assert len(ids) == 25 and len(set(ids)) == 25
    assert all(row.sent_at is not None and row.attempts == 1 for row in rows(store))


def test_a_slow_receiver_gets_different_calls_events_at_once_and_one_calls_in_turn(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], ravan: Any
) -> None:
    """Behind a receiver taking 0.3 s an answer, a pass posts four calls' events at once (AT_ONCE),
    and one call's two events one after the other, the older first."""
    app, (target, _) = events_app(), receiver
    _, first = ended_call(app, ravan)
    others = {new_call(app)[1] for _ in range(3)}
    target.delay_s = 0.3
    assert sender_of(app).send_due() == 5
    assert target.most_in_flight == events.AT_ONCE == 4
    events_of = [(event["type"], event["data"]["call_id"]) for event in target.events()]
    assert {call_id for _, call_id in events_of} == {first, *others} and len(events_of) == 5
    spans = [span for span, (_, call_id) in zip(target.spans, events_of, strict=True) if call_id == first]
    assert [kind for kind, call_id in events_of if call_id == first] == ["call.created", "call.ended"]
    assert spans[1][0] >= spans[0][1]  # the second sent once the first was answered


def test_a_slow_receiver_gets_each_event_once_while_another_process_looks(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each event is held for CLAIM_S from its own claim: behind a receiver taking 1.2 s an answer,
    the second event of a pass is claimed 1.2 s after the pass began, and a hold counted from the
    pass's start (2 s here) would run out during its attempt, for the other process to take.
    (With 1 s and 0.6 s, a loaded CI machine once took the 0.4 s left over in one attempt.)"""
    monkeypatch.setattr(events, "CLAIM_S", 2)
    monkeypatch.setattr(events, "AT_ONCE", 1)  # one after the other, as one call's events go
    app, (target, url) = events_app(), receiver
    for _ in range(2):
        new_call(app)
    target.delay_s = 1.2
    store = app_state_of(app).history
    first, other = EventSender(store, url, KEY), EventSender(store, url, KEY)
    passing = threading.Thread(target=first.send_due)
    passing.start()
    wait_until(lambda: len(target.received) == 1, timeout_s=10, what="the first event's answer")
    while passing.is_alive():  # the other process looks, as its thread does, until the pass ends
        other.send_due()
        time.sleep(0.05)
    ids = [headers["Webhook-Id"] for headers, _, _ in target.received]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all(row.sent_at is not None and row.attempts == 1 for row in rows(store))


def test_one_calls_events_go_in_turn_while_another_process_looks(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], ravan: Any
) -> None:
    """Behind a receiver taking 0.5 s an answer, a process posting a call's first event holds back
    its later ones in every other process too: each goes once the one before was answered, the
    oldest first, whichever process sends it."""
    app, (target, url) = events_app(), receiver
    _, ours = ended_call(app, ravan)
    assert app.test_client().post(f"/api/calls/{ours}/feedback", json={"rating": "good"}).status_code == 200
    target.delay_s = 0.5
    store = app_state_of(app).history
    first, other = EventSender(store, url, KEY), EventSender(store, url, KEY)
    passing = threading.Thread(target=first.send_due)
    passing.start()
    wait_until(lambda: target.in_flight == 1, timeout_s=10, what="the first event on its way")
    while passing.is_alive() or any(row.sent_at is None for row in rows(store)):
        other.send_due()  # the other process looks, as its thread does
        time.sleep(0.05)
    passing.join()
    assert [event["type"] for event in target.events()] == ["call.created", "call.ended", "call.rated"]
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(target.spans)), target.spans
    assert all(row.attempts == 1 for row in rows(store))


def test_an_attempt_outlived_by_its_claim_changes_nothing_once_another_took_the_event(
    events_app: Callable[..., Flask],
) -> None:
    """An attempt that took longer than its claim (a minute) while another process took the event
    up and delivered it: the first attempt's late failure neither puts the event back in line
    nor says it failed, and a late success changes nothing either."""
    app = events_app()
    new_call(app)
    store, at = app_state_of(app).history, now()
    slow = store.due_events(at)[0]
    assert store.claim_event(slow, at, at + timedelta(seconds=CLAIM_S))
    later = at + timedelta(seconds=CLAIM_S + 1)
    (taken_up,) = store.due_events(later)
    assert store.claim_event(taken_up, later, later + timedelta(seconds=CLAIM_S))
    store.event_sent(taken_up, later)
    store.event_failed(slow, "timed out", at + timedelta(seconds=5))
    store.event_sent(slow, later + timedelta(seconds=9))
    row = rows(store)[0]
    assert (row.attempts, row.sent_at, row.next_attempt_at, row.last_error) == (2, later, None, None)
    assert store.due_events(at + timedelta(days=2)) == []


def trickled_attempt(
    app: Flask, head: bytes, pieces: list[bytes], tls: ssl.SSLContext | None = None
) -> float:
    """Send the due event to a receiver answering ``head`` at once, then one of ``pieces`` a
    second (each within the sender's 2 s timeout, the whole far past it), over ``tls`` if
    given; how long it took."""
    listening = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def answer() -> None:
        plain, _ = listening.accept()
        connection = tls.wrap_socket(plain, server_side=True) if tls else plain
        with connection:
            connection.recv(65536)
            connection.sendall(head)
            for piece in pieces:
                if done.wait(1.0):
                    return
                try:
                    connection.sendall(piece)
                except OSError:
                    return  # the sender gave up

    server = threading.Thread(target=answer, daemon=True)
    server.start()
    url = f"{'https' if tls else 'http'}://127.0.0.1:{listening.getsockname()[1]}/hooks"
    sender = EventSender(app_state_of(app).history, url, KEY, timeout_s=2.0)
    started = time.monotonic()
    try:
        assert sender.send_due() == 1
    finally:
        took = time.monotonic() - started
        done.set()
        server.join(5)
        listening.close()
        sender.close()
    return took


def test_a_receiver_trickling_its_answers_body_holds_no_attempt(events_app: Callable[..., Flask]) -> None:
    """The status is the answer: a body sent a byte a second (each byte within the read timeout,
    the whole far past it) is not waited for."""
    app = events_app()
    new_call(app)
    took = trickled_attempt(app, b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n", [b"x"] * 8)
    assert took < 2.0
    assert rows(app_state_of(app).history)[0].sent_at is not None


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_receiver_trickling_its_answers_head_holds_an_attempt_no_longer_than_its_timeout(
    events_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """The timeout is the whole attempt's: a head sent a line a second (each line within the read
    timeout, the whole far past it) ends the attempt at the timeout, a failure to try again,
    well before the event's claim runs out and another process would send it a second time.
    Over TLS too, whose socket takes the connection over from the plain one."""
    tls = None
    if scheme == "https":
        cert, key = self_signed_certificate(tmp_path)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # httpx trusts it (its trust_env)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
    app = events_app()
    new_call(app)
    slowly = [b"X-Slow-%d: x\r\n" % n for n in range(12)]
    took = trickled_attempt(app, b"HTTP/1.1 200 OK\r\n", slowly, tls)
    assert 2.0 <= took < 3.5
    row = rows(app_state_of(app).history)[0]
    assert (row.sent_at, row.last_error, row.attempts) == (None, "timed out", 1)
    assert row.next_attempt_at is not None  # tried again later


def test_an_event_outlives_the_process_that_kept_it(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str]
) -> None:
    """Kept with the call, an event waits for any process to send it: one that never ran, or one
    that took it and died before it was done (taken up again a minute later)."""
    first, (target, _) = events_app(), receiver
    new_call(first)
    new_call(first)
    store = app_state_of(first).history
    dying = store.due_events(now())[1]
    assert store.claim_event(dying, now(), now() + timedelta(seconds=CLAIM_S))  # ... and never sent
    app_state_of(first).history.close()
    later = events_app()  # another process on the same log
    sender = sender_of(later)
    assert sender.send_due() == 1
    assert sender.send_due(now() + timedelta(seconds=CLAIM_S + 1)) == 1
    assert [e["data"]["call_id"] for e in target.events()] == [r.call_id for r in rows(store)]


def test_the_thread_sends_within_seconds(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str]
) -> None:
    app, (target, _) = events_app(thread=True), receiver
    _, ours = new_call(app)  # the first request starts it
    deadline = time.monotonic() + 10
    while not target.received and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert [(e["type"], e["data"]["call_id"]) for e in target.events()] == [("call.created", ours)]
    finally:
        sender_of(app).close()


def test_a_started_and_an_ended_call_are_one_event_each_however_often_reported(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str]
) -> None:
    app = events_app()
    session, ours = new_call(app)
    store = app_state_of(app).history
    for status in ("in_progress", "completed", "completed", "failed", "in_progress"):
        store.upsert_provider_call("ravan", ProviderCall(call_id=session, status=status))  # type: ignore[arg-type]
    # A call first seen ended (the provider's history, never placed here) is no news to send.
    store.upsert_provider_call("ravan", ProviderCall(call_id="sess-old", status="completed"))
    # A call the history reached first, then placed here: created once.
    store.upsert_provider_call("ravan", ProviderCall(call_id="sess-race", status="in_progress"))
    raced = store.record_created(CallAttempt("sales", "ravan", received_at=now()), "sess-race", None)
    # A provider that answers a second request with the call it made for a first: still one call.
    assert store.record_created(CallAttempt("sales", "ravan", received_at=now()), "sess-race", None) == raced
    assert [(row.type, row.call_id) for row in rows(store)] == [
        ("call.created", ours), ("call.started", ours), ("call.ended", ours), ("call.created", raced),
    ]  # fmt: skip
    started, ended = (json.loads(row.body) for row in rows(store)[1:3])
    assert (started["data"]["status"], ended["data"]["status"]) == ("in_progress", "completed")


def open_link(app: Flask, label: str) -> tuple[str, str]:
    """A demo link made with the CLI, its page opened in a browser (twice) and fetched by a chat
    app's link preview: the page's path and the link's id."""
    made = app.test_cli_runner().invoke(
        args=["demo-link", "sales", "--label", label, "--var", "company=Acme"]
    )
    assert made.exit_code == 0, made.output
    url = made.stdout.strip()
    page = url.removeprefix("http://127.0.0.1:8000")
    prospect = app.test_client()
    assert prospect.get(page, headers={"User-Agent": "Slackbot-LinkExpanding 1.0"}).status_code == 200
    for _ in range(2):
        assert prospect.get(page, headers=BROWSER).status_code == 200
    return page, verify_demo_link(LINK_KEY, parse_qs(urlsplit(url).query)["t"][0]).link_id


def test_a_demo_link_opened_tells_the_url_once(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The sales person hears when the prospect first looks: once a link, the link as it was."""
    app, (target, _) = events_app(WEBCALL_SECRET_KEY=LINK_KEY), receiver
    caplog.set_level(logging.INFO)
    page, link_id = open_link(app, "Acme pilot")
    store = app_state_of(app).history
    assert [(row.type, row.call_id) for row in rows(store)] == [("demo_link.opened", link_id)]
    assert sender_of(app).send_due() == 1
    (opened,) = target.events()  # its signature checked
    assert opened["type"] == "demo_link.opened"
    assert opened["data"]["opens"] == 1 and opened["timestamp"] == opened["data"]["first_opened_at"]
    assert {k: opened["data"][k] for k in ("link_id", "label", "agent", "state", "made_by", "calls")} == {
        "link_id": link_id, "label": "Acme pilot", "agent": "sales", "state": "works", "made_by": "cli",
        "calls": 0,
    }  # fmt: skip
    assert set(opened["data"]) == set(AdminDemoLink.model_fields)
    described = document()
    schema = {**described["components"]["schemas"]["DemoLinkEvent"], "components": described["components"]}
    jsonschema.validate(opened, schema)
    assert described["webhooks"]["demo_link.opened"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/DemoLinkEvent"}
    assert f"demo_link.opened (link {link_id}) sent to 127.0.0.1:" in caplog.text
    # Opened again, and called: no second opening; the call's own events as ever.
    assert app.test_client().get(page, headers=BROWSER).status_code == 200
    token = parse_qs(urlsplit(page).query)["t"][0]
    placed = post(app, {"agent": "sales", "demo_token": token})
    assert placed.status_code == 201
    ours = store.find(placed.get_json()["call_id"]).call_id  # type: ignore[union-attr]
    assert [row.type for row in rows(store)] == ["demo_link.opened", "call.created"]
    # Left out by WEBCALL_EVENTS_TYPES: the opens are counted all the same, no event kept.
    quiet = events_app(WEBCALL_SECRET_KEY=LINK_KEY, WEBCALL_EVENTS_TYPES="call.created")
    _, other = open_link(quiet, "Globex")
    quiet_store = app_state_of(quiet).history  # the same call log
    assert [row.call_id for row in rows(quiet_store)] == [link_id, ours]
    assert quiet_store.demo_link(other).opened.opens == 2  # type: ignore[union-attr]


def test_only_the_types_named_are_kept_and_sent(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], ravan: Any
) -> None:
    """``WEBCALL_EVENTS_TYPES=call.ended``: a call created, started, ended and rated is one event."""
    app, (target, _) = events_app(WEBCALL_EVENTS_TYPES=" call.ended ,"), receiver
    session, ours = new_call(app)
    store = app_state_of(app).history
    store.upsert_provider_call("ravan", ProviderCall(call_id=session, status="in_progress"))
    complete_session(ravan[1], session)
    ended = app.test_client().post(
        f"/webhooks/ravan/{HOOK_TOKEN}", json=call_completed_event(ravan[1], session)
    )
    assert ended.get_json() == {"status": "applied"}
    assert app.test_client().post(f"/api/calls/{ours}/feedback", json={"rating": "bad"}).status_code == 200
    assert [row.type for row in rows(store)] == ["call.ended"]  # the others are not even kept
    assert sender_of(app).send_due() == 1
    assert [(e["type"], e["data"]["call_id"], e["data"]["feedback_rating"]) for e in target.events()] == [
        ("call.ended", ours, None),
    ]  # fmt: skip


def test_the_event_types_are_one_list() -> None:
    """The types settings accept are those the call log keeps and /openapi.json describes."""
    assert EVENT_TYPES == get_args(EventType)
    assert set(document()["webhooks"]) == {*EVENT_TYPES, TEST_EVENT}
    assert Settings.from_mapping({**QUICK, "WEBCALL_EVENTS_TYPES": ""}).events_types == EVENT_TYPES
    named = Settings.from_mapping({**QUICK, "WEBCALL_EVENTS_TYPES": "call.rated, call.started"})
    assert named.events_types == ("call.started", "call.rated")  # in their own order


def test_refused_requests_and_apps_without_a_url_keep_no_events(
    make_app: MakeApp, events_app: Callable[..., Flask], call_log_url: str
) -> None:
    app = events_app()
    assert post(app, {"agent": "nobody"}).status_code == 404
    assert rows(app_state_of(app).history) == []
    plain = make_app(WEBCALL_DATABASE_URL=call_log_url)
    assert "webcall.events" not in plain.extensions
    new_call(plain)
    assert rows(app_state_of(plain).history) == []


def test_pruning_the_log_drops_its_events(events_app: Callable[..., Flask]) -> None:
    app = events_app()
    new_call(app)
    store = app_state_of(app).history
    store.prune(now() + timedelta(seconds=1))
    assert rows(store) == []


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"WEBCALL_EVENTS_URL": "https://hooks.example/webcall"}, "set both WEBCALL_EVENTS_URL and"),
        ({"WEBCALL_EVENTS_SECRET": SECRET}, "set both WEBCALL_EVENTS_URL and"),
        ({"WEBCALL_EVENTS_URL": "hooks.example/hook", "WEBCALL_EVENTS_SECRET": SECRET}, "WEBCALL_EVENTS_URL"),
        ({"WEBCALL_EVENTS_URL": "https://h.example/", "WEBCALL_EVENTS_SECRET": "hunter2-" * 5},
         "WEBCALL_EVENTS_SECRET: must be whsec_ and base64"),
        ({"WEBCALL_EVENTS_URL": "https://h.example/", "WEBCALL_EVENTS_SECRET": "whsec_%%%not-base64%%%"},
         "WEBCALL_EVENTS_SECRET: must be whsec_ and base64"),
        ({"WEBCALL_EVENTS_URL": "https://h.example/", "WEBCALL_EVENTS_SECRET": "whsec_c2hvcnQ="},
         "must hold 24 to 64 bytes"),
        ({"WEBCALL_EVENTS_TYPES": "call.ended,call.answered"},
         "WEBCALL_EVENTS_TYPES: 'call.answered' is no event: name some of call.created, "),
    ],
)  # fmt: skip
def test_the_url_its_secret_and_the_types_are_checked_at_start_up(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({**QUICK, **env})
    assert problem in str(caught.value)
    secret = env.get("WEBCALL_EVENTS_SECRET")
    assert secret is None or secret not in str(caught.value)


def test_a_call_log_that_cannot_be_read_is_logged_once_until_it_can(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], caplog: pytest.LogCaptureFixture
) -> None:
    app, (target, _) = events_app(thread=True), receiver
    store = app_state_of(app).history
    caplog.set_level(logging.INFO, logger="webapp.history.events")
    try:
        with store.engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE call_events RENAME TO call_events_away"))
        app.test_client().get("/healthz")  # the first request starts the thread
        time.sleep(3.5)  # three passes or so
        cannot = [r for r in caplog.records if "cannot be read" in r.getMessage()]
        assert len(cannot) == 1 and cannot[0].levelno == logging.WARNING
        with store.engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE call_events_away RENAME TO call_events"))
        _, ours = new_call(app)
        deadline = time.monotonic() + 10
        while not target.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e["data"]["call_id"] for e in target.events()] == [ours]
        while time.monotonic() < deadline and "can be read again" not in caplog.text:
            time.sleep(0.05)  # logged once the pass that sent it ends
        assert "can be read again" in caplog.text
    finally:
        sender_of(app).close()


def give_up(app: Flask, target: Receiver) -> str:
    """A call whose call.created the receiver refused eight times; our id for the call."""
    target.statuses = [503] * 8
    _, ours = new_call(app)
    sender, at = sender_of(app), now()
    for delay in (*RETRY_DELAYS_S, 0):
        assert sender.send_due(at) == 1
        at += timedelta(seconds=delay)
    return ours


def test_events_given_up_are_sent_again_on_the_operators_word(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], make_app: MakeApp
) -> None:
    app, (target, _) = events_app(), receiver
    ours = give_up(app, target)
    runner = app.test_cli_runner()
    later = runner.invoke(args=["history", "resend-events", "--since", "2999-01-01"])
    assert (later.exit_code, later.output) == (0, "0 events given up queued to be sent again\n")
    again = runner.invoke(args=["history", "resend-events"])
    assert (again.exit_code, again.output) == (0, "1 event given up queued to be sent again\n")
    assert sender_of(app).send_due() == 1
    ids = {headers["Webhook-Id"] for headers, _, _ in target.received}
    assert len(target.received) == 9 and len(ids) == 1  # the same event, its ninth attempt delivered
    assert target.events()[-1]["data"]["call_id"] == ours
    (row,) = rows(app_state_of(app).history)
    assert (row.attempts, row.next_attempt_at) == (1, None) and row.sent_at is not None
    assert runner.invoke(args=["history", "resend-events"]).output.startswith("0 events")
    bad = runner.invoke(args=["history", "resend-events", "--since", "soon"])
    assert bad.exit_code == 2 and "--since" in bad.output
    plain = make_app().test_cli_runner().invoke(args=["history", "resend-events"])
    assert plain.exit_code == 2 and "WEBCALL_EVENTS_URL is not set" in plain.output


def test_a_calls_page_shows_its_events(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str]
) -> None:
    """Sent, waiting for another attempt, or given up: on the call's page in the admin view."""
    password = "correct horse battery staple"
    app, (target, _) = events_app(WEBCALL_ADMIN_PASSWORD=password, WEBCALL_SECRET_KEY="s" * 40), receiver
    ours = give_up(app, target)
    store = app_state_of(app).history
    store.record_feedback(ours, "good", None, now())  # sent at its first attempt
    store.record_feedback(ours, "bad", None, now())  # refused once, waiting
    target.statuses = [204, 500]
    sender_of(app).send_due()
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").get_data(as_text=True))
    assert token is not None
    client.post("/admin/login", data={"password": password, "csrf_token": token.group(1)})
    page = client.get(f"/admin/calls/{ours}").get_data(as_text=True)
    section = re.search(r'<section class="panel" aria-labelledby="events-title">.*?</section>', page, re.S)
    assert section is not None, page
    lines = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", item)).strip()
             for item in re.findall(r"<li.*?</li>", section.group(0), re.S)]  # fmt: skip
    assert lines[0] == "call.created Given up HTTP 503 at the last of 8 attempts; send it again from Events"
    assert re.fullmatch(r"call\.rated Sent \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", lines[1]), lines
    assert re.fullmatch(
        r"call\.rated Waiting HTTP 500 at attempt 1; next at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", lines[2]
    ), lines
    quiet = client.get(f"/admin/calls/{new_call(app)[1]}").get_data(as_text=True)
    assert "Waiting" in quiet and "to be sent" in quiet  # no attempt yet


def test_metrics_say_how_many_events_wait_and_since_when(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], make_app: MakeApp
) -> None:
    """For an alert on a receiver that stopped taking them: counted from the call log at each
    scrape (every worker's and host's events), like the calls in progress."""
    app, (target, _) = events_app(WEBCALL_METRICS_TOKEN=METRICS_TOKEN), receiver
    assert waiting(app) == {"webcall_events_pending": 0.0, "webcall_events_oldest_pending_seconds": 0.0}
    target.statuses = [503]
    new_call(app)
    time.sleep(1.1)
    assert sender_of(app).send_due() == 1  # refused: to be tried again
    new_call(app)
    shown = waiting(app)
    assert shown["webcall_events_pending"] == 2.0
    assert 1.0 <= shown["webcall_events_oldest_pending_seconds"] < 30, shown
    assert sender_of(app).send_due(now() + timedelta(seconds=6)) == 2
    assert waiting(app)["webcall_events_pending"] == 0.0
    plain = make_app(WEBCALL_METRICS_TOKEN=METRICS_TOKEN)
    assert waiting(plain) == {}  # no events: no such gauges


def waiting(app: Flask) -> dict[str, float]:
    """The events' gauges in a scrape of /metrics."""
    answer = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(answer.get_data(as_text=True))
        for sample in family.samples
        if sample.name.startswith("webcall_events_") and not sample.name.startswith("webcall_events_total")
    }
