"""ElevenLabs' post-call webhook (``post_call_transcription``), built and signed by the ElevenLabs
fake as ElevenLabs' docs and SDK say, sent over real HTTP to the app."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from flask import Flask

from tests.fakes import FakeState
from tests.fakes.elevenlabs import add_conversation, end_conversation, post_call_webhook, signature
from tests.fakes.receiver import SECRET as RECEIVER_SECRET
from tests.fakes.receiver import Receiver
from tests.history.conftest import PlacedCall, sender_of, with_signature
from tests.support.apps import app_state_of

CATALOGUE = """
[agents.concierge]
provider = "elevenlabs"
agent_id = "{elevenlabs}"
"""
MakeApp = Callable[..., Flask]
SECRET = "wsec_0123456789abcdef0123456789abcdef"  # what ElevenLabs made with the webhook


class Served(PlacedCall):
    """An ElevenLabs web call placed through the app, and ElevenLabs' requests to its webhook."""

    def __init__(self, app: Flask, elevenlabs: FakeState) -> None:
        super().__init__(app, elevenlabs, "elevenlabs", "concierge")
        self.elevenlabs = elevenlabs

    def transcribed(self, conversation_id: str | None = None, **options: Any) -> httpx.Response:
        """ElevenLabs' request for the conversation (ours unless given), as ElevenLabs signs it."""
        options.setdefault("secret", SECRET)
        return self.send(*post_call_webhook(self.elevenlabs, conversation_id or self.call_id, **options))


@pytest.fixture
def served(make_app: MakeApp, elevenlabs: Any, call_log_url: str) -> Iterator[Served]:
    """The app with the webhook's secret, on SQLite and on PostgreSQL."""
    served = Served(
        make_app(WEBCALL_DATABASE_URL=call_log_url, ELEVENLABS_WEBHOOK_SECRET=SECRET), elevenlabs[1]
    )
    yield served
    served.server.stop()


def test_a_transcription_ends_the_call_once(
    make_app: MakeApp, elevenlabs: Any, call_log_url: str, receiver: tuple[Receiver, str]
) -> None:
    """The conversation ends: the log has its end, length, transcript and summary at once (the
    site's own URL hears call.ended), and a second delivery changes nothing."""
    target, url = receiver
    app = make_app(
        WEBCALL_DATABASE_URL=call_log_url, ELEVENLABS_WEBHOOK_SECRET=SECRET, WEBCALL_EVENTS_URL=url,
        WEBCALL_EVENTS_SECRET=RECEIVER_SECRET,
    )  # fmt: skip
    sender_of(app).started = True
    served = Served(app, elevenlabs[1])
    try:
        end_conversation(served.elevenlabs, served.call_id, duration_s=42)
        answer = served.transcribed()
        assert (answer.status_code, answer.json()) == (200, {"status": "applied"})
        record = served.record()
        assert (record.status, record.provider_status, record.duration_s, record.summary) == (
            "completed", "done", 42, "The caller needed help.",
        )  # fmt: skip
        assert [(line.role, line.text) for line in record.transcript or ()] == [
            ("agent", "Hello, this is the ElevenLabs agent."), ("user", "Hi, I need help."),
        ]  # fmt: skip
        assert record.started_at is not None and record.ended_at is not None
        assert (record.ended_at - record.started_at).total_seconds() == 42
        assert (record.outcome, record.agent) == ("created", "concierge")
        again = served.transcribed()
        assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
        assert served.record() == record
        assert sender_of(app).send_due() == 2
        assert [e["type"] for e in target.events()] == ["call.created", "call.ended"]
    finally:
        served.server.stop()


def _headers(value: str | None) -> Callable[[Served], tuple[bytes, dict[str, str]]]:
    return lambda served: with_signature(
        "ElevenLabs-Signature", value, post_call_webhook(served.elevenlabs, served.call_id, secret=SECRET)
    )


def _other_body(served: Served) -> tuple[bytes, dict[str, str]]:
    body, headers = post_call_webhook(served.elevenlabs, served.call_id, secret=SECRET)
    return body.replace(b'"done"', b'"failed"'), headers  # signed, then changed on the way


@pytest.mark.parametrize(
    "request_of",
    [
        _headers(None),
        _headers(""),
        _headers("t=1,v0=zz"),
        _headers("{signed}0"),  # one hex digit too many
        _headers("v0=0000000000000000000000000000000000000000000000000000000000000000"),
        lambda served: post_call_webhook(
            served.elevenlabs, served.call_id, secret="wsec_not_ours_0123456789"
        ),
        lambda served: post_call_webhook(
            served.elevenlabs, served.call_id, secret=SECRET, at_s=int(time.time()) - 31 * 60
        ),
        lambda served: post_call_webhook(
            served.elevenlabs, served.call_id, secret=SECRET, at_s=int(time.time()) + 31 * 60
        ),
        _other_body,
    ],
    ids=[
        "missing",
        "empty",
        "garbage",
        "too-long",
        "no-time",
        "wrong-secret",
        "stale",
        "early",
        "other-body",
    ],
)
def test_a_delivery_without_elevenlabs_signature_is_refused_and_changes_nothing(
    served: Served,
    caplog: pytest.LogCaptureFixture,
    request_of: Callable[[Served], tuple[bytes, dict[str, str]]],
) -> None:
    end_conversation(served.elevenlabs, served.call_id)
    served.refused_unsigned(*request_of(served), SECRET, caplog)


def test_audio_other_types_and_conversations_not_placed_here_are_ignored(served: Served) -> None:
    """The audio webhook (a base64 MP3), another type and the workspace's other conversations
    (its phone calls, its widget's) answer 200 ``ignored``: ElevenLabs disables a webhook that
    keeps failing."""
    elsewhere = add_conversation(served.elevenlabs, "agent_elsewhere", status="done")
    failure = json.dumps({"type": "call_initiation_failure", "event_timestamp": 1, "data": {}}).encode()
    answers = [
        served.transcribed(kind="post_call_audio"),
        served.transcribed(elsewhere["conversation_id"]),
        served.send(failure, {"ElevenLabs-Signature": signature(SECRET, failure, int(time.time()))}),
    ]
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"status": "ignored"})] * 3
    assert served.record().status == "created"
    assert app_state_of(served.app).history.find(elsewhere["conversation_id"]) is None


def test_a_signed_body_that_is_no_event_is_a_clear_400(served: Served) -> None:
    for body, message in (
        (b"not json", "The body is not JSON."),
        (b"[1, 2]", "The body must be a JSON object."),
        (json.dumps({"data": {}}).encode(), "The body needs type and data."),
        (json.dumps({"type": "post_call_transcription"}).encode(), "The body needs type and data."),
        (json.dumps({"type": "post_call_transcription", "data": {"conversation_id": ""}}).encode(),
         "data.conversation_id is required"),
        (json.dumps({"type": "post_call_transcription", "data": {"conversation_id": "c" * 256}}).encode(),
         "data.conversation_id is required"),
    ):  # fmt: skip
        answer = served.send(body, {"ElevenLabs-Signature": signature(SECRET, body, int(time.time()))})
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_webhook"), body
        assert answer.json()["error"]["message"].startswith(message)
    assert served.record().status == "created"


def test_without_the_webhooks_secret_there_is_no_endpoint(make_app: MakeApp, elevenlabs: Any) -> None:
    app = make_app()
    body, headers = post_call_webhook(elevenlabs[1], add_conversation(elevenlabs[1], "a")["conversation_id"],
                                      secret=SECRET)  # fmt: skip
    answer = app.test_client().post("/webhooks/elevenlabs", data=body, headers=headers)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (404, "not_found")


def test_a_signature_with_its_parts_in_another_order_is_taken(served: Served) -> None:
    """ElevenLabs' SDK reads the header's parts in any order (``v0=<hex>,t=<s>``), so a delivery
    signed that way is applied, not refused and lost (ElevenLabs retries none by default)."""
    end_conversation(served.elevenlabs, served.call_id)
    body, headers = post_call_webhook(served.elevenlabs, served.call_id, secret=SECRET)
    at, digest = headers["ElevenLabs-Signature"].split(",")
    assert at.startswith("t=") and digest.startswith("v0=")
    answer = served.send(body, {**headers, "ElevenLabs-Signature": f"{digest}, {at}"})
    assert (answer.status_code, answer.json()) == (200, {"status": "applied"})
    assert served.record().status == "completed"
