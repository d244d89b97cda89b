"""ElevenLabs' pure token query, initiation message and answer parser; its regions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from livekit import api
from pydantic import ValidationError

from tests.providers.conftest import make_agent, make_request
from webapp.errors import ProviderBadResponse, ProviderError, ProviderUnavailable
from webapp.providers import elevenlabs
from webapp.providers.base import HistoryQuery, ProviderContext, TranscriptLine
from webapp.providers.elevenlabs import ElevenLabsSettings

AGENT = make_agent("elevenlabs", "agent_01jzexample0000000000000000")
HOST = "wss://livekit.rtc.elevenlabs.io"


def token(room: str | None = "room_agent_01jz_conv_01k0abc123XYZ") -> str:
    """A conversation token as ElevenLabs mints it."""
    grants = api.VideoGrants(room_join=True, room=room) if room else api.VideoGrants(can_subscribe=True)
    return (
        api.AccessToken("key", "secret-" + "x" * 32)
        .with_identity("user_1")
        .with_ttl(timedelta(minutes=15))
        .with_grants(grants)
        .to_jwt()
    )


def test_token_query_names_the_agent_and_the_caller() -> None:
    assert elevenlabs.token_query(make_request(AGENT)) == {"agent_id": AGENT.agent_id}
    named = make_request(AGENT, participant_name="Ann")
    assert elevenlabs.token_query(named) == {"agent_id": AGENT.agent_id, "participant_name": "Ann"}


def test_the_answer_carries_the_message_to_send_first() -> None:
    request = make_request(AGENT, variables={"name": "Ann"}, metadata={"webcall_agent": "a"})
    call = elevenlabs.parse_token({"token": token()}, request, HOST)
    assert (call.call_id, call.livekit_url, call.identity) == ("conv_01k0abc123XYZ", HOST, "user_1")
    assert call.room == "room_agent_01jz_conv_01k0abc123XYZ" and call.expires_at is not None
    assert call.protocol == {
        "initiation": {"type": "conversation_initiation_client_data", "dynamic_variables": {"name": "Ann"}}
    }
    # Without variables the message is still sent: ElevenLabs waits for it.
    plain = elevenlabs.parse_token({"token": token()}, make_request(AGENT), HOST)
    assert plain.protocol == {"initiation": {"type": "conversation_initiation_client_data"}}


def test_a_chat_asks_elevenlabs_for_a_text_only_conversation() -> None:
    """As @elevenlabs/client's constructOverrides sends `textOnly`: a chat was a voice conversation
    the page played muted, billed and timed as one."""
    chat = elevenlabs.parse_token({"token": token()}, make_request(AGENT, mode="text"), HOST)
    assert chat.protocol == {
        "initiation": {
            "type": "conversation_initiation_client_data",
            "conversation_config_override": {"conversation": {"text_only": True}},
        }
    }
    voice = elevenlabs.parse_token({"token": token()}, make_request(AGENT, mode="voice"), HOST)
    assert "conversation_config_override" not in voice.protocol["initiation"]


def test_a_room_without_a_conversation_id_is_the_calls_id() -> None:
    call = elevenlabs.parse_token({"token": token("room_42")}, make_request(AGENT), HOST)
    assert call.call_id == "room_42"


@pytest.mark.parametrize(
    "answer",
    [{}, {"token": None}, {"token": ""}, {"token": "not-a-jwt"}, {"token": token(None)}, [], "token"],
    ids=["empty", "null", "blank", "not-a-jwt", "no-room", "a-list", "text"],
)
def test_unusable_answers_are_bad_responses(answer: Any) -> None:
    with pytest.raises(ProviderBadResponse):
        elevenlabs.parse_token(answer, make_request(AGENT), HOST)


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (None, ("https://api.elevenlabs.io", "wss://livekit.rtc.elevenlabs.io")),
        ("eu", ("https://api.eu.residency.elevenlabs.io", "wss://livekit.rtc.eu.residency.elevenlabs.io")),
        ("in", ("https://api.in.residency.elevenlabs.io", "wss://livekit.rtc.in.residency.elevenlabs.io")),
    ],
)
def test_each_region_has_its_hosts(region: str | None, expected: tuple[str, str]) -> None:
    assert elevenlabs.hosts(region, ElevenLabsSettings.model_validate({})) == expected


def test_overrides_replace_every_regions_hosts() -> None:
    settings = ElevenLabsSettings.model_validate(
        {"ELEVENLABS_BASE_URL": "http://127.0.0.1:9000/", "ELEVENLABS_LIVEKIT_URL": "ws://127.0.0.1:7880"}
    )
    for region in (None, "eu", "in"):
        assert elevenlabs.hosts(region, settings) == ("http://127.0.0.1:9000", "ws://127.0.0.1:7880")
    with pytest.raises(ValidationError):
        ElevenLabsSettings.model_validate({"ELEVENLABS_LIVEKIT_URL": "livekit.rtc.elevenlabs.io"})


def test_agents_choose_a_region_the_provider_offers() -> None:
    assert make_agent("elevenlabs", "agent_1", region="eu").region == "eu"
    with pytest.raises(ValidationError, match="has the regions eu, in"):
        make_agent("elevenlabs", "agent_1", region="us")
    with pytest.raises(ValidationError, match="'retell' offers no choice of region"):
        make_agent("retell", "agent_1", region="eu")


# --- history: the conversation list and one conversation --------------------------------

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
T0_S = int(T0.timestamp())


def test_the_list_query_names_the_agent_and_the_cursor() -> None:
    assert elevenlabs.list_params(HistoryQuery(agent_id="agent_1"), "c-2") == {
        "page_size": "100",
        "summary_mode": "include",  # else the list leaves each summary out (the SDK's default)
        "agent_id": "agent_1",
        "cursor": "c-2",
    }
    with pytest.raises(ValueError, match="no filter status"):
        elevenlabs.list_params(HistoryQuery(filters={"status": "done"}), None)


def test_the_list_query_asks_for_the_time_range_in_whole_seconds_a_little_wide() -> None:
    since, until = (
        datetime(2026, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC),
        datetime(2026, 5, 1, 13, 0, tzinfo=UTC),
    )
    params = elevenlabs.list_params(HistoryQuery(agent_id="agent_1", since=since, until=until), None)
    assert params == {
        "page_size": "100",
        "summary_mode": "include",
        "agent_id": "agent_1",
        "call_start_after_unix": str(int(since.timestamp()) - 1),
        "call_start_before_unix": str(int(until.timestamp()) + 1),
    }


def listed(conversation_id: str, started: int, status: str = "done") -> dict[str, Any]:
    """A conversation as the list shows it."""
    return {"agent_id": "agent_1", "conversation_id": conversation_id, "start_time_unix_secs": started,
            "call_duration_secs": 42, "message_count": 4, "status": status}  # fmt: skip


def test_a_listed_conversation_in_our_words() -> None:
    call = elevenlabs.parse_conversation(listed("conv_1", T0_S))
    assert (call.call_id, call.agent_id, call.status, call.provider_status) == (
        "conv_1", "agent_1", "completed", "done",
    )  # fmt: skip
    assert (call.started_at, call.ended_at, call.duration_s, call.transcript) == (
        T0, T0 + timedelta(seconds=42), 42, None,
    )  # fmt: skip
    live = elevenlabs.parse_conversation(listed("conv_2", T0_S, status="in-progress"))
    assert (live.status, live.ended_at) == ("in_progress", None)
    summarised = elevenlabs.parse_conversation({**listed("conv_3", T0_S), "transcript_summary": "Asked."})
    assert summarised.summary == "Asked."  # the list's own summary field


def test_a_conversation_in_full_has_its_transcript_with_times() -> None:
    full = {
        "agent_id": "agent_1", "conversation_id": "conv_1", "status": "done",
        "metadata": {"start_time_unix_secs": T0_S, "call_duration_secs": 30},
        "analysis": {"transcript_summary": "Asked for help."},
        "transcript": [{"role": "agent", "message": "Hello", "time_in_call_secs": 0},
                       {"role": "user", "message": " Help ", "time_in_call_secs": 3},
                       {"role": "agent", "message": None, "tool_calls": [{}]}],
    }  # fmt: skip
    call = elevenlabs.parse_conversation(full)
    assert (call.started_at, call.duration_s, call.summary) == (T0, 30, "Asked for help.")
    assert call.transcript == (
        TranscriptLine("agent", "Hello", T0),
        TranscriptLine("user", "Help", T0 + timedelta(seconds=3)),
    )


def test_an_absurd_duration_or_offset_leaves_its_moment_unknown_and_keeps_the_call() -> None:
    """A time past the calendar's end raised OverflowError out of the parser (a history sync's page)."""
    full = {
        "conversation_id": "conv_1", "status": "done",
        "metadata": {"start_time_unix_secs": T0_S, "call_duration_secs": 1e300},
        "transcript": [{"role": "agent", "message": "Hello", "time_in_call_secs": 1e300},
                       {"role": "user", "message": "Hi", "time_in_call_secs": -1e300}],
    }  # fmt: skip
    call = elevenlabs.parse_conversation(full)
    assert (call.call_id, call.started_at, call.ended_at, call.duration_s) == ("conv_1", T0, None, 1e300)
    assert call.transcript == (TranscriptLine("agent", "Hello", None), TranscriptLine("user", "Hi", None))


@pytest.mark.parametrize(
    ("raw", "status"),
    [("initiated", "created"), ("in-progress", "in_progress"), ("processing", "completed"),
     ("done", "completed"), ("failed", "failed"), ("paused", "unknown")],
)  # fmt: skip
def test_statuses_in_our_words(raw: str, status: str) -> None:
    assert elevenlabs.elevenlabs_status(raw) == status


def test_the_list_is_cut_to_the_time_asked_for_and_stops_there() -> None:
    answer = {
        "conversations": [listed("conv_new", T0_S + 7200), listed("conv_in", T0_S + 60), {"status": "done"},
                          listed("conv_old", T0_S - 60)],
        "has_more": True, "next_cursor": "c-2",
    }  # fmt: skip
    page = elevenlabs.parse_conversation_list(answer, HistoryQuery(since=T0, until=T0 + timedelta(hours=1)))
    assert [c.call_id for c in page.calls] == ["conv_in"] and page.skipped == 1
    assert page.next_cursor is None  # it reached back before `since`: older pages hold nothing for us
    going_on = elevenlabs.parse_conversation_list({**answer, "conversations": answer["conversations"][:2]},
                                                  HistoryQuery())  # fmt: skip
    assert going_on.next_cursor == "c-2"
    with pytest.raises(ProviderBadResponse):
        elevenlabs.parse_conversation_list({"items": []}, HistoryQuery())


def test_history_is_read_from_the_agents_region(caplog: pytest.LogCaptureFixture) -> None:
    """The list goes to the region's host; one conversation is looked for in each region in turn
    (not found in the others: no error logged for it, as every read of it went)."""
    asked: list[str] = []

    def elevenlabs_api(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.url.host}{request.url.path}")
        if request.url.path.endswith("/conversations"):
            return httpx.Response(200, json={"conversations": [], "has_more": False})
        if request.url.host == "api.eu.residency.elevenlabs.io" and request.url.path.endswith("/conv_9"):
            return httpx.Response(200, json={**listed("conv_9", T0_S), "transcript": []})
        return httpx.Response(404, json={"detail": {"status": "conversation_not_found", "message": "no"}})

    settings = ElevenLabsSettings.model_validate({"ELEVENLABS_API_KEY": "k"})
    context = ProviderContext(http=httpx.Client(transport=httpx.MockTransport(elevenlabs_api)))
    adapter = elevenlabs.ElevenLabsProvider(settings, context)
    assert adapter.list_calls(HistoryQuery(agent_id="agent_1", region="in")).calls == ()
    assert adapter.get_call("conv_9").call_id == "conv_9"
    assert asked == [
        "api.in.residency.elevenlabs.io/v1/convai/conversations",
        "api.elevenlabs.io/v1/convai/conversations/conv_9",
        "api.eu.residency.elevenlabs.io/v1/convai/conversations/conv_9",
    ]
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    with pytest.raises(ProviderError) as not_found:
        adapter.get_call("conv_nowhere")
    assert not_found.value.upstream_status == 404  # the history sync's "not there" (gives it up)


def adapter_on(elevenlabs_api: Any) -> elevenlabs.ElevenLabsProvider:
    """An adapter whose every region is served by ``elevenlabs_api`` (a function of the request).

    A short deadline leaves no time for a retry: one call, one request.
    """
    settings = ElevenLabsSettings.model_validate({"ELEVENLABS_API_KEY": "k"})
    client = httpx.Client(transport=httpx.MockTransport(elevenlabs_api))
    return elevenlabs.ElevenLabsProvider(settings, ProviderContext(http=client, deadline_s=0.5))


def test_an_outage_in_one_region_opens_only_that_regions_circuit() -> None:
    """Each region is its own API host: five failures of the EU host make EU calls fail fast without
    asking it, and an agent on the global host still gets its call."""
    asked: list[str] = []

    def elevenlabs_api(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.host)
        if request.url.host == "api.eu.residency.elevenlabs.io":
            return httpx.Response(503, text="upstream down")
        return httpx.Response(200, json={"token": token()})

    adapter = adapter_on(elevenlabs_api)
    in_eu = make_request(make_agent("elevenlabs", "agent_eu", region="eu"))
    for _ in range(5):
        with pytest.raises(ProviderUnavailable):
            adapter.create_web_call(in_eu)
    with pytest.raises(ProviderUnavailable):
        adapter.create_web_call(in_eu)
    assert asked == ["api.eu.residency.elevenlabs.io"] * 5  # the sixth failed fast

    call = adapter.create_web_call(make_request(AGENT))
    assert (call.call_id, call.livekit_url) == ("conv_01k0abc123XYZ", HOST)
    assert asked[-1] == "api.elevenlabs.io"


def test_a_conversation_is_read_while_another_regions_host_is_down() -> None:
    """A host that is down is stepped over, and once its circuit opens it is not even asked."""
    asked: list[str] = []

    def elevenlabs_api(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.host)
        if request.url.host == "api.elevenlabs.io":
            return httpx.Response(503, text="upstream down")
        if request.url.host == "api.eu.residency.elevenlabs.io" and request.url.path.endswith("/conv_9"):
            return httpx.Response(200, json={**listed("conv_9", T0_S), "transcript": []})
        return httpx.Response(404, json={"detail": {"status": "conversation_not_found", "message": "no"}})

    adapter = adapter_on(elevenlabs_api)
    for _ in range(6):
        assert adapter.get_call("conv_9").call_id == "conv_9"
    assert asked.count("api.elevenlabs.io") == 5


def test_a_conversation_no_host_has_is_an_outage_while_one_host_is_down() -> None:
    """Not found in the regions that answered says nothing of the one that did not: the outage is
    what the history sync hears, so it asks again later instead of giving the call up."""

    def elevenlabs_api(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.eu.residency.elevenlabs.io":
            return httpx.Response(503, text="upstream down")
        return httpx.Response(404, json={"detail": {"status": "conversation_not_found", "message": "no"}})

    with pytest.raises(ProviderUnavailable):
        adapter_on(elevenlabs_api).get_call("conv_9")
