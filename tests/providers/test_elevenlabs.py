"""ElevenLabs' pure token query, initiation message and answer parser; its regions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from livekit import api
from pydantic import ValidationError

from tests.providers.conftest import make_agent, make_request
from webapp.errors import ProviderBadResponse
from webapp.providers import elevenlabs
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
