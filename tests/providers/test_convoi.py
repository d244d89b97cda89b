"""Convoi's pure request builder, idempotency key and answer parser."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.providers.conftest import make_agent, make_request
from webapp.errors import ProviderBadResponse
from webapp.providers import convoi

AGENT = make_agent(
    "convoi", "agt_b88d642dd68747f28305c428b209abcd", greeting="Hi!", system_prompt="Be brief."
)


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


def test_idempotency_key_is_a_uuid_derived_from_our_scoped_key() -> None:
    first = convoi.idempotency_key("demo|198.51.100.1|5d0c7d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e")
    assert first == convoi.idempotency_key("demo|198.51.100.1|5d0c7d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e")
    assert first != convoi.idempotency_key("demo|198.51.100.2|5d0c7d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e")
    assert uuid.UUID(first).version == 5
    assert uuid.UUID(convoi.idempotency_key(None)).version == 4


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
