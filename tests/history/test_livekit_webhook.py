"""LiveKit's room webhooks: bodies signed the way livekit-server signs them, applied to livekit calls."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from flask import Flask
from livekit import api

from tests.fakes.receiver import SECRET as RECEIVER_SECRET
from tests.fakes.receiver import Receiver
from tests.history.conftest import sender_of
from tests.support.apps import OfflineLiveKit, app_state_of, post
from webapp.history.store import CallRecord
from webapp.metrics import WEBHOOKS
from webapp.ops.openapi import document

CATALOGUE = """
[agents.talk]
provider = "livekit"
agent_id = "webcall-demo"

[agents.hosted]
provider = "ravan"
agent_id = "{ravan}"
"""
KEY, SECRET = OfflineLiveKit.api_key, OfflineLiveKit.api_secret
MakeApp = Callable[..., Flask]
T0 = int(time.time()) - 120  # the room was created two minutes ago (seconds since the epoch)


def signature(
    body: bytes, *, key: str = KEY, secret: str = SECRET, ttl: timedelta = timedelta(minutes=5)
) -> str:
    """``Authorization`` as livekit-server sends it: a JWT by our key pair, ``sha256`` = the body's hash."""
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return api.AccessToken(key, secret).with_ttl(ttl).with_sha256(digest).to_jwt()


def event(
    kind: str, room: str, at: int, participant: dict[str, Any] | None = None, *, created: int = T0
) -> bytes:
    """A webhook body in livekit-server's protojson (camelCase, 64-bit integers as strings), of the
    room of that name created at ``created`` (another time: the room made again, another sid)."""
    body: dict[str, Any] = {
        "event": kind,
        "room": {"sid": f"RM_{room[-6:]}_{created}", "name": room, "emptyTimeout": 60, "departureTimeout": 10,
                 "creationTime": str(created), "creationTimeMs": str(created * 1000)},
        "id": f"EV_{kind}_{at}",
        "createdAt": str(at),
    }  # fmt: skip
    if participant is not None:
        body["participant"] = participant
    return json.dumps(body).encode()


def caller(joined: int) -> dict[str, Any]:
    """The caller as LiveKit reports it (a standard participant: protojson leaves its kind out)."""
    return {"sid": "PA_caller", "identity": "caller-0a1b2c", "state": "ACTIVE",
            "joinedAt": str(joined), "joinedAtMs": str(joined * 1000 + 250)}  # fmt: skip


AGENT = {"sid": "PA_agent", "identity": "agent-AJ_x", "state": "ACTIVE", "kind": "AGENT",
         "joinedAt": str(T0 + 2)}  # fmt: skip


def send(app: Flask, body: bytes, authorization: str | None = "sign") -> Any:
    """POST ``body`` to the endpoint, signed unless ``authorization`` says otherwise."""
    headers = {"Content-Type": "application/webhook+json"}
    if authorization is not None:
        headers["Authorization"] = signature(body) if authorization == "sign" else authorization
    return app.test_client().post("/webhooks/livekit", data=body, headers=headers)


def placed(app: Flask) -> str:
    """A livekit call placed through the API: its room, which is the provider's call id."""
    answer = post(app, {"agent": "talk"})
    assert answer.status_code == 201, answer.get_json()
    return str(answer.get_json()["room"])


def record_of(app: Flask, room: str) -> CallRecord:
    """The call of ``room`` as the log has it now."""
    record = app_state_of(app).history.find(room)
    assert record is not None
    return record


def at(seconds: float) -> datetime:
    """A LiveKit timestamp as the call log keeps it."""
    return datetime.fromtimestamp(seconds, UTC)


def test_the_caller_joining_and_leaving_and_the_room_closing_end_the_call_once(
    make_app: MakeApp, call_log_url: str
) -> None:
    app = make_app(WEBCALL_DATABASE_URL=call_log_url)
    room = placed(app)
    live = app_state_of(app).history.count_live

    joined = send(app, event("participant_joined", room, T0 + 1, caller(T0 + 1)))
    assert (joined.status_code, joined.get_json()) == (200, {"status": "applied"})
    assert send(app, event("participant_joined", room, T0 + 2, AGENT)).get_json() == {"status": "ignored"}
    record = record_of(app, room)
    assert (record.status, record.started_at, record.ended_at) == ("in_progress", at(T0 + 1.25), None)
    assert live() == 1

    left = send(app, event("participant_left", room, T0 + 43, caller(T0 + 1)))
    assert (left.status_code, left.get_json()) == (200, {"status": "applied"})
    assert live() == 0  # the caller has gone: no longer in progress, though the room lingers

    finished = event("room_finished", room, T0 + 53)  # departure_timeout after the caller left
    assert send(app, finished).get_json() == {"status": "applied"}
    record = record_of(app, room)
    assert (record.status, record.started_at, record.ended_at, record.duration_s) == (
        "completed", at(T0 + 1.25), at(T0 + 43), 41.75,
    )  # fmt: skip
    assert (record.outcome, record.agent, record.provider) == ("created", "talk", "livekit")  # ours stays

    # LiveKit delivers it again (its retry): acknowledged, nothing changes.
    again = send(app, finished)
    assert (again.status_code, again.get_json()) == (200, {"status": "duplicate"})
    assert record_of(app, room) == record


def test_the_caller_joining_sends_call_started_once_and_the_room_closing_call_ended(
    make_app: MakeApp, call_log_url: str, receiver: tuple[Receiver, str]
) -> None:
    """``call.started`` is when the caller joined (their first join), with the call in progress;
    the agent joining, the caller's second join after a drop and their leaving add none."""
    target, url = receiver
    app = make_app(
        WEBCALL_DATABASE_URL=call_log_url, WEBCALL_EVENTS_URL=url, WEBCALL_EVENTS_SECRET=RECEIVER_SECRET
    )
    sender_of(app).started = True  # the test sends
    room = placed(app)
    ours = record_of(app, room).call_id
    for kind, moment, participant in (
        ("participant_joined", T0 + 1, caller(T0 + 1)),
        ("participant_joined", T0 + 2, AGENT),
        ("participant_left", T0 + 20, caller(T0 + 1)),
        ("participant_joined", T0 + 25, {**caller(T0 + 25), "sid": "PA_again"}),
        ("participant_left", T0 + 43, {**caller(T0 + 25), "sid": "PA_again"}),
        ("room_finished", T0 + 53, None),
    ):
        assert send(app, event(kind, room, moment, participant)).status_code == 200
    assert sender_of(app).send_due() == 3

    created, started, ended = target.events()  # each signature checked
    assert [e["type"] for e in (created, started, ended)] == ["call.created", "call.started", "call.ended"]
    assert {e["data"]["call_id"] for e in (created, started, ended)} == {ours}
    assert (started["data"]["status"], started["data"]["ended_at"]) == ("in_progress", None)
    assert (
        started["data"]["started_at"]
        == started["timestamp"]
        == at(T0 + 1.25).isoformat().replace("+00:00", "Z")
    )
    assert (ended["data"]["status"], ended["data"]["duration_s"]) == ("completed", 41.75)
    described = document()
    schema = {**described["components"]["schemas"]["CallEvent"], "components": described["components"]}
    jsonschema.validate(started, schema)
    assert "call.started" in described["webhooks"]


def test_room_finished_alone_ends_the_call_from_the_rooms_creation(make_app: MakeApp) -> None:
    app = make_app()
    room = placed(app)
    assert send(app, event("room_finished", room, T0 + 30)).get_json() == {"status": "applied"}
    record = record_of(app, room)
    assert (record.status, record.started_at, record.ended_at, record.duration_s) == (
        "completed", at(T0), at(T0 + 30), 30,
    )  # fmt: skip
    assert app_state_of(app).history.count_live() == 0


def test_a_caller_who_never_connected_fails_the_call_with_no_length(make_app: MakeApp) -> None:
    """In the room but never connected (no route for the media, no TURN): LiveKit sends
    participant_connection_aborted, not participant_left, and the room's closing then logged a
    completed call as long as the room had lived."""
    app = make_app()
    room = placed(app)
    aborted = send(
        app, event("participant_connection_aborted", room, T0 + 31, {**caller(T0), "state": "JOINED"})
    )
    assert (aborted.status_code, aborted.get_json()) == (200, {"status": "applied"})
    assert send(app, event("room_finished", room, T0 + 41)).get_json() == {"status": "ignored"}
    record = record_of(app, room)
    assert (record.status, record.started_at, record.ended_at, record.duration_s) == (
        "failed", None, at(T0 + 31), None,
    )  # fmt: skip
    # A connection of a caller already in the call that never came up ends nothing.
    other = placed(app)
    send(app, event("participant_joined", other, T0 + 1, caller(T0 + 1)))
    again = {**caller(T0 + 20), "sid": "PA_again", "state": "JOINED"}
    assert send(app, event("participant_connection_aborted", other, T0 + 50, again)).get_json() == {
        "status": "ignored"
    }
    assert record_of(app, other).status == "in_progress"


def test_unknown_rooms_other_providers_calls_and_other_events_are_acknowledged_and_ignored(
    make_app: MakeApp,
) -> None:
    app = make_app()
    room = placed(app)
    hosted = post(app, {"agent": "hosted"}).get_json()["call_id"]  # a Ravan call (its room is Ravan's)
    before = record_of(app, room)
    for body in (
        event("room_finished", "webcall-talk-nosuchroom", T0 + 30),
        event("room_finished", hosted, T0 + 30),
        event("track_published", room, T0 + 5, caller(T0 + 1)),
        event("room_started", room, T0),
    ):
        answer = send(app, body)
        assert (answer.status_code, answer.get_json()) == (200, {"status": "ignored"})
    assert record_of(app, room) == before
    assert record_of(app, hosted).status == "created"


def test_a_room_made_again_after_its_call_ended_changes_nothing_of_the_call(make_app: MakeApp) -> None:
    """A caller rejoining with the token LiveKit refreshed makes the room again (another sid):
    it is closed at once, yet its caller leaving and its closing rewrote the ended call's end
    and length (here from 42 s to over a minute), though a rejoin is counted nowhere."""
    app = make_app()
    room = placed(app)
    send(app, event("participant_joined", room, T0 + 1, caller(T0 + 1)))
    send(app, event("participant_left", room, T0 + 43, caller(T0 + 1)))
    assert send(app, event("room_finished", room, T0 + 53)).get_json() == {"status": "applied"}
    ended = record_of(app, room)
    again = T0 + 70  # the room made again, after the call's ended
    rejoined = {**caller(again + 1), "sid": "PA_rejoined"}
    for kind, moment, participant, outcome in (
        ("room_started", again, None, "closed"),
        ("participant_joined", again + 1, rejoined, "ignored"),
        ("participant_left", again + 20, rejoined, "ignored"),
        ("room_finished", again + 30, None, "ignored"),
    ):
        answer = send(app, event(kind, room, moment, participant, created=again))
        assert (answer.status_code, answer.get_json()) == (200, {"status": outcome}), kind
    assert record_of(app, room) == ended
    assert (ended.status, ended.ended_at, ended.duration_s) == ("completed", at(T0 + 43), 41.75)


def test_a_call_that_ended_within_the_second_its_room_was_made_is_its_rooms(make_app: MakeApp) -> None:
    """An event's time is in whole seconds: a caller leaving within a second of the room's making
    ends the call "before" the room was made, and the room's own closing still completes it."""
    app = make_app()
    room = placed(app)
    made_ms = T0 * 1000 + 600
    left = json.loads(event("participant_left", room, T0, caller(T0)))
    left["room"]["creationTimeMs"] = str(made_ms)
    finished = json.loads(event("room_finished", room, T0 + 10))
    finished["room"]["creationTimeMs"] = str(made_ms)
    for body in (left, finished):
        assert send(app, json.dumps(body).encode()).get_json() == {"status": "applied"}
    assert (record_of(app, room).status, record_of(app, room).ended_at) == ("completed", at(T0))


def _expired(body: bytes) -> str:
    return signature(body, ttl=timedelta(minutes=-10))


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        (None, 401, "invalid_webhook_signature"),
        ("", 401, "invalid_webhook_signature"),
        ("not-a-jwt", 401, "invalid_webhook_signature"),
        (lambda body: signature(body, secret="another-secret-of-32-bytes-or-more-0123"), 401,
         "invalid_webhook_signature"),
        (lambda body: signature(body, key="otherkey"), 401, "invalid_webhook_signature"),
        (lambda body: signature(body.replace(b"room_finished", b"room_started")), 401,
         "invalid_webhook_signature"),  # signed, but another body: the sha256 claim does not match
        (_expired, 401, "invalid_webhook_signature"),
        (lambda body: "Bearer " + signature(body), 200, None),  # the form other LiveKit SDKs send
    ],
    ids=["missing", "empty", "garbage", "wrong-secret", "wrong-key", "other-body", "expired", "bearer"],
)  # fmt: skip
def test_a_delivery_without_our_signature_of_its_body_is_refused_and_changes_nothing(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture, authorization: Any, status: int, code: str | None
) -> None:
    app = make_app()
    room = placed(app)
    before = record_of(app, room)
    body = event("room_finished", room, T0 + 30)
    header = authorization(body) if callable(authorization) else authorization
    counted = WEBHOOKS.labels("livekit", code or "applied")._value.get()
    with caplog.at_level(logging.DEBUG):
        answer = send(app, body, header)
    assert answer.status_code == status
    assert WEBHOOKS.labels("livekit", code or "applied")._value.get() == counted + 1
    if code is not None:
        assert answer.get_json()["error"]["code"] == code
        assert record_of(app, room) == before
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert SECRET not in logged and (not header or header.removeprefix("Bearer ") not in logged)


@pytest.mark.parametrize(
    ("authorization", "said"),
    [
        (None, "no Authorization"),
        (lambda body: signature(body, key="otherkey"), "signed with another API key than LIVEKIT_API_KEY"),
        (lambda body: signature(body, secret="another-secret-of-32-bytes-or-more-0123"),
         "not signed with LIVEKIT_API_SECRET (InvalidSignatureError)"),
        (_expired, "outside its validity: are the two servers' clocks apart?"),
        (lambda body: signature(body.replace(b"room_finished", b"room_started")), "another body's"),
    ],
    ids=["missing", "wrong-key", "wrong-secret", "expired", "other-body"],
)  # fmt: skip
def test_a_refused_delivery_says_why_in_the_log(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture, authorization: Any, said: str
) -> None:
    """LiveKit does not retry a 4xx: with LiveKit Cloud's webhooks signed by another of the
    project's keys, every event was lost with the same line for each fault."""
    app = make_app()
    body = event("room_finished", placed(app), T0 + 30)
    send(app, body, authorization(body) if callable(authorization) else authorization)
    refused = [r.getMessage() for r in caplog.records if "refused a delivery" in r.getMessage()]
    assert len(refused) == 1 and said in refused[0], refused


def test_credentials_with_a_line_break_sign_webhooks_as_they_sign_tokens(make_app: MakeApp) -> None:
    """A secret read from a file often ends with a line break: tokens are signed with it stripped,
    and every webhook (signed by LiveKit with the same secret) was refused."""
    app = make_app(LIVEKIT_API_KEY=f"{KEY}\n", LIVEKIT_API_SECRET=f" {SECRET}\n")
    room = placed(app)
    answer = send(app, event("participant_joined", room, T0 + 3, caller(T0 + 3)))
    assert (answer.status_code, answer.get_json()) == (200, {"status": "applied"})


def test_timestamps_off_the_calendar_are_read_as_absent(make_app: MakeApp) -> None:
    """int64's largest milliseconds (year 292 million) were a 500 with a traceback, and LiveKit
    retried the delivery for ever."""
    app = make_app()
    room = placed(app)
    int64_max = str(2**63 - 1)
    joined = event("participant_joined", room, T0 + 1, {**caller(T0 + 1), "joinedAtMs": int64_max})
    assert send(app, joined).get_json() == {"status": "applied"}
    assert record_of(app, room).started_at == at(T0 + 1)  # the event's own time, then
    left = json.loads(event("participant_left", room, T0 + 43, caller(T0 + 1)))
    left["createdAt"] = "99999999999999"
    answer = send(app, json.dumps(left).encode())
    assert (answer.status_code, answer.get_json()) == (200, {"status": "applied"})
    finished = json.loads(event("room_finished", room, T0 + 53))
    finished["room"]["creationTimeMs"] = int64_max
    assert send(app, json.dumps(finished).encode()).status_code == 200
    assert record_of(app, room).status == "completed"


def test_a_signed_body_that_is_not_an_event_is_a_400(make_app: MakeApp) -> None:
    app = make_app()
    for body in (b"{not json", b'{"event": 7}', b"\xff\xfe"):
        answer = send(app, body)
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (400, "invalid_webhook")


def test_a_call_log_outage_is_a_503_that_livekit_retries(make_app: MakeApp) -> None:
    app = make_app()
    room = placed(app)
    with app_state_of(app).history.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE webhook_deliveries"))
    answer = send(app, event("room_finished", room, T0 + 30))
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (503, "call_log_unavailable")
    assert answer.headers["Retry-After"] == "30"


def test_the_admin_view_of_a_livekit_call_says_no_transcript_comes_and_why(make_app: MakeApp) -> None:
    password = "correct horse battery staple"
    app = make_app(
        WEBCALL_ADMIN_PASSWORD=password, WEBCALL_SECRET_KEY="livekit-hook-tests-key-0123456789abcdef"
    )
    room = placed(app)
    send(app, event("room_finished", room, T0 + 30))
    client = app.test_client()
    login = client.get("/admin/login").get_data(as_text=True)
    token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.post("/admin/login", data={"password": password, "csrf_token": token})
    page = client.get(f"/admin/calls/{room}").get_data(as_text=True)
    assert "LiveKit's webhooks say when the caller joined and left, not what was said" in page
    assert "arrives with the provider's webhook or the next history sync" not in page  # it never would
