"""Retell's call webhooks (``call_started``, ``call_ended``, ``call_analyzed``), built and signed by
the Retell fake as Retell's docs say, sent over real HTTP to the app."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from flask import Flask

from tests.fakes import FakeState
from tests.fakes.fields import now_ms
from tests.fakes.receiver import SECRET as RECEIVER_SECRET
from tests.fakes.receiver import Receiver
from tests.fakes.retell import add_call, end_call, signature, start_call, webhook
from tests.history.conftest import PlacedCall, sender_of, with_signature
from tests.support.apps import app_state_of

CATALOGUE = """
[agents.support]
provider = "retell"
agent_id = "{retell}"
"""
MakeApp = Callable[..., Flask]
WEBHOOK_KEY = "key_webhook_badge_0123456789abcdef"  # another of the account's keys: Retell's webhook one


class Served(PlacedCall):
    """A Retell web call placed through the app, and Retell's requests to its webhook."""

    def __init__(self, app: Flask, retell: FakeState) -> None:
        super().__init__(app, retell, "retell", "support")
        self.retell = retell

    def event(self, event: str, call_id: str | None = None, **options: Any) -> httpx.Response:
        """Retell's request for ``event`` of the call (ours unless given), as Retell signs it."""
        return self.send(*webhook(self.retell, event, call_id or self.call_id, **options))


@pytest.fixture
def served(make_app: MakeApp, retell: Any, call_log_url: str) -> Iterator[Served]:
    """The app on SQLite and on PostgreSQL."""
    served = Served(make_app(WEBCALL_DATABASE_URL=call_log_url), retell[1])
    yield served
    served.server.stop()


def outcomes(*answers: httpx.Response) -> list[tuple[int, Any]]:
    return [(answer.status_code, answer.json()) for answer in answers]


def test_a_call_started_ended_and_analyzed_is_applied_once_each(
    make_app: MakeApp, retell: Any, call_log_url: str, receiver: tuple[Receiver, str]
) -> None:
    """The caller joins, hangs up, and Retell's analysis follows: the log has each at once (the
    site's own URL hears call.started and call.ended), and Retell's retries change nothing."""
    target, url = receiver
    app = make_app(
        WEBCALL_DATABASE_URL=call_log_url, WEBCALL_EVENTS_URL=url, WEBCALL_EVENTS_SECRET=RECEIVER_SECRET
    )
    sender_of(app).started = True
    served = Served(app, retell[1])
    try:
        started_ms = now_ms() - 60_000
        start_call(served.retell, served.call_id, started_ms=started_ms)
        assert outcomes(served.event("call_started")) == [(200, {"status": "applied"})]
        record = served.record()
        assert (record.status, record.ended_at) == ("in_progress", None)
        assert record.started_at is not None and round(record.started_at.timestamp() * 1000) == started_ms

        end_call(served.retell, served.call_id, started_ms=started_ms, duration_ms=42_500)
        assert outcomes(served.event("call_ended")) == [(200, {"status": "applied"})]
        record = served.record()
        assert (record.status, record.provider_status, record.duration_s, record.summary) == (
            "completed", "ended", 42.5, None,
        )  # fmt: skip
        assert (record.cost, record.cost_currency) == (0.05882, "USD")  # call_cost's 5.882 cents
        assert [(line.role, line.text) for line in record.transcript or ()] == [
            ("agent", "Hello, this is the Retell agent."), ("user", "Hi, I have a question."),
        ]  # fmt: skip
        assert outcomes(served.event("call_analyzed")) == [(200, {"status": "applied"})]
        record = served.record()
        assert (record.status, record.summary) == ("completed", "The caller asked a question.")
        assert (record.outcome, record.agent) == ("created", "support")  # ours stays ours

        # Retell sends each again (no 2xx within 10 s, say): acknowledged, nothing changes.
        again = [served.event(kind) for kind in ("call_started", "call_ended", "call_analyzed")]
        assert outcomes(*again) == [(200, {"status": "duplicate"})] * 3
        assert served.record() == record
        assert sender_of(app).send_due() == 3
        events = target.events()
        assert [e["type"] for e in events] == ["call.created", "call.started", "call.ended"]
        assert events[1]["data"]["status"] == "in_progress" and events[2]["data"]["duration_s"] == 42.5
    finally:
        served.server.stop()


def test_the_webhook_key_may_be_another_of_the_accounts_keys(
    make_app: MakeApp, retell: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Retell signs with the key that has its webhook badge: RETELL_WEBHOOK_KEY, when set, checks."""
    served = Served(make_app(RETELL_WEBHOOK_KEY=WEBHOOK_KEY), retell[1])
    try:
        start_call(served.retell, served.call_id)
        caplog.set_level(logging.DEBUG)
        refused = served.event("call_started")  # signed with RETELL_API_KEY: not the webhook key
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "invalid_webhook_signature")
        assert outcomes(served.event("call_started", key=WEBHOOK_KEY)) == [(200, {"status": "applied"})]
        assert WEBHOOK_KEY not in caplog.text and served.retell.api_key not in caplog.text
    finally:
        served.server.stop()


def _stale(served: Served) -> tuple[bytes, dict[str, str]]:
    return webhook(served.retell, "call_ended", served.call_id, at_ms=now_ms() - 6 * 60_000)


def _early(served: Served) -> tuple[bytes, dict[str, str]]:
    return webhook(served.retell, "call_ended", served.call_id, at_ms=now_ms() + 6 * 60_000)


def _other_body(served: Served) -> tuple[bytes, dict[str, str]]:
    body, headers = webhook(served.retell, "call_ended", served.call_id)
    return body.replace(b'"ended"', b'"error"'), headers  # signed, then changed on the way


def _headers(value: str | None) -> Callable[[Served], tuple[bytes, dict[str, str]]]:
    return lambda served: with_signature(
        "X-Retell-Signature", value, webhook(served.retell, "call_ended", served.call_id)
    )


@pytest.mark.parametrize(
    "request_of",
    [
        _headers(None),
        _headers(""),
        _headers("v=1,d=zz"),
        _headers("{signed}0"),  # one hex digit too many
        _headers("d=0000000000000000000000000000000000000000000000000000000000000000"),
        lambda served: webhook(served.retell, "call_ended", served.call_id, key="key_not_ours_0123456789"),
        _stale,
        _early,
        _other_body,
    ],
    ids=["missing", "empty", "garbage", "too-long", "no-time", "wrong-key", "stale", "early", "other-body"],
)
def test_a_delivery_without_retells_signature_is_refused_and_changes_nothing(
    served: Served,
    caplog: pytest.LogCaptureFixture,
    request_of: Callable[[Served], tuple[bytes, dict[str, str]]],
) -> None:
    end_call(served.retell, served.call_id)
    served.refused_unsigned(*request_of(served), served.retell.api_key, caplog)


def test_the_signature_takes_its_digest_in_either_case(served: Served) -> None:
    start_call(served.retell, served.call_id)
    body, headers = webhook(served.retell, "call_started", served.call_id)
    headers["X-Retell-Signature"] = (
        headers["X-Retell-Signature"].upper().replace("V=", "v=").replace("D=", "d=")
    )
    assert outcomes(served.send(body, headers)) == [(200, {"status": "applied"})]


def test_other_events_and_calls_not_placed_here_are_acknowledged_and_ignored(served: Served) -> None:
    """Retell retries any other answer: a transcript update, a transfer, a chat's event and the
    account's other calls (a phone call placed in Retell's dashboard) are 200 ``ignored``."""
    start_call(served.retell, served.call_id)
    elsewhere = add_call(served.retell, "agent_elsewhere", call_type="phone_call", call_status="ongoing")
    answers = [
        served.event("transcript_updated"),
        served.event("transfer_started"),
        served.event("call_ended", elsewhere["call_id"]),
    ]
    chat = json.dumps({"event": "chat_ended", "chat": {"chat_id": "chat_1"}}).encode()
    answers.append(
        served.send(chat, {"X-Retell-Signature": signature(served.retell.api_key, chat, now_ms())})
    )
    assert outcomes(*answers) == [(200, {"status": "ignored"})] * 4
    assert served.record().status == "created"
    assert app_state_of(served.app).history.find(elsewhere["call_id"]) is None


def test_a_signed_body_that_is_no_event_is_a_clear_400(served: Served) -> None:
    def signed(body: bytes) -> httpx.Response:
        return served.send(body, {"X-Retell-Signature": signature(served.retell.api_key, body, now_ms())})

    for body, message in (
        (b"not json", "The body is not JSON."),
        (b"[1, 2]", "The body must be a JSON object."),
        (json.dumps({"event": "call_ended"}).encode(), "The body needs event and call."),
        (json.dumps({"event": "call_ended", "call": {"call_id": ""}}).encode(), "call.call_id is required"),
        (
            json.dumps({"event": "call_ended", "call": {"call_id": "c" * 256}}).encode(),
            "call.call_id is required",
        ),
        (json.dumps({"event": "call_ended", "call": {"call_id": 7}}).encode(), "call.call_id is required"),
    ):
        answer = signed(body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_webhook"), body
        assert answer.json()["error"]["message"].startswith(message)
    assert served.record().status == "created"
