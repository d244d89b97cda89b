"""``POST /api/token``, LiveKit's standard token endpoint, behind every guard of ``/api/calls``.

Bodies are what ``livekit-client``'s ``TokenSource.endpoint`` sends (protobuf JSON with
LiveKit's field names); ``tests/e2e/test_token_endpoint.py`` drives the real thing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask

from tests.fakes import FakeTurnstile
from tests.support.apps import OfflineLiveKit, build_app, codes, post

CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
greeting = "Hello from the token endpoint"
allowed_origins = ["https://frontend.example.com"]

[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.once]
provider = "livekit"
agent_id = "webcall-demo"
daily_budget = 1
"""


def token_request(agent: str | None = "local", **fields: Any) -> dict[str, Any]:
    """A request as ``TokenSource.endpoint(url).fetch({agentName, ...})`` sends it."""
    body: dict[str, Any] = dict(fields)
    if agent is not None:
        body["room_config"] = {"agents": [{"agent_name": agent}]}
    return body


def ask(app: Flask, body: Any, **headers: str) -> Any:
    """POST ``body`` to the token endpoint."""
    return app.test_client().post("/api/token", json=body, headers=headers)


def test_answers_livekits_format_with_a_server_chosen_room_and_identity(make_app: Any) -> None:
    response = ask(make_app(), token_request(participant_name="Ann"))
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    answer = response.get_json()
    assert set(answer) == {"server_url", "participant_token"}
    assert answer["server_url"] == OfflineLiveKit.url
    claims = jwt.decode(answer["participant_token"], OfflineLiveKit.api_secret, algorithms=["HS256"])
    assert claims["video"]["room"].startswith("webcall-local-") and claims["sub"].startswith("caller-")
    assert claims["name"] == "Ann"
    # The agent dispatched is the catalogue's (its worker's name and greeting), not the request's slug.
    (dispatch,) = claims["roomConfig"]["agents"]
    assert dispatch["agentName"] == "webcall-demo" and "Hello from the token endpoint" in dispatch["metadata"]
    # livekit-client's token sources keep a token until a minute before it expires and use it for
    # the next call too (into a room whose call has ended): this one is never kept.
    assert claims["exp"] - claims["nbf"] <= 60
    page_token = post(make_app(), {"agent": "local"}).get_json()["livekit"]["token"]
    page_claims = jwt.decode(page_token, OfflineLiveKit.api_secret, algorithms=["HS256"])
    assert page_claims["exp"] - page_claims["nbf"] > 60  # our page's own calls keep the usual life


def test_any_provider_behind_it(make_app: Any, ravan: Any) -> None:
    answer = ask(make_app(), token_request("ravan")).get_json()
    assert answer["server_url"] == ravan[1].livekit_url
    assert jwt.decode(answer["participant_token"], options={"verify_signature": False})["sub"]
    assert ravan[1].requests[-1].json["type"] == "web_call"


def test_empty_values_are_what_clients_send_for_unset(make_app: Any) -> None:
    body = token_request(room_name="", participant_identity="", participant_name="", participant_metadata="",
                         participant_attributes={})  # fmt: skip
    body["room_config"]["name"] = ""
    body["room_config"]["agents"][0]["metadata"] = ""
    response = ask(make_app(), body)
    assert response.status_code == 201, response.get_json()
    claims = jwt.decode(response.get_json()["participant_token"], options={"verify_signature": False})
    assert claims["name"] == "Caller"  # an empty name is no name


def dispatch_with(**fields: Any) -> dict[str, Any]:
    """A request whose one dispatch carries ``fields`` besides the agent's name."""
    return {"room_config": {"agents": [{"agent_name": "local", **fields}]}}


TWO_AGENTS = {"room_config": {"agents": [{"agent_name": "local"}, {"agent_name": "ravan"}]}}
ROOM_SETTINGS = {"room_config": {"agents": [{"agent_name": "local"}], "egress": {}}}


@pytest.mark.parametrize("name", ["Ann\u2028Bob", "Ann\x85", "Ann\u202e", "\u200b"])
def test_a_name_with_a_line_break_or_an_invisible_control_is_refused(
    make_app: Any, ravan: Any, name: str
) -> None:
    response = ask(make_app(), token_request(participant_name=name))
    assert (response.status_code, response.get_json()["error"]["code"]) == (400, "invalid_field")


@pytest.mark.parametrize("key", ["x" * 200, "a\u202eb\nc", "Egress"])
def test_an_unknown_room_setting_is_named_quoted_and_cut(make_app: Any, key: str) -> None:
    """The key was repeated raw, up to 120 characters: a line break or an override in an error."""
    response = ask(make_app(), {"room_config": {"agents": [{"agent_name": "local"}], key: 1}})
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (400, "field_not_allowed")
    assert error["message"] == f"room_config[{key[:64]!r}] is chosen by the server: leave it out."


def test_half_an_emoji_in_the_name_is_named_for_what_it_is(make_app: Any) -> None:
    body = b'{"participant_name": "Ann \\ud83d", "room_config": {"agents": [{"agent_name": "local"}]}}'
    response = make_app().test_client().post("/api/token", data=body, content_type="application/json")
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (400, "invalid_field")
    assert error["message"] == "participant_name must be valid Unicode text."


@pytest.mark.parametrize(
    ("body", "code", "names"),
    [
        (token_request(room_name="my-room"), "room_name_not_allowed", "room_name"),
        ({"room_config": {"name": "mine"}}, "room_name_not_allowed", "room_config.name"),
        (token_request(participant_identity="admin"), "participant_identity_not_allowed", "identity"),
        (token_request(participant_metadata='{"role": 1}'), "field_not_allowed", "participant_metadata"),
        (token_request(participant_attributes={"a": "b"}), "field_not_allowed", "participant_attributes"),
        (TWO_AGENTS, "one_agent_only", "exactly one"),
        (dispatch_with(metadata='{"greeting": "x"}'), "field_not_allowed", "room_config.agents[0].metadata"),
        (dispatch_with(deployment="staging"), "field_not_allowed", "room_config.agents[0].deployment"),
        (ROOM_SETTINGS, "field_not_allowed", "room_config.egress"),
        ({"room_config": {"empty_timeout": 600}}, "field_not_allowed", "room_config.empty_timeout"),
        (token_request(room="mine"), "unknown_field", "'room'"),
        (token_request(participant_name=7), "invalid_field", "participant_name"),
        ({"room_config": {"agents": [{"agent_name": 7}]}}, "invalid_field", "agent_name"),
        ({"room_config": "local"}, "invalid_field", "room_config"),
        (token_request(None), "agent_name_required", "agent_name"),
        ({"room_config": {"agents": [{}]}}, "agent_name_required", "agent_name"),
        ({"room_config": {"agents": [{"agent_name": ""}]}}, "agent_name_required", "agent_name"),
        (token_request("nobody"), "unknown_agent", ""),
    ],
)
def test_what_a_client_may_not_choose_is_refused_by_name(
    make_app: Any, ravan: Any, body: dict[str, Any], code: str, names: str
) -> None:
    response = ask(make_app(), body)
    status = 404 if code == "unknown_agent" else 400
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert names in response.get_json()["error"]["message"]
    assert ravan[1].requests == []  # refused before any provider is asked


@pytest.mark.parametrize(
    ("data", "content_type", "code"),
    [(b"", "application/json", "invalid_json"), (b"[]", "application/json", "invalid_body"),
     (b"{}", "text/plain", "unsupported_media_type")],
)  # fmt: skip
def test_bodies_that_are_not_a_request(make_app: Any, data: bytes, content_type: str, code: str) -> None:
    response = make_app().test_client().post("/api/token", data=data, content_type=content_type)
    assert response.get_json()["error"]["code"] == code


def test_a_single_agent_needs_no_name(tmp_path: Path) -> None:
    app = build_app(tmp_path, '[agents.solo]\nprovider = "livekit"\nagent_id = "webcall-demo"\n')
    assert ask(app, {}).status_code == 201
    assert ask(app, {"room_config": {"agents": [{}]}}).status_code == 201


def test_origins_cors_and_preflight(make_app: Any) -> None:
    app = make_app()
    allowed = ask(app, token_request(), Origin="https://frontend.example.com")
    assert allowed.status_code == 201
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://frontend.example.com"
    refused = ask(app, token_request(), Origin="https://evil.example")
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (403, "origin_not_allowed")
    # The agent allows the frontend; another agent does not.
    other = ask(app, token_request("ravan"), Origin="https://frontend.example.com")
    assert other.get_json()["error"]["code"] == "origin_not_allowed"
    preflight = app.test_client().options("/api/token", headers={
        "Origin": "https://frontend.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-bot-token, x-sandbox-id"})  # fmt: skip
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://frontend.example.com"
    allowed_headers = preflight.headers["Access-Control-Allow-Headers"].lower().split(", ")
    # agent-starter-react's connection-details fetch sends X-Sandbox-Id to any endpoint.
    assert {"content-type", "x-bot-token", "x-sandbox-id"} <= set(allowed_headers)


def test_limits_and_budgets_are_shared_with_api_calls(make_app: Any) -> None:
    app = make_app(WEBCALL_RATE_LIMITS="3/minute")
    client = app.test_client()
    answers = [
        client.post("/api/calls", json={"agent": "once"}),
        client.post("/api/token", json=token_request("once")),  # the budget of 1 is spent
        client.post("/api/token", json=token_request()),
        client.post("/api/calls", json={"agent": "local"}),  # the fourth call from this client
    ]
    assert codes(answers) == [201, "daily_budget_exhausted", 201, "rate_limited"]
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_idempotency_key_replays_the_same_token(make_app: Any) -> None:
    app = make_app()
    first = ask(app, token_request(), **{"Idempotency-Key": "tok-1"}).get_json()
    again = ask(app, token_request(), **{"Idempotency-Key": "tok-1"}).get_json()
    assert first == again
    assert ask(app, token_request(), **{"Idempotency-Key": "not a key"}).status_code == 400


def test_a_key_sent_to_both_endpoints_asks_for_two_calls(make_app: Any) -> None:
    """A token for /api/token lives a minute (so clients that keep tokens never rejoin a call that
    ended): /api/calls' ten-minute one is never replayed there under the same key, nor back."""
    app = make_app()
    called = app.test_client().post("/api/calls", json={"agent": "local"}, headers={"Idempotency-Key": "k-1"})
    assert called.status_code == 201
    reused = ask(app, token_request(), **{"Idempotency-Key": "k-1"})
    assert (reused.status_code, reused.get_json()["error"]["code"]) == (409, "idempotency_key_reused")
    first = ask(app, token_request(), **{"Idempotency-Key": "k-2"})
    token = first.get_json()["participant_token"]
    claims = jwt.decode(token, OfflineLiveKit.api_secret, algorithms=["HS256"])
    assert claims["exp"] - claims["nbf"] <= 60
    back = app.test_client().post("/api/calls", json={"agent": "local"}, headers={"Idempotency-Key": "k-2"})
    assert (back.status_code, back.get_json()["error"]["code"]) == (409, "idempotency_key_reused")


def test_bot_check_token_in_a_header(make_app: Any) -> None:
    turnstile = FakeTurnstile(secret="ts-secret")
    with turnstile.server as server:
        app = make_app(WEBCALL_TURNSTILE_SITE_KEY="ts-site", WEBCALL_TURNSTILE_SECRET_KEY="ts-secret",
                       WEBCALL_TURNSTILE_VERIFY_URL=f"{server.url}/siteverify")  # fmt: skip
        answers = [
            ask(app, token_request()),
            ask(app, token_request(), **{"X-Bot-Token": "forged"}),
            ask(app, token_request(), **{"X-Bot-Token": "good-token"}),
            ask(app, token_request(), **{"X-Bot-Token": "x" * 5000}),
        ]
    assert codes(answers) == ["bot_check_required", "bot_check_failed", 201, "invalid_field"]
    assert turnstile.verified[-1]["response"] == "good-token"


@pytest.mark.parametrize("agent_name", [5, "a" * 65], ids=["a number", "65 characters"])
def test_a_bad_agent_name_is_named_as_the_client_wrote_it(make_app: Any, agent_name: Any) -> None:
    """Found by fuzzing: pydantic's union members (``function-after[strip(), constrained-str]``)
    were in the field's name, so the message did not recognise agent_name."""
    body = {"room_config": {"agents": [{"agent_name": agent_name}]}}
    answer = make_app().test_client().post("/api/token", json=body)
    error = answer.get_json()["error"]
    assert (answer.status_code, error["code"]) == (400, "invalid_field")
    assert error["message"] == (
        "room_config.agents[0].agent_name must be an agent's slug (one line, 1 to 64 characters)."
    )
