"""Ravan's pure request builder and answer parser, for every documented shape."""

from __future__ import annotations

from typing import Any

import pytest

from tests.providers.conftest import make_agent, make_request
from webapp.errors import ProviderBadResponse
from webapp.providers import ravan

AGENT = make_agent("ravan", "3b1f6a2e-7c1d-4e5f-9a0b-1c2d3e4f5a6b")


def test_web_call_body_is_the_narrowest_documented_one() -> None:
    body = ravan.build_web_call(make_request(AGENT, variables={"name": "Ann"}, metadata={"src": "page"}))
    assert body == {
        "type": "web_call",
        "agent_id": AGENT.agent_id,
        "metadata": {"src": "page"},
        "prompt_dynamic_variables": {"name": "Ann"},
    }
    assert ravan.build_web_call(make_request(AGENT)) == {"type": "web_call", "agent_id": AGENT.agent_id}


@pytest.mark.parametrize("nested", [False, True], ids=["documented-flat", "under-data"])
def test_answer_is_read_flat_or_under_data(livekit_token: str, nested: bool) -> None:
    fields = {
        "url": "wss://lk.ravan.ai",
        "access_token": livekit_token,
        "room_id": "room-9",
        "session_id": "s-1",
    }
    answer: dict[str, Any] = {"success": True, "message": "ok"}
    answer.update({"data": fields} if nested else fields)
    call = ravan.parse_web_call(answer)
    assert (call.call_id, call.livekit_url, call.room, call.identity) == (
        "s-1",
        "wss://lk.ravan.ai",
        "room-9",
        "u-1",
    )
    assert call.expires_at is not None


def test_room_comes_from_the_token_when_the_answer_has_none(livekit_token: str) -> None:
    call = ravan.parse_web_call({"success": True, "url": "wss://x", "access_token": livekit_token})
    assert call.room == "r-1" and call.call_id.startswith("ravan-")


@pytest.mark.parametrize(
    "answer",
    [
        {"success": False, "message": "agent inactive", "url": "wss://x", "access_token": "t"},
        {"success": True, "data": {"success": False}},
        {"success": True, "url": "wss://x"},
        {"success": True, "access_token": "t"},
        {"success": True, "url": "wss://x", "access_token": "not-a-jwt"},
        [],
        "ok",
    ],
)
def test_unusable_answers_are_bad_responses(answer: Any) -> None:
    with pytest.raises(ProviderBadResponse):
        ravan.parse_web_call(answer)
