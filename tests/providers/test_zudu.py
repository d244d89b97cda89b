"""Zudu's pure request builder and answer parser, for every documented shape."""

from __future__ import annotations

from typing import Any

import pytest

from tests.providers.conftest import make_agent, make_request
from webapp.errors import ProviderBadResponse
from webapp.providers import zudu

AGENT = make_agent("zudu", "agent-123")


def test_web_call_body_carries_variables_in_the_metadata() -> None:
    body = zudu.build_web_call(make_request(AGENT, variables={"name": "Ann"}, metadata={"src": "page"}))
    assert body == {"agent_id": "agent-123", "metadata": {"src": "page", "name": "Ann"}}
    assert zudu.build_web_call(make_request(AGENT)) == {"agent_id": "agent-123"}


def answer(token: str, **data: Any) -> dict[str, Any]:
    """create-web-call's documented answer."""
    return {
        "message": "Web call created",
        "status": "success",
        "error": None,
        "data": {
            "call": {"call_id": "call_1", "call_status": "REGISTERED", "call_type": "WEB_CALL"},
            "web_call_info": {"room_name": "room-z", "access_token": token},
            "livekit_connection": {"server_url": "wss://lk.zudu.ai", "token": token, "room_name": "room-z"},
            **data,
        },
    }


def test_documented_answer(livekit_token: str) -> None:
    call = zudu.parse_web_call(answer(livekit_token))
    assert (call.call_id, call.livekit_url, call.room, call.identity) == (
        "call_1",
        "wss://lk.zudu.ai",
        "room-z",
        "u-1",
    )


def test_token_also_read_from_web_call_info(livekit_token: str) -> None:
    shape = answer(livekit_token)
    del shape["data"]["livekit_connection"]["token"]
    assert zudu.parse_web_call(shape).token == livekit_token


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a.update(status="error", error="Agent not found"),
        lambda a: a.update(error="something"),
        lambda a: a["data"].pop("livekit_connection"),
        lambda a: a["data"].pop("call"),
        # /api/calls/create's answer: a call, but no LiveKit credentials at all.
        lambda a: (a["data"].pop("livekit_connection"), a["data"].pop("web_call_info")),
    ],
    ids=["status-error", "error-set", "no-connection", "no-call", "create-not-create-web-call"],
)
def test_unusable_answers_are_bad_responses(livekit_token: str, mutate: Any) -> None:
    shape = answer(livekit_token)
    mutate(shape)
    with pytest.raises(ProviderBadResponse):
        zudu.parse_web_call(shape)
