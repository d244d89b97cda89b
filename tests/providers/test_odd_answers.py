"""What a provider's answer may hand the browser and the call log, through the API.

The fakes answer over real HTTP as documented, then a ``patch`` fault changes one field of
the answer: a LiveKit URL the browser must not be sent to, an id that is not short text, a
token too big, a ``success`` that is not ``true``, a call of the wrong
kind. Each is a 502 ``provider_bad_response``, for web calls and phone callbacks alike.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from livekit import api

from tests.fakes import REMOVE, Fault
from tests.support.apps import FAKE_AGENT_IDS, FAKE_KEYS, build_app, post, provider_env
from webapp.errors import ConfigError

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"
allowed_variables = ["name", "plan"]

[agents.zudu]
provider = "zudu"
agent_id = "{zudu}"
allowed_variables = ["name", "plan"]

[agents.convoi]
provider = "convoi"
agent_id = "{convoi}"
allowed_variables = ["name", "plan"]

[agents.retell]
provider = "retell"
agent_id = "{retell}"

[agents.elevenlabs]
provider = "elevenlabs"
agent_id = "{elevenlabs}"

[agents.ravan-phone]
provider = "ravan"
agent_id = "{ravan}"
web = false
[agents.ravan-phone.phone]
enabled = true
allowed_countries = ["US"]
from_number = "+14157774444"
bot_check = false
cooldown_s = 0

[agents.convoi-phone]
provider = "convoi"
agent_id = "{convoi}"
web = false
[agents.convoi-phone.phone]
enabled = true
allowed_countries = ["US"]
phone_number_id = "phn_c38155f043624745a66d2e28c185abcd"
bot_check = false
cooldown_s = 0

[agents.unleashx]
provider = "unleashx"
agent_id = "101"
[agents.unleashx.phone]
enabled = true
allowed_countries = ["US"]
bot_check = false
cooldown_s = 0
"""
NUMBER = "+14155552671"
ROOM = "room_agent_conv_01jzexample"  # a room ElevenLabs' answer could name (it holds a conv_… id)
# Where each provider's create answer carries what the browser is handed.
URL_FIELDS = {"ravan": "url", "zudu": "data.livekit_connection.server_url", "convoi": "livekit.url"}
TOKEN_FIELDS = {
    "ravan": "access_token",
    "zudu": "data.livekit_connection.token",
    "convoi": "livekit.token",
    "retell": "access_token",
    "elevenlabs": "token",
}
ID_FIELDS = {"ravan": "session_id", "zudu": "data.call.call_id", "convoi": "id", "retell": "call_id"}
PHONE_ID_FIELDS = {"ravan-phone": "session_id", "convoi-phone": "id", "unleashx": "data.execution_id"}


@pytest.fixture
def app(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, retell: Any, elevenlabs: Any, unleashx: Any
) -> Flask:
    """The app against this test's fakes, with web agents and phone agents that need no bot check."""
    urls = {"retell_url": retell[0].url, "elevenlabs_url": elevenlabs[0].url}
    env = {
        **provider_env(ravan[0].url, zudu[0].url, convoi[0].url, **urls),
        "UNLEASHX_API_TOKEN": FAKE_KEYS["unleashx"],
        "UNLEASHX_BASE_URL": unleashx[0].url,
        "WEBCALL_READ_TIMEOUT_S": "1",
        "WEBCALL_CONNECT_TIMEOUT_S": "1",
        "WEBCALL_RATE_LIMITS": "1000/minute",
        "WEBCALL_SECRET_KEY": "k" * 40,
    }
    return build_app(tmp_path, CATALOGUE.format(**FAKE_AGENT_IDS), **env)


def token(ttl: timedelta = timedelta(minutes=5), metadata: str = "") -> str:
    """A real participant token for ``ROOM``, as a provider mints it."""
    minted = (
        api.AccessToken("key", "secret-" + "x" * 32)
        .with_identity("user-1")
        .with_ttl(ttl)
        .with_grants(api.VideoGrants(room_join=True, room=ROOM))
    )
    return (minted.with_metadata(metadata) if metadata else minted).to_jwt()


def web_call(app: Flask, request: pytest.FixtureRequest, provider: str, changes: dict[str, Any]) -> Any:
    """``POST /api/calls`` with the provider's next answer changed by ``changes``."""
    request.getfixturevalue(provider)[1].faults.append(Fault("patch", body=changes))
    return post(app, {"agent": provider})


def phone_call(app: Flask, request: pytest.FixtureRequest, agent: str, changes: dict[str, Any]) -> Any:
    """``POST /api/phone-calls`` with the provider's next answer changed by ``changes``."""
    provider = agent.removesuffix("-phone")
    request.getfixturevalue(provider)[1].faults.append(Fault("patch", body=changes))
    body = {"agent": agent, "phone_number": NUMBER, "consent": True}
    return app.test_client().post("/api/phone-calls", json=body)


def error_code(response: Any) -> tuple[int, str | None]:
    """The status and our error code (None for a success)."""
    body = response.get_json()
    return response.status_code, body["error"]["code"] if response.status_code >= 400 else None


BAD_RESPONSE = (502, "provider_bad_response")


# --- F2: the LiveKit URL -------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(URL_FIELDS))
@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://lk.example",
        "notaurl",
        "wss://",
        "wss://lk example",
        "wss://lk.example/" + "a" * 3000,
    ],
    ids=["javascript", "ftp", "no-scheme", "no-host", "space", "3kB"],
)
def test_a_livekit_url_the_browser_must_not_get_is_a_bad_response(
    app: Flask, request: pytest.FixtureRequest, provider: str, url: str
) -> None:
    assert error_code(web_call(app, request, provider, {URL_FIELDS[provider]: url})) == BAD_RESPONSE


@pytest.mark.parametrize("provider", sorted(URL_FIELDS))
@pytest.mark.parametrize("url", ["wss://lk.example.com", "https://lk.example.com:7880/rtc"])
def test_a_livekit_url_with_a_host_is_handed_on(
    app: Flask, request: pytest.FixtureRequest, provider: str, url: str
) -> None:
    response = web_call(app, request, provider, {URL_FIELDS[provider]: url})
    assert response.status_code == 201 and response.get_json()["livekit"]["url"] == url


# --- F3: ids and tokens --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "value"),
    [
        ("ravan", 12345),
        ("ravan", {"a": 1}),
        *[(provider, "x" * 100_000) for provider in sorted(ID_FIELDS)],
        *[(provider, "x" * 256) for provider in sorted(ID_FIELDS)],
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 20 else type(v).__name__ + str(len(str(v))),
)
def test_an_id_that_is_not_short_text_is_a_bad_response(
    app: Flask, request: pytest.FixtureRequest, provider: str, value: Any
) -> None:
    assert error_code(web_call(app, request, provider, {ID_FIELDS[provider]: value})) == BAD_RESPONSE


@pytest.mark.parametrize("provider", sorted(ID_FIELDS))
def test_an_id_that_fits_the_call_log_is_handed_on(
    app: Flask, request: pytest.FixtureRequest, provider: str
) -> None:
    response = web_call(app, request, provider, {ID_FIELDS[provider]: "x" * 255})
    assert response.status_code == 201 and response.get_json()["call_id"] == "x" * 255


@pytest.mark.parametrize(
    ("changes", "call_id"),
    [
        ({"session_id": REMOVE}, "call_"),  # the room's id stands in
        ({"session_id": None}, "call_"),
        ({"session_id": REMOVE, "room_id": REMOVE}, "ravan-"),  # one of ours
    ],
    ids=["room-id-only", "null", "neither"],
)
def test_a_ravan_answer_without_its_session_id_still_makes_a_call(
    app: Flask, request: pytest.FixtureRequest, changes: dict[str, Any], call_id: str
) -> None:
    """The page names what a call needs (``success``, ``url``, ``access_token``); the id is not among them."""
    response = web_call(app, request, "ravan", changes)
    assert response.status_code == 201 and response.get_json()["call_id"].startswith(call_id), (
        response.get_json()
    )


def test_a_ravan_room_id_standing_in_must_be_text_too(app: Flask, request: pytest.FixtureRequest) -> None:
    assert (
        error_code(web_call(app, request, "ravan", {"session_id": REMOVE, "room_id": ["r"]})) == BAD_RESPONSE
    )


@pytest.mark.parametrize(("room", "status"), [("room_agent_01jzexample", 201), ("r" * 256, 502)])
def test_an_elevenlabs_room_without_a_conversation_id_is_the_id_when_it_fits(
    app: Flask, request: pytest.FixtureRequest, room: str, status: int
) -> None:
    no_conversation = (
        api.AccessToken("key", "secret-" + "x" * 32)
        .with_identity("user-1")
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )
    response = web_call(app, request, "elevenlabs", {"token": no_conversation})
    assert response.status_code == status, response.get_json()
    if status == 201:
        assert response.get_json()["call_id"] == room


@pytest.mark.parametrize("provider", sorted(TOKEN_FIELDS))
def test_a_token_of_2_mb_is_a_bad_response(app: Flask, request: pytest.FixtureRequest, provider: str) -> None:
    huge = token(metadata="m" * 1_600_000)
    assert error_code(web_call(app, request, provider, {TOKEN_FIELDS[provider]: huge})) == BAD_RESPONSE


@pytest.mark.parametrize("provider", ["convoi", "ravan", "zudu"])
def test_a_token_the_pages_own_variables_make_large_is_handed_on(
    app: Flask, provider: str, request: pytest.FixtureRequest
) -> None:
    """A valid body of under 16 KiB whose emoji grow in the provider's token (JSON in JSON in
    base64) past 16 kB: the call was made, so it is the caller's (it was a 502, the call orphaned)."""
    values = {"name": "\N{GRINNING FACE}" * 1000, "plan": "\N{GRINNING FACE}" * 1000}
    body = json.dumps({"agent": provider, "variables": values}, ensure_ascii=False).encode()
    assert len(body) < 16 * 1024
    response = app.test_client().post("/api/calls", data=body, content_type="application/json")
    assert response.status_code == 201, response.get_json()
    assert len(response.get_json()["livekit"]["token"]) > 16 * 1024
    assert len(request.getfixturevalue(provider)[1].calls) == 1


@pytest.mark.parametrize(
    ("agent", "changes"),
    [
        ("ravan-phone", {"session_id": REMOVE, "room_id": REMOVE}),
        ("ravan-phone", {"session_id": "s" * 256}),
        ("convoi-phone", {"id": "c" * 100_000}),
        ("unleashx", {"data.execution_id": "e" * 256}),
    ],
    ids=["ravan-room-id-only", "ravan-256", "convoi-100kB", "unleashx-256"],
)
def test_a_phone_call_id_that_is_not_short_text_is_a_bad_response(
    app: Flask, request: pytest.FixtureRequest, agent: str, changes: dict[str, Any]
) -> None:
    assert error_code(phone_call(app, request, agent, changes)) == BAD_RESPONSE


@pytest.mark.parametrize("agent", sorted(PHONE_ID_FIELDS))
def test_a_phone_call_id_that_fits_is_taken(app: Flask, request: pytest.FixtureRequest, agent: str) -> None:
    response = phone_call(app, request, agent, {PHONE_ID_FIELDS[agent]: "p" * 255})
    assert response.status_code == 202, response.get_json()


# --- F5: a token already expired -----------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(TOKEN_FIELDS))
def test_an_expired_token_is_handed_on_and_logged(
    app: Flask, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture, provider: str
) -> None:
    """LiveKit judges its own tokens (a provider's clock, or a test double's fixed token, may be
    off): the call goes ahead, and the log says why the page may not join."""
    expired = token(ttl=timedelta(minutes=-5))
    with caplog.at_level(logging.WARNING):
        response = web_call(app, request, provider, {TOKEN_FIELDS[provider]: expired})
    assert response.status_code == 201, response.get_json()
    assert any("expired" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("provider", sorted(TOKEN_FIELDS))
def test_a_token_just_expired_is_within_the_clock_skew(
    app: Flask, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture, provider: str
) -> None:
    """A provider's clock a few seconds ahead of ours is nothing to log."""
    with caplog.at_level(logging.WARNING):
        response = web_call(
            app, request, provider, {TOKEN_FIELDS[provider]: token(ttl=timedelta(seconds=-10))}
        )
    assert response.status_code == 201, response.get_json()
    assert not any("expired" in record.getMessage() for record in caplog.records)


# --- F6: a success that is not true, a call of another kind ---------------------------------


@pytest.mark.parametrize("success", ["false", "true", 0, 1, None], ids=repr)
def test_a_ravan_success_other_than_true_is_a_failure(
    app: Flask, request: pytest.FixtureRequest, success: Any
) -> None:
    """The page types ``success`` boolean: only ``true`` says the call was created."""
    assert error_code(web_call(app, request, "ravan", {"success": success})) == BAD_RESPONSE
    assert error_code(phone_call(app, request, "ravan-phone", {"success": success})) == BAD_RESPONSE


@pytest.mark.parametrize(
    "changes", [{"object": "list"}, {"type": "outbound_phone"}, {"object": "call", "type": "sip"}], ids=str
)
def test_a_convoi_answer_that_is_not_a_web_call_is_a_bad_response(
    app: Flask, request: pytest.FixtureRequest, changes: dict[str, Any]
) -> None:
    assert error_code(web_call(app, request, "convoi", changes)) == BAD_RESPONSE


@pytest.mark.parametrize("changes", [{"object": "list"}, {"type": "web"}], ids=str)
def test_a_convoi_answer_that_is_not_a_phone_call_is_a_bad_response(
    app: Flask, request: pytest.FixtureRequest, changes: dict[str, Any]
) -> None:
    assert error_code(phone_call(app, request, "convoi-phone", changes)) == BAD_RESPONSE


# --- F4: an UnleashX phone agent id that cannot be sent ------------------------------------


@pytest.mark.parametrize(
    "agent_id", ["¹²", "1" * 26, "0101"], ids=["superscript", "26-digits", "leading-zero"]
)
def test_an_unleashx_phone_agent_id_that_is_no_json_integer_stops_the_start(
    tmp_path: Path, agent_id: str
) -> None:
    """``str.isdigit`` took ``"¹²"`` (``int()`` fails) and 26 digits (past 64 bits): every call was a 500."""
    catalogue = f"""
[agents.unleashx]
provider = "unleashx"
agent_id = "101"
[agents.unleashx.phone]
enabled = true
allowed_countries = ["US"]
agent_id = "{agent_id}"
"""
    env = {"UNLEASHX_API_TOKEN": FAKE_KEYS["unleashx"], "WEBCALL_SECRET_KEY": "k" * 40}
    with pytest.raises(ConfigError) as refused:
        build_app(tmp_path, catalogue, **env)
    assert "phone: agent_id: an UnleashX agent id is a whole number (1 to 18 digits" in str(refused.value)
