"""Convoi's pure request builder, idempotency key and answer parser."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.providers.conftest import make_agent, make_request
from tests.support.apps import FAKE_AGENT_IDS, app_state_of, post
from webapp.errors import ProviderBadResponse
from webapp.providers import HistoryQuery, ProviderCall, convoi, registry

AGENT = make_agent(
    "convoi", "agt_b88d642dd68747f28305c428b209abcd", greeting="Hi!", system_prompt="Be brief."
)


CATALOGUE = """
[agents.support]
provider = "convoi"
agent_id = "{convoi}"
"""


def test_web_call_body_with_overrides_from_the_catalogue_only() -> None:
    request = make_request(AGENT, variables={"name": "Ann"}, metadata={"src": "page"}, participant_name="Ann")
    assert convoi.build_web_call(request) == {
        "type": "web",
        "agent_id": AGENT.agent_id,
        "participant_name": "Ann",
        "agent_overrides": {"first_message": "Hi!", "system_prompt": "Be brief."},
        "metadata": {"src": "page", "name": "Ann"},
    }
    plain = make_agent("convoi", "agt_1")
    assert convoi.build_web_call(make_request(plain)) == {"type": "web", "agent_id": "agt_1"}


def test_idempotency_key_is_a_uuid_derived_from_our_scoped_key_and_the_body() -> None:
    key, body = "demo|198.51.100.1|5d0c7d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e", {"type": "web", "agent_id": "agt_1"}
    first = convoi.idempotency_key(key, body)
    assert first == convoi.idempotency_key(key, {"agent_id": "agt_1", "type": "web"})  # keys in any order
    assert first != convoi.idempotency_key(key.replace(".1|", ".2|"), body)
    assert first != convoi.idempotency_key(key, {**body, "agent_overrides": {"first_message": "Hi!"}})
    assert uuid.UUID(first).version == 5
    assert uuid.UUID(convoi.idempotency_key(None, body)).version == 4


def test_a_key_sent_again_with_an_edited_agent_is_a_new_call(make_app: Any, convoi: Any) -> None:
    """Convoi answers 409 to a key it has seen with another body, for a day: a retry after our
    own replay window, once the agent's greeting was edited, must not fail for good."""
    provider = app_state_of(make_app()).providers["convoi"]
    agent = make_agent("convoi", FAKE_AGENT_IDS["convoi"], greeting="Hi!")
    first = provider.create_web_call(make_request(agent, idempotency_key="support|198.51.100.1|k"))
    again = provider.create_web_call(make_request(agent, idempotency_key="support|198.51.100.1|k"))
    assert again.call_id == first.call_id  # the same body: Convoi replays its call
    edited = agent.model_copy(update={"greeting": "Hello!"})
    later = provider.create_web_call(make_request(edited, idempotency_key="support|198.51.100.1|k"))
    assert later.call_id != first.call_id
    assert len([r for r in convoi[1].requests if r.method == "POST"]) == 3


def test_documented_answer(livekit_token: str) -> None:
    call = convoi.parse_web_call(
        {
            "id": "call_01HX",
            "object": "call",
            "type": "web",
            "status": "initiated",
            "agent_id": "agt_1",
            "room_id": "room-c",
            "livekit": {
                "url": "wss://lk.convoi.ai",
                "token": livekit_token,
                "participant_identity": "public-1",
            },
            "duration_seconds": 0.0,
            "cost": {"amount": 0.0, "currency": "USD"},
        }
    )
    assert (call.call_id, call.livekit_url, call.room, call.identity) == (
        "call_01HX", "wss://lk.convoi.ai", "room-c", "public-1",
    )  # fmt: skip


@pytest.mark.parametrize(
    "shape",
    [
        {"id": "call_1", "livekit": None, "room_id": None},  # a phone call's answer
        {"id": "call_1", "livekit": {"url": "wss://x"}},
        {"livekit": {"url": "wss://x", "token": "t"}},
        {"type": "about:blank", "title": "Unprocessable", "status": 422, "detail": "sqd_ with type web"},
    ],
)
def test_unusable_answers_are_bad_responses(shape: Any) -> None:
    with pytest.raises(ProviderBadResponse):
        convoi.parse_web_call(shape)


# --- history: GET /calls (cursor paging) and GET /calls/{id} ----------------------------

T0 = datetime(2026, 6, 5, 10, 0, tzinfo=UTC)


def call_object(call_id: str, created: datetime = T0, **fields: Any) -> dict[str, Any]:
    """A call in the documented response shape."""
    return {
        "id": call_id, "object": "call", "type": "web", "status": "completed", "agent_id": "agt_1",
        "squad_id": None, "room_id": "room-1", "livekit": None, "customer": None, "duration_seconds": 61.5,
        "cost": {"amount": 0.12, "currency": "USD"}, "metadata": {},
        "created_at": created.isoformat().replace("+00:00", "Z"), "updated_at": created.isoformat(), **fields,
    }  # fmt: skip


def test_a_documented_call_is_read_whole() -> None:
    call = convoi.parse_call(call_object("call_1"))
    assert call == ProviderCall(
        call_id="call_1", agent_id="agt_1", status="completed", provider_status="completed", channel="web",
        room="room-1", created_at=T0, duration_s=61.5, cost=0.12, cost_currency="USD",
    )  # fmt: skip
    phone = convoi.parse_call(call_object("call_2", type="outbound_phone", agent_id=None, squad_id="sqd_1",
                                          room_id=None, status="active"))  # fmt: skip
    assert (phone.channel, phone.agent_id, phone.status, phone.room) == (
        "phone",
        "sqd_1",
        "in_progress",
        None,
    )


@pytest.mark.parametrize(
    ("raw", "status"),
    [("initiated", "created"), ("active", "in_progress"), ("completed", "completed"),
     ("rejected", "completed"), ("failed", "failed"), ("no-answer", "no_answer"), ("paused", "unknown")],
)  # fmt: skip
def test_statuses_in_our_words(raw: str, status: str) -> None:
    assert convoi.convoi_status(raw) == status


def test_a_list_page_follows_its_cursor_and_keeps_the_agents_calls() -> None:
    answer = {
        "object": "list",
        "data": [call_object("call_3"), call_object("call_2", agent_id="agt_other"), {"object": "call"}],
        "has_more": True,
    }
    page = convoi.parse_call_list(answer, HistoryQuery(agent_id="agt_1"))
    assert [c.call_id for c in page.calls] == ["call_3"] and page.skipped == 1
    assert page.next_cursor is None  # the last entry has no id to start after
    answer["data"] = answer["data"][:2]
    assert convoi.parse_call_list(answer, HistoryQuery()).next_cursor == "call_2"
    answer["has_more"] = False
    assert convoi.parse_call_list(answer, HistoryQuery()).next_cursor is None


def test_paging_stops_once_the_list_reaches_back_past_since() -> None:
    answer = {
        "object": "list",
        "data": [call_object("new", T0 + timedelta(hours=2)), call_object("old", T0 - timedelta(hours=2))],
        "has_more": True,
    }
    page = convoi.parse_call_list(answer, HistoryQuery(since=T0))
    assert [c.call_id for c in page.calls] == ["new"] and page.next_cursor is None
    until = convoi.parse_call_list(answer, HistoryQuery(until=T0))
    assert [c.call_id for c in until.calls] == ["old"] and until.next_cursor == "old"


@pytest.mark.parametrize(
    "answer", [{"object": "call", "id": "call_1"}, {"object": "list", "data": None}, [], "nope"]
)
def test_an_unusable_list_is_a_bad_response(answer: Any) -> None:
    with pytest.raises(ProviderBadResponse):
        convoi.parse_call_list(answer, HistoryQuery())


def test_a_live_call_is_ended_with_the_documented_delete(make_app: Any, convoi: Any) -> None:
    """``DELETE /api/v1/public/calls/{id}`` ends a live call: it is then ``rejected``."""
    assert registry()["convoi"].supports("end_call")
    app = make_app()
    call_id = post(app, {"agent": "support"}).get_json()["call_id"]
    ended = app_state_of(app).providers["convoi"].end_call(call_id)  # type: ignore[attr-defined]
    assert ended is not None and (ended.call_id, ended.status) == (call_id, "completed")  # in our words
    assert convoi[1].calls[call_id]["status"] == "rejected"  # an API hang-up, in Convoi's
    (request,) = [r for r in convoi[1].requests if r.method == "DELETE"]
    assert request.path.endswith(f"/calls/{call_id}")
    assert request.headers["authorization"].startswith("Bearer ")
