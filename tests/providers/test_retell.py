"""Retell's pure request builder and answer parser, for every documented shape and refusal."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from livekit import api

from tests.providers.conftest import make_agent, make_request
from webapp.errors import ProviderBadResponse
from webapp.providers import retell
from webapp.providers.base import HistoryQuery, TranscriptLine

AGENT = make_agent("retell", "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD")
HOST = retell.LIVEKIT_URL


def token(ttl: timedelta) -> str:
    """A participant token as Retell mints it (room ``web_call_1``, identity ``user-1``)."""
    return (
        api.AccessToken("key", "secret-" + "x" * 32)
        .with_identity("user-1")
        .with_ttl(ttl)
        .with_grants(api.VideoGrants(room_join=True, room="web_call_1"))
        .to_jwt()
    )


def v2_answer(access_token: str, **fields: Any) -> dict[str, Any]:
    """create-web-call's 201, as v2 documents it: no LiveKit URL."""
    return {
        "call_type": "web_call",
        "access_token": access_token,
        "call_id": "call_1",
        "agent_id": AGENT.agent_id,
        "agent_version": 0,
        "call_status": "registered",
        **fields,
    }


def test_web_call_body_carries_variables_as_dynamic_variables() -> None:
    request = make_request(AGENT, variables={"name": "Ann"}, metadata={"webcall_agent": "a"})
    assert retell.build_web_call(request) == {
        "agent_id": AGENT.agent_id,
        "metadata": {"webcall_agent": "a"},
        "retell_llm_dynamic_variables": {"name": "Ann"},
    }
    assert retell.build_web_call(make_request(AGENT)) == {"agent_id": AGENT.agent_id}


def test_a_v2_answer_joins_retells_host() -> None:
    now = datetime.now(UTC)
    call = retell.parse_web_call(v2_answer(token(timedelta(minutes=5))), HOST, now=now)
    assert (call.call_id, call.livekit_url) == ("call_1", HOST)
    assert (call.room, call.identity) == ("web_call_1", "user-1")
    # Retell drops an unused token after 30 s: the call expires then, not at the JWT's exp.
    assert call.expires_at == now.replace(microsecond=0) + timedelta(seconds=30)  # in whole seconds
    assert call.protocol == {}


def test_a_token_that_dies_sooner_sets_the_expiry() -> None:
    now = datetime.now(UTC)
    call = retell.parse_web_call(v2_answer(token(timedelta(seconds=10))), HOST, now=now)
    assert call.expires_at is not None and call.expires_at < now + timedelta(seconds=12)


def test_a_newer_answer_names_its_livekit_url() -> None:
    answer = v2_answer(token(timedelta(minutes=1)), transport="livekit", url="wss://lk.retell.example")
    assert retell.parse_web_call(answer, HOST).livekit_url == "wss://lk.retell.example"
    # A LiveKit answer without a url is on the usual host.
    answer = v2_answer(token(timedelta(minutes=1)), transport="livekit")
    assert retell.parse_web_call(answer, HOST).livekit_url == HOST
    # RETELL_LIVEKIT_URL set (a test's local LiveKit) wins over the answer's own.
    answer = v2_answer(token(timedelta(minutes=1)), transport="livekit", url="wss://lk.retell.example")
    assert (
        retell.parse_web_call(answer, "ws://127.0.0.1:7880", configured=True).livekit_url
        == "ws://127.0.0.1:7880"
    )


def test_a_gateway_call_is_a_bad_response_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    answer = v2_answer("gw_token", transport="gateway", url="https://gateway.retellai.example")
    with caplog.at_level(logging.ERROR), pytest.raises(ProviderBadResponse):
        retell.parse_web_call(answer, HOST)
    assert "'gateway', not LiveKit" in caplog.text


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a.pop("access_token"),
        lambda a: a.update(access_token=""),
        lambda a: a.pop("call_id"),
        lambda a: a.update(access_token="not-a-jwt"),
        lambda a: a.update(transport="livekit", url=7),
        lambda a: a.update(transport="livekit", url="ftp://lk.example"),
        lambda a: a.update(transport=None, call_id={"id": 1}),
    ],
    ids=["no-token", "empty-token", "no-call-id", "not-a-jwt", "url-not-text", "url-not-livekit", "odd-id"],
)
def test_unusable_answers_are_bad_responses(mutate: Any) -> None:
    answer = v2_answer(token(timedelta(minutes=1)))
    mutate(answer)
    with pytest.raises(ProviderBadResponse):
        retell.parse_web_call(answer, HOST)


def test_settings_default_to_retells_hosts_and_check_the_override() -> None:
    settings = retell.RetellSettings.model_validate({"RETELL_API_KEY": "k"})
    assert (settings.base_url, settings.livekit_url) == ("https://api.retellai.com", HOST)
    local = retell.RetellSettings.model_validate({"RETELL_LIVEKIT_URL": "ws://127.0.0.1:7880"})
    assert local.livekit_url == "ws://127.0.0.1:7880" and local.missing() == ["RETELL_API_KEY"]
    with pytest.raises(ValueError, match="ws"):
        retell.RetellSettings.model_validate({"RETELL_LIVEKIT_URL": "retell-ai-4ihahnq7.livekit.cloud"})


# --- history: list-calls and get-call ---------------------------------------------------

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def test_the_list_body_filters_on_retells_side() -> None:
    window = {"since": T0, "until": T0 + timedelta(hours=1)}
    query = HistoryQuery(agent_id="agent_1", filters={"call_type": "web_call"}, **window)
    assert retell.build_list_body(query, "call_9") == {
        "sort_order": "descending",
        "limit": retell.LIST_LIMIT,
        "filter_criteria": {
            "call_type": ["web_call"],
            "agent_id": ["agent_1"],
            "start_timestamp": {"lower_threshold": T0_MS, "upper_threshold": T0_MS + 3_600_000},
        },
        "pagination_key": "call_9",
    }
    assert retell.build_list_body(HistoryQuery(), None) == {"sort_order": "descending", "limit": 100}
    with pytest.raises(ValueError, match="no filter search"):
        retell.build_list_body(HistoryQuery(filters={"search": "x"}), None)


def ended_call(**fields: Any) -> dict[str, Any]:
    """A get-call answer for an ended web call."""
    lines = [
        {"role": "agent", "content": "Hello", "words": []},
        {"role": "user", "content": " Hi "},
        {"role": "tool_call_invocation", "name": "lookup"},  # not words: left out
    ]
    return {
        "call_type": "web_call", "call_id": "call_1", "agent_id": "agent_1", "call_status": "ended",
        "start_timestamp": T0_MS, "end_timestamp": T0_MS + 42_500, "duration_ms": 42_500,
        "recording_url": "https://rec.retell.example/1.wav", "transcript_object": lines,
        "call_analysis": {"call_summary": "Asked a question."}, **fields,
    }  # fmt: skip


def test_an_ended_call_in_our_words() -> None:
    call = retell.parse_call(ended_call())
    assert (call.call_id, call.agent_id, call.status, call.provider_status, call.channel) == (
        "call_1", "agent_1", "completed", "ended", "web",
    )  # fmt: skip
    assert (call.started_at, call.ended_at, call.duration_s) == (T0, T0 + timedelta(seconds=42.5), 42.5)
    assert call.transcript == (TranscriptLine("agent", "Hello"), TranscriptLine("user", "Hi"))
    assert (call.summary, call.recording_url) == ("Asked a question.", "https://rec.retell.example/1.wav")
    assert (call.cost, call.cost_currency) == (None, None)  # not reported (yet)
    # Without duration_ms the timestamps give it; a registered call has neither.
    assert retell.parse_call(ended_call(duration_ms=None)).duration_s == 42.5
    phone = {"call_id": "call_2", "call_status": "registered", "call_type": "phone_call"}
    registered = retell.parse_call(phone)
    assert (registered.status, registered.channel, registered.started_at, registered.transcript) == (
        "created", "phone", None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("call_cost", "cost"),
    [
        ({"combined_cost": 4.83, "product_costs": []}, 0.0483),
        ({"combined_cost": "12.5"}, 0.125),
        ({"combined_cost": 0}, 0.0),
        ({"combined_cost": 1 / 3}, 0.00333333),
    ],
)
def test_its_cost_in_cents_is_kept_in_dollars(call_cost: dict[str, Any], cost: float) -> None:
    call = retell.parse_call(ended_call(call_cost=call_cost))
    assert (call.cost, call.cost_currency) == (cost, "USD")


@pytest.mark.parametrize("call_cost", [{}, {"combined_cost": None}, {"combined_cost": "free"}, [4.83], 4.83])
def test_a_cost_without_its_cents_is_none(call_cost: Any) -> None:
    call = retell.parse_call(ended_call(call_cost=call_cost))
    assert (call.cost, call.cost_currency) == (None, None)


@pytest.mark.parametrize(
    ("raw", "status"),
    [("registered", "created"), ("ongoing", "in_progress"), ("ended", "completed"), ("error", "failed"),
     ("not_connected", "no_answer"), ("transferring", "unknown")],
)  # fmt: skip
def test_statuses_in_our_words(raw: str, status: str) -> None:
    assert retell.retell_status(raw) == status


def test_a_full_page_continues_after_its_last_call() -> None:
    full = [ended_call(call_id=f"call_{i}") for i in range(retell.LIST_LIMIT)]
    assert retell.parse_call_list(full).next_cursor == f"call_{retell.LIST_LIMIT - 1}"
    short = retell.parse_call_list([ended_call(), {"call_status": "ended"}, "junk"])
    assert [c.call_id for c in short.calls] == ["call_1"] and short.skipped == 2 and short.next_cursor is None
    with pytest.raises(ProviderBadResponse):
        retell.parse_call_list({"calls": []})


def test_a_retell_agent_takes_no_chat() -> None:
    with pytest.raises(ValueError, match="Retell AI's agents read nothing the page types"):
        make_agent("retell", "agent_1", text_only="allowed")
