"""Ravan's pure request builders and answer parsers, for every documented shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.providers.conftest import make_agent, make_request
from webapp.errors import ProviderBadResponse
from webapp.providers import HistoryQuery, ProviderCall, TranscriptLine, ravan

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
    answer = {"success": True, "url": "wss://x", "access_token": livekit_token, "session_id": "s-1"}
    call = ravan.parse_web_call(answer)
    assert (call.room, call.call_id) == ("r-1", "s-1")


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


# --- history: List Call Sessions, the session detail, the webhook's data -----------------

T0 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
# The documented list entry (camelCase), filled in.
DOCUMENTED_SESSION = {
    "id": "019eb7e0-075d-742b-91ea-94cddde0534a",
    "agentId": AGENT.agent_id,
    "organizationId": "org_1",
    "roomId": "call_019eb7e0",
    "callerNumber": None,
    "calleeNumber": None,
    "callerName": None,
    "callerEmail": None,
    "channel": "web",
    "status": "completed",
    "summary": "Asked about pricing.",
    "metadata": {},
    "errorMessage": None,
    "disconnectReason": "user_hangup",
    "promptDynamicVariables": {},
    "extractDynamicVariables": None,
    "callLatencyMs": 640,
    "startedAt": "2026-02-01T10:00:00Z",
    "endedAt": "2026-02-01T10:01:30Z",
    "durationSec": 90,
    "createdAt": "2026-02-01T09:59:58Z",
    "recordingUrl": "https://rec.example/1.mp3",
    "costTotal": "0.35",
    "agentName": "Sales",
    "postCallAnalysisResult": {},
    "creditBreakdown": {"channel": "web", "duration_sec": 90, "model_credits": 1, "provider_credits": 2,
                        "provider_managed": True, "telephony_type": "none", "total_credits": 3},
}  # fmt: skip


def snake(session: dict[str, Any]) -> dict[str, Any]:
    """The same session in the other version's snake_case."""
    return {ravan._snake(k): v for k, v in session.items()}


def test_list_params_carry_every_documented_filter() -> None:
    filters = {
        "status": "completed", "channel": "sip", "caller_number": "+14157774444", "search": "pricing",
        "sort_by": "started_at", "sort_order": "asc",
    }  # fmt: skip
    query = HistoryQuery(agent_id="a-1", since=T0, until=T0 + timedelta(days=1), filters=filters)
    assert ravan.build_list_params(query, page=3) == {
        "page": "3", "page_size": "20", "agent_id": "a-1", "started_after": "2026-02-01T10:00:00Z",
        "started_before": "2026-02-02T10:00:00Z", **filters,
    }  # fmt: skip
    first = ravan.build_list_params(HistoryQuery(), page=1)  # the first sync: from the beginning
    assert first == {
        "page": "1", "page_size": "20", "started_after": "1970-01-01T00:00:00Z",
        "sort_by": "started_at", "sort_order": "desc",  # newest start first: where a cut listing goes on
    }  # fmt: skip


@pytest.mark.parametrize(
    "filters", [{"colour": "red"}, {"channel": "fax"}, {"sort_order": "up"}, {"page_size": "100"}]
)
def test_list_params_refuse_what_the_page_does_not_document(filters: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        ravan.build_list_params(HistoryQuery(filters=filters), page=1)


def test_a_documented_session_is_read_whole() -> None:
    call = ravan.parse_session(DOCUMENTED_SESSION)
    assert call == ProviderCall(
        call_id="019eb7e0-075d-742b-91ea-94cddde0534a",
        agent_id=AGENT.agent_id,
        status="completed",
        provider_status="completed",
        channel="web",
        room="call_019eb7e0",
        created_at=datetime(2026, 2, 1, 9, 59, 58, tzinfo=UTC),
        started_at=T0,
        ended_at=T0 + timedelta(seconds=90),
        duration_s=90,
        cost=0.35,
        summary="Asked about pricing.",
        recording_url="https://rec.example/1.mp3",
        transcript=None,  # lists carry none
    )
    assert ravan.parse_session(snake(DOCUMENTED_SESSION)) == call


@pytest.mark.parametrize("shape", ["documented", "meta"])
def test_a_full_page_leads_to_the_next_and_a_short_one_ends(shape: str) -> None:
    sessions = [{**DOCUMENTED_SESSION, "id": f"s-{n}"} for n in range(20)]

    def answer(items: list[dict[str, Any]], offset: int, total: int) -> dict[str, Any]:
        if shape == "documented":
            return {"success": True, "message": "ok", "data": {"callSessions": items}}
        return {"data": [snake(i) for i in items], "meta": {"total": total, "limit": 20, "offset": offset}}

    full = ravan.parse_call_sessions(answer(sessions, 0, 25), page=1)
    assert len(full.calls) == 20 and full.next_cursor == "2" and full.skipped == 0
    short = ravan.parse_call_sessions(answer(sessions[:5], 20, 25), page=2)
    assert len(short.calls) == 5 and short.next_cursor is None
    empty = ravan.parse_call_sessions(answer([], 40, 25), page=3)
    assert empty.calls == () and empty.next_cursor is None


def test_meta_says_where_the_list_ends_even_on_a_full_page() -> None:
    items = [snake({**DOCUMENTED_SESSION, "id": f"s-{n}"}) for n in range(20)]
    last = ravan.parse_call_sessions(
        {"data": items, "meta": {"total": 40, "limit": 20, "offset": 20}}, page=2
    )
    assert last.next_cursor is None


def test_unreadable_entries_are_skipped_not_the_page() -> None:
    page = ravan.parse_call_sessions(
        {"success": True, "data": {"callSessions": [DOCUMENTED_SESSION, {"agentId": "no id"}, "junk", None]}},
        page=1,
    )
    assert [c.call_id for c in page.calls] == [DOCUMENTED_SESSION["id"]] and page.skipped == 3


@pytest.mark.parametrize(
    "answer",
    [
        {"success": False, "message": "unauthorized"},
        {"success": True, "data": {"sessions": []}},
        {"success": True, "data": "none"},
        {"data": None, "meta": {}},
        [],
        "<html>",
    ],
)
def test_an_unusable_page_is_a_bad_response(answer: Any) -> None:
    with pytest.raises(ProviderBadResponse):
        ravan.parse_call_sessions(answer, page=1)


def test_the_detail_carries_the_transcript_with_times() -> None:
    detail = {
        "success": True,
        "message": "ok",
        "data": {
            **snake(DOCUMENTED_SESSION),
            "transcripts": [
                {"message": {"role": "assistant", "content": "Hello! "}, "timestamp_ms": 1500},
                {"message": {"role": "user", "content": "Hi"}, "timestamp_ms": 1769940005000},  # epoch ms
                {"message": {"role": "user", "content": "  "}, "timestamp_ms": 9000},  # nothing said
                {"role": "tool", "content": "lookup"},  # flat, as some versions send it
                "junk",
            ],
        },
    }
    call = ravan.parse_session_detail(detail)
    assert call.transcript == (
        TranscriptLine("agent", "Hello!", T0 + timedelta(milliseconds=1500)),
        TranscriptLine("user", "Hi", datetime(2026, 2, 1, 10, 0, 5, tzinfo=UTC)),
        TranscriptLine("tool", "lookup", None),
    )
    with pytest.raises(ProviderBadResponse):
        ravan.parse_session_detail({"success": False, "message": "not found"})


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("completed", "completed"), ("failed", "failed"), ("no_answer", "no_answer"),
        ("no-answer", "no_answer"), ("busy", "busy"), ("voicemail", "voicemail"),
        ("in_progress", "in_progress"), ("ONGOING", "in_progress"), ("queued", "created"),
        ("teleported", "unknown"), (None, None),
    ],
)  # fmt: skip
def test_statuses_in_our_words(raw: str | None, status: str | None) -> None:
    assert ravan.ravan_status(raw) == status


@pytest.mark.parametrize(
    ("raw", "channel"), [("web", "web"), ("voice", "phone"), ("sip", "phone"), ("x", None)]
)
def test_channels_in_our_words(raw: str, channel: str | None) -> None:
    assert ravan.ravan_channel(raw) == channel
