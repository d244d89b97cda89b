"""Zudu's pure request builder and answer parser, for every documented shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.providers.conftest import make_agent, make_request
from webapp.errors import ProviderBadResponse
from webapp.providers import TranscriptLine, zudu

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


# --- history: GET /api/calls/{call_id} ---------------------------------------------------

START_MS = 1748518028692  # epoch milliseconds, as the page's events write times


def call_answer(**call: Any) -> dict[str, Any]:
    """``GET /api/calls/{id}``'s answer with the create page's call fields."""
    record = {
        "call_id": "call_af26", "agent_id": "agent-123", "organization_id": "org-1",
        "call_status": "registered", "call_type": "web_call", "direction": "inbound",
        "start_timestamp": None, "end_timestamp": None,
        "call_duration": None, "disconnection_reason": None, "recording_url": None, "public_log_url": None,
        "metadata": {}, "events": [], "transcript": None, "transcript_object": [], "call_analysis": None,
        "call_cost": None, **call,
    }  # fmt: skip
    return {
        "message": "ok",
        "status": "success",
        "error": None,
        "data": {"organization_id": "org-1", "call": record},
    }


def test_a_registered_call_has_no_times_yet() -> None:
    call = zudu.parse_call(call_answer())
    assert (call.call_id, call.agent_id, call.status, call.provider_status, call.channel) == (
        "call_af26", "agent-123", "created", "registered", "web",
    )  # fmt: skip
    assert call.started_at is call.duration_s is None and call.transcript == ()


def test_an_ended_call_has_times_duration_transcript_and_summary() -> None:
    call = zudu.parse_call(
        call_answer(
            call_status="ENDED", call_type="WEB_CALL", start_timestamp=START_MS,
            end_timestamp=START_MS + 30_500, call_duration=30500, recording_url="https://rec.zudu.example/1.wav",
            transcript_object=[{"role": "agent", "content": "Hi"}, {"role": "user", "content": " Hi "}, {}],
            call_analysis={"call_summary": "Greeted."}, call_cost={"amount": 0.2, "currency": "USD"},
        )
    )  # fmt: skip
    assert call.status == "completed" and call.channel == "web"
    assert call.started_at == datetime.fromtimestamp(START_MS / 1000, tz=UTC)
    assert call.duration_s == 30.5  # from the timestamps; call_duration's unit is not documented
    assert call.transcript == (TranscriptLine("agent", "Hi"), TranscriptLine("user", "Hi"))
    assert (call.summary, call.cost, call.recording_url) == (
        "Greeted.",
        0.2,
        "https://rec.zudu.example/1.wav",
    )


@pytest.mark.parametrize(
    ("raw", "status"),
    [("REGISTERED", "created"), ("scheduled", "created"), ("Ongoing", "in_progress"), ("ENDED", "completed"),
     ("error", "failed"), ("on_hold", "unknown")],
)  # fmt: skip
def test_statuses_in_any_case_in_our_words(raw: str, status: str) -> None:
    assert zudu.zudu_status(raw) == status


@pytest.mark.parametrize(
    "shape",
    [
        {"message": "Not found", "status": "error", "error": "Call call_x not found"},
        {"message": "ok", "status": "success", "error": None, "data": {"call": {"call_status": "ENDED"}}},
        [],
    ],
)
def test_an_unusable_call_is_a_bad_response(shape: Any) -> None:
    with pytest.raises(ProviderBadResponse):
        zudu.parse_call(shape)
