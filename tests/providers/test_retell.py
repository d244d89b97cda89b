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
    assert call.expires_at == now + timedelta(seconds=30)
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
