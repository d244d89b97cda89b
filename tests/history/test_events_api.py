"""The events in the admin JSON API (``/api/admin/events``): counts and the latest events, sending
those given up again and a test event, against a receiver over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from flask import Flask

from tests.fakes.receiver import Receiver
from tests.history.conftest import RECEIVER_TOKEN, sender_of
from tests.history.test_events import (  # noqa: F401  (make_app reads CATALOGUE)
    CATALOGUE,
    LINK_KEY,
    give_up,
    new_call,
    open_link,
)
from tests.support.apps import codes
from webapp.history import events as event_sending
from webapp.ops.openapi import document

TOKEN = "admin-" + "t" * 40
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SHOWN = {
    "event_id", "type", "call_id", "link_id", "label", "agent", "state", "occurred_at", "attempts",
    "last_error", "next_attempt_at", "sent_at",
}  # fmt: skip


def get(app: Flask, path: str) -> Any:
    return app.test_client().get(path, headers=AUTH)


def post(app: Flask, path: str) -> Any:
    return app.test_client().post(path, headers=AUTH)


def matches(answer: Any, model: str) -> None:
    """The answer is what /openapi.json says of ``model``."""
    components = document()["components"]
    jsonschema.validate(answer.get_json(), {**components["schemas"][model], "components": components})


def test_the_counts_and_the_latest_events_by_state(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_sending, "AT_ONCE", 1)  # the two calls' events in turn, as the answers are
    app, (target, url) = events_app(WEBCALL_ADMIN_TOKEN=TOKEN), receiver
    given_up = give_up(app, target)
    target.statuses = [204, 500]
    sent, waiting = new_call(app)[1], new_call(app)[1]
    assert sender_of(app).send_due() == 2
    answer = get(app, "/api/admin/events")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    matches(answer, "EventList")
    body = answer.get_json()
    host = re.match(r"(http://[^/]+)/", url)
    assert (
        host is not None
        and body["url"] == host.group(1)
        and body["types"] == ["call.created", "call.started", "call.ended", "call.rated", "demo_link.opened"]
        and RECEIVER_TOKEN not in answer.get_data(as_text=True)
    )
    assert {k: v for k, v in body["counts"].items() if k != "oldest_waiting_at"} == {
        "waiting": 1, "given_up": 1, "sent_last_24h": 1,
    }  # fmt: skip
    assert body["counts"]["oldest_waiting_at"].endswith("Z")
    events = body["events"]
    assert all(set(event) == SHOWN for event in events)
    assert [(e["call_id"], e["state"], e["attempts"], e["last_error"]) for e in events] == [
        (waiting, "waiting", 1, "HTTP 500"), (sent, "sent", 1, None), (given_up, "given_up", 8, "HTTP 503"),
    ]  # fmt: skip
    assert {e["type"] for e in events} == {"call.created"} and {e["agent"] for e in events} == {"sales"}
    assert {(e["link_id"], e["label"]) for e in events} == {(None, None)}
    only = get(app, "/api/admin/events?state=given_up&limit=5").get_json()["events"]
    assert [e["call_id"] for e in only] == [given_up]
    assert len(get(app, "/api/admin/events?limit=1").get_json()["events"]) == 1
    refused = [
        get(app, f"/api/admin/events?{query}")
        for query in ("state=lost", "limit=0", "limit=1001", "agent=sales")
    ]
    assert codes(refused) == ["invalid_query"] * 4


def test_the_events_are_read_a_page_at_a_time(events_app: Callable[..., Flask]) -> None:
    """``before``: the last event's id of a page gives the next one, until none is left."""
    app = events_app(WEBCALL_ADMIN_TOKEN=TOKEN)
    made = [new_call(app)[1] for _ in range(5)]
    pages, before = [], ""
    while True:
        answer = get(app, f"/api/admin/events?limit=2{before}")
        assert answer.status_code == 200, answer.get_json()
        events = answer.get_json()["events"]
        if not events:
            break
        pages.append([event["call_id"] for event in events])
        before = f"&before={events[-1]['event_id']}"
    assert pages == [made[:2:-1], made[2:0:-1], made[:1]]  # newest first, each once
    first = get(app, "/api/admin/events?limit=1").get_json()["events"][0]
    waiting = get(app, f"/api/admin/events?state=waiting&type=call.created&before={first['event_id']}")
    assert [event["call_id"] for event in waiting.get_json()["events"]] == made[3::-1]
    gone = get(app, "/api/admin/events?before=evt_" + "0" * 24)  # no such event (pruned, say)
    assert gone.status_code == 200 and gone.get_json()["events"] == []
    refused = [
        get(app, f"/api/admin/events?before={before}") for before in ("wc_123", "evt_XYZ", "evt_" + "0" * 25)
    ]
    assert codes(refused) == ["invalid_query"] * 3
    assert refused[0].get_json()["error"]["message"] == "before is not valid: must be an event's id (evt_…)."


def test_a_demo_links_event_names_its_link(events_app: Callable[..., Flask]) -> None:
    app = events_app(WEBCALL_ADMIN_TOKEN=TOKEN, WEBCALL_SECRET_KEY=LINK_KEY)
    _, link_id = open_link(app, "Acme pilot")
    answer = get(app, "/api/admin/events")
    matches(answer, "EventList")
    (event,) = answer.get_json()["events"]
    assert (event["type"], event["call_id"], event["link_id"], event["label"], event["agent"]) == (
        "demo_link.opened", None, link_id, "Acme pilot", "sales",
    )  # fmt: skip
    assert answer.get_json()["types"][-1] == "demo_link.opened"
    new_call(app)
    assert [e["type"] for e in get(app, "/api/admin/events").get_json()["events"]] == [
        "call.created", "demo_link.opened",
    ]  # fmt: skip
    only = get(app, "/api/admin/events?type=demo_link.opened&state=waiting").get_json()["events"]
    assert [e["link_id"] for e in only] == [link_id]
    assert get(app, "/api/admin/events?type=call.rated").get_json()["events"] == []
    refused = get(app, "/api/admin/events?type=call.answered")
    assert codes([refused]) == ["invalid_query"]
    assert (
        "type is not valid: must be one of call.created, call.started, "
        in refused.get_json()["error"]["message"]
    )


def test_events_given_up_are_sent_again(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str]
) -> None:
    app, (target, _) = events_app(WEBCALL_ADMIN_TOKEN=TOKEN), receiver
    first, second = give_up(app, target), give_up(app, target)
    events = get(app, "/api/admin/events").get_json()["events"]
    one = next(e["event_id"] for e in events if e["call_id"] == first)
    answer = post(app, f"/api/admin/events/{one}/resend")
    assert (answer.status_code, answer.get_json()) == (200, {"queued": 1})
    matches(answer, "Resent")
    assert post(app, f"/api/admin/events/{one}/resend").get_json() == {"queued": 0}  # in line already
    assert sender_of(app).send_due() == 1
    assert target.events()[-1]["data"]["call_id"] == first
    assert post(app, "/api/admin/events/resend").get_json() == {"queued": 1}  # the second
    assert sender_of(app).send_due() == 1 and target.events()[-1]["data"]["call_id"] == second
    for event_id in ("evt_" + "0" * 24, "evt_nope", "wc_123"):
        refused = post(app, f"/api/admin/events/{event_id}/resend")
        assert (refused.status_code, refused.get_json()["error"]["code"]) == (404, "unknown_event")


def test_a_test_event_says_what_the_url_answered(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str]
) -> None:
    app, (target, _) = events_app(WEBCALL_ADMIN_TOKEN=TOKEN), receiver
    took = post(app, "/api/admin/events/test")
    assert took.status_code == 200
    matches(took, "EventTrial")
    body = took.get_json()
    assert (body["delivered"], body["status"], body["problem"]) == (True, 204, None)
    assert re.fullmatch(r"evt_[0-9a-f]{24}", body["event_id"]) and body["elapsed_ms"] >= 0
    assert target.events()[0]["type"] == "webhook.test"
    target.statuses = [401]
    refused = post(app, "/api/admin/events/test").get_json()
    assert (refused["delivered"], refused["status"], refused["problem"]) == (False, 401, "HTTP 401")
    assert get(app, "/api/admin/events").get_json()["events"] == []  # neither kept


def test_the_token_is_needed_and_events_may_be_off(
    make_app: Callable[..., Flask], events_app: Callable[..., Flask], receiver: tuple[Receiver, str]
) -> None:
    app, (target, _) = events_app(WEBCALL_ADMIN_TOKEN=TOKEN), receiver
    give_up(app, target)
    client = app.test_client()
    answers = [
        client.get("/api/admin/events"),
        client.post("/api/admin/events/resend"),
        client.post("/api/admin/events/test"),
    ]
    assert codes(answers) == ["admin_token_required"] * 3
    assert target.received and len(target.received) == 8  # no test event went out
    assert get(app, "/api/admin/events").get_json()["counts"]["given_up"] == 1  # nothing resent
    off = make_app(WEBCALL_ADMIN_TOKEN=TOKEN)
    tried = post(off, "/api/admin/events/test")
    assert (tried.status_code, tried.get_json()["error"]["code"]) == (403, "events_disabled")
    listed = get(off, "/api/admin/events").get_json()
    assert (listed["url"], listed["types"]) == (None, [])
