"""Sanity tests of the provider fakes, over real HTTP with httpx."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import pytest
from flask import Flask, request

from . import (
    FakeServer,
    FakeState,
    Fault,
    WebCallRoom,
    create_convoi_app,
    create_elevenlabs_app,
    create_ravan_app,
    create_retell_app,
    create_unleashx_app,
    create_zudu_app,
)
from .convoi import add_call, complete_call
from .ravan import add_session, complete_session, send_call_completed
from .zudu import end_call as zudu_end_call

LIVEKIT_URL = "ws://127.0.0.1:7880"
LIVEKIT_KEY = "devkey"
LIVEKIT_SECRET = "a-livekit-secret-of-at-least-32-bytes!"  # short HMAC keys make PyJWT warn

Serve = Callable[[Callable[[FakeState], Flask], FakeState], FakeServer]


def make_state(api_key: str, agents: dict[Any, dict[str, Any]], **extra: Any) -> FakeState:
    """A FakeState pointing at the dev LiveKit server."""
    return FakeState(
        api_key=api_key,
        livekit_url=LIVEKIT_URL,
        livekit_api_key=LIVEKIT_KEY,
        livekit_api_secret=LIVEKIT_SECRET,
        agents=agents,
        **extra,
    )


def decode(token: str) -> dict[str, Any]:
    """Verify a minted token with the LiveKit secret and return its claims."""
    claims: dict[str, Any] = jwt.decode(token, LIVEKIT_SECRET, algorithms=["HS256"], issuer=LIVEKIT_KEY)
    return claims


def dispatch(claims: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The dispatched agent's name and parsed metadata."""
    (agent,) = claims["roomConfig"]["agents"]
    return agent["agentName"], json.loads(agent["metadata"])


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start fake servers for a test and stop them afterwards."""
    servers: list[FakeServer] = []

    def start(factory: Callable[[FakeState], Flask], state: FakeState) -> FakeServer:
        server = FakeServer(factory(state)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """One httpx client, with room for load tests."""
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    with httpx.Client(timeout=10, limits=limits) as client:
        yield client


# --- Ravan -------------------------------------------------------------------------------

RAVAN_AGENT = "6a0f1b8e-0a52-4c1e-9d7e-2f7d1c5e9a10"
RAVAN_CREATE = "/api/v1/calling/create-call"


@pytest.fixture
def ravan(serve: Serve) -> tuple[FakeServer, FakeState]:
    """A Ravan fake with one agent whose greeting uses a variable."""
    state = make_state("rv-key", {RAVAN_AGENT: {"greeting": "Hi {{name}}!"}})
    return serve(create_ravan_app, state), state


def test_ravan_web_call_mints_a_dispatching_token(ravan: Any, http: httpx.Client) -> None:
    server, state = ravan
    body = {"type": "web_call", "agent_id": RAVAN_AGENT, "prompt_dynamic_variables": {"name": "Ann"}}
    response = http.post(server.url + RAVAN_CREATE, json=body, headers={"X-Api-Key": "rv-key"})

    assert response.status_code == 200
    created = response.json()
    assert created["success"] is True and created["url"] == LIVEKIT_URL
    assert created["room_id"] == f"call_{created['session_id']}"
    claims = decode(created["access_token"])
    assert claims["video"] == {
        "roomJoin": True,
        "room": created["room_id"],
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
    }
    assert claims["sub"].startswith("user_")
    assert claims["exp"] - claims["nbf"] == 15 * 60
    assert dispatch(claims) == ("webcall-demo", {"greeting": "Hi Ann!", "variables": {"name": "Ann"}})
    assert state.requests[-1].headers["x-api-key"] == "rv-key"

    detail = http.get(
        f"{server.url}/api/v1/calling/call-sessions-detail/{created['session_id']}",
        headers={"X-Api-Key": "rv-key"},
    ).json()
    assert detail["data"]["channel"] == "web" and detail["data"]["transcripts"] == []


def test_ravan_data_shape_nests_the_call(ravan: Any, http: httpx.Client) -> None:
    server, state = ravan
    state.response_shape = "data"
    body = {"type": "web_call", "agent_id": RAVAN_AGENT}
    created = http.post(server.url + RAVAN_CREATE, json=body, headers={"X-Api-Key": "rv-key"})
    assert set(created.json()) == {"success", "message", "data"}
    assert decode(created.json()["data"]["access_token"])["sub"]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"type": "web_call", "agent_id": RAVAN_AGENT}, 401),
        ({"X-Api-Key": "wrong"}, {"type": "web_call", "agent_id": RAVAN_AGENT}, 401),
        ({"X-Api-Key": "rv-key"}, {"agent_id": RAVAN_AGENT}, 400),
        ({"X-Api-Key": "rv-key"}, {"type": "webcall", "agent_id": RAVAN_AGENT}, 400),
        ({"X-Api-Key": "rv-key"}, {"type": "outbound_call", "agent_id": RAVAN_AGENT}, 400),
        ({"X-Api-Key": "rv-key"}, {"type": "web_call", "agent_id": "nobody"}, 404),
        ({"X-Api-Key": "rv-key"}, {"type": "web_call", "agent_id": 7}, 400),
    ],
)
def test_ravan_rejects(
    ravan: Any, http: httpx.Client, headers: dict[str, str], body: dict[str, Any], status: int
) -> None:
    server, _ = ravan
    response = http.post(server.url + RAVAN_CREATE, json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["success"] is False and response.json()["message"]


def test_ravan_outbound_call_with_numbers(ravan: Any, http: httpx.Client) -> None:
    server, _ = ravan
    body = {
        "type": "outbound_call",
        "agent_id": RAVAN_AGENT,
        "from_phone_number": "+14157774444",
        "to_phone_number": "+12137774445",
    }
    response = http.post(server.url + RAVAN_CREATE, json=body, headers={"X-Api-Key": "rv-key"})
    assert response.status_code == 200 and response.json()["session_id"]


def test_ravan_rejects_bad_json_and_content_type(ravan: Any, http: httpx.Client) -> None:
    server, _ = ravan
    headers = {"X-Api-Key": "rv-key", "Content-Type": "application/json"}
    assert http.post(server.url + RAVAN_CREATE, content=b"{nope", headers=headers).status_code == 400
    form = http.post(server.url + RAVAN_CREATE, data={"type": "web_call"}, headers={"X-Api-Key": "rv-key"})
    assert form.status_code == 400


def test_ravan_list_in_both_shapes(ravan: Any, http: httpx.Client) -> None:
    server, state = ravan
    headers = {"X-Api-Key": "rv-key"}
    for _ in range(3):
        http.post(
            server.url + RAVAN_CREATE, json={"type": "web_call", "agent_id": RAVAN_AGENT}, headers=headers
        )
    url = server.url + "/api/v1/calling/call-sessions"

    documented = http.get(url, params={"page_size": 2, "channel": "web"}, headers=headers).json()
    assert len(documented["data"]["callSessions"]) == 2
    assert documented["data"]["callSessions"][0]["agentId"] == RAVAN_AGENT

    state.response_shape = "meta"
    meta = http.get(url, params={"page": 2, "page_size": 2}, headers=headers).json()
    assert meta["meta"] == {"total": 3, "limit": 2, "offset": 2}
    assert meta["data"][0]["agent_id"] == RAVAN_AGENT
    assert http.get(url, params={"channel": "fax"}, headers=headers).status_code == 400


RAVAN_SESSIONS = "/api/v1/calling/call-sessions"


def seed_ravan(state: FakeState) -> None:
    """Sessions across two agents, channels, statuses and a day, for the list's filters."""

    def day(d: int) -> dict[str, str]:
        return {"started_at": f"2026-02-0{d}T10:00:00.000Z", "created_at": f"2026-02-0{d}T10:00:00.000Z"}

    add_session(state, RAVAN_AGENT, id="s-web-1", channel="web", status="completed",
                summary="Pricing question", **day(1))  # fmt: skip
    add_session(state, RAVAN_AGENT, id="s-voice-2", channel="voice", status="no_answer",
                caller_number="+14157774444", **day(2))  # fmt: skip
    add_session(state, "other-agent", id="s-sip-3", channel="sip", status="completed", duration_sec=90,
                **day(3))  # fmt: skip


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["s-sip-3", "s-voice-2", "s-web-1"]),
        ({"agent_id": RAVAN_AGENT}, ["s-voice-2", "s-web-1"]),
        ({"status": "completed"}, ["s-sip-3", "s-web-1"]),
        ({"channel": "voice"}, ["s-voice-2"]),
        ({"caller_number": "+14157774444"}, ["s-voice-2"]),
        ({"search": "pricing"}, ["s-web-1"]),
        ({"started_after": "2026-02-01T12:00:00Z"}, ["s-sip-3", "s-voice-2"]),
        ({"started_before": "2026-02-02T12:00:00+00:00"}, ["s-voice-2", "s-web-1"]),
        ({"sort_by": "startedAt", "sort_order": "asc"}, ["s-web-1", "s-voice-2", "s-sip-3"]),
        ({"sort_by": "duration_sec", "sort_order": "desc"}, ["s-sip-3", "s-voice-2", "s-web-1"]),
        ({"page": "2", "page_size": "2"}, ["s-web-1"]),
    ],
)
def test_ravan_list_honours_every_documented_filter(
    ravan: Any, http: httpx.Client, params: dict[str, str], expected: list[str]
) -> None:
    server, state = ravan
    seed_ravan(state)
    params = {"sort_by": "started_at", **params}
    for shape in ("documented", "meta"):
        state.response_shape = shape
        body = http.get(server.url + RAVAN_SESSIONS, params=params, headers={"X-Api-Key": "rv-key"}).json()
        sessions = body["data"]["callSessions"] if shape == "documented" else body["data"]
        assert [s["id"] for s in sessions] == expected, shape


def test_ravan_time_filters_pass_over_a_session_that_never_started(ravan: Any, http: httpx.Client) -> None:
    """A no-answer session has no start: a time filter left it out by raising a 500."""
    server, state = ravan
    seed_ravan(state)
    add_session(state, RAVAN_AGENT, id="s-unanswered", channel="voice", status="no_answer", started_at=None)

    def listed(**params: str) -> list[str]:
        answer = http.get(server.url + RAVAN_SESSIONS, params=params, headers={"X-Api-Key": "rv-key"})
        assert answer.status_code == 200, answer.text
        return sorted(s["id"] for s in answer.json()["data"]["callSessions"])

    assert "s-unanswered" in listed()
    assert listed(started_after="2026-02-01T12:00:00Z") == ["s-sip-3", "s-voice-2"]
    assert listed(started_before="2026-02-02T12:00:00Z") == ["s-voice-2", "s-web-1"]


def test_ravan_list_pages_through_many_sessions(ravan: Any, http: httpx.Client) -> None:
    server, state = ravan
    for n in range(45):
        add_session(state, RAVAN_AGENT, id=f"s-{n:02d}", created_at=f"2026-02-01T10:{n:02d}:00.000Z")
    pages = []
    for page in (1, 2, 3, 4):
        answer = http.get(server.url + RAVAN_SESSIONS, params={"page": page}, headers={"X-Api-Key": "rv-key"})
        pages.append([s["id"] for s in answer.json()["data"]["callSessions"]])
    assert [len(p) for p in pages] == [20, 20, 5, 0]  # page_size defaults to 20
    assert sorted(sum(pages, [])) == [f"s-{n:02d}" for n in range(45)]
    assert state.list_pages_served == 4


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"}, {"page": "x"}, {"page_size": "0"}, {"page_size": "101"}, {"channel": "fax"},
        {"sort_order": "up"}, {"sort_by": "colour"}, {"started_after": "yesterday"},
        {"started_before": "2026-13-01"},
    ],
)  # fmt: skip
def test_ravan_list_rejects_what_the_api_would(
    ravan: Any, http: httpx.Client, params: dict[str, str]
) -> None:
    server, _ = ravan
    response = http.get(server.url + RAVAN_SESSIONS, params=params, headers={"X-Api-Key": "rv-key"})
    assert response.status_code == 400 and response.json()["success"] is False
    assert http.get(server.url + RAVAN_SESSIONS).status_code == 401


def test_ravan_detail_has_the_transcript_once_complete(ravan: Any, http: httpx.Client) -> None:
    server, state = ravan
    add_session(state, RAVAN_AGENT, id="s-1")
    complete_session(state, "s-1", transcript=[("assistant", "Hi"), ("user", "Bye")])
    url = f"{server.url}/api/v1/calling/call-sessions-detail/"
    detail = http.get(url + "s-1", headers={"X-Api-Key": "rv-key"}).json()["data"]
    assert detail["status"] == "completed" and detail["duration_sec"] == 42
    assert [t["message"] for t in detail["transcripts"]] == [
        {"role": "assistant", "content": "Hi"},
        {"role": "user", "content": "Bye"},
    ]
    listed = http.get(server.url + RAVAN_SESSIONS, headers={"X-Api-Key": "rv-key"}).json()
    assert "transcripts" not in listed["data"]["callSessions"][0]  # only the detail carries it
    missing = http.get(url + "s-404", headers={"X-Api-Key": "rv-key"})
    assert missing.status_code == 404 and missing.json()["success"] is False


def test_ravan_webhook_is_retried_until_a_2xx(ravan: Any, serve: Serve) -> None:
    _, state = ravan
    add_session(state, RAVAN_AGENT, id="s-1")
    complete_session(state, "s-1")
    received: list[Any] = []
    receiver = Flask("receiver")

    @receiver.post("/hook")
    def hook() -> Any:
        received.append(request.get_json())
        return ("", 503) if len(received) < 2 else ("", 204)

    server = FakeServer(receiver).start()
    try:
        answers = send_call_completed(state, "s-1", f"{server.url}/hook")
    finally:
        server.stop()
    assert [a.status_code for a in answers] == [503, 204]
    assert received[0] == received[1] and received[0]["event"] == "call.completed"
    assert received[0]["org_id"] == state.organization_id
    assert received[0]["data"]["call_session_id"] == "s-1" and received[0]["data"]["transcripts"]


# --- Zudu --------------------------------------------------------------------------------

ZUDU_HEADERS = {"X-API-KEY": "sk_zudu", "X-API-SECRET": "s3cr3t_zudu"}


@pytest.fixture
def zudu(serve: Serve) -> tuple[FakeServer, FakeState]:
    """A Zudu fake with one agent."""
    state = make_state(
        "sk_zudu", {"agent-123": {"greeting": "Welcome {{customer}}"}}, api_secret="s3cr3t_zudu"
    )
    return serve(create_zudu_app, state), state


def test_zudu_web_call_and_lookup(zudu: Any, http: httpx.Client) -> None:
    server, _ = zudu
    body = {"agent_id": "agent-123", "metadata": {"customer": "Bo"}}
    response = http.post(server.url + "/api/calls/create-web-call", json=body, headers=ZUDU_HEADERS)

    assert response.status_code == 200
    created = response.json()
    assert created["status"] == "success" and created["error"] is None
    connection = created["data"]["livekit_connection"]
    assert connection["server_url"] == LIVEKIT_URL
    assert connection["token"] == created["data"]["web_call_info"]["access_token"]
    claims = decode(connection["token"])
    assert claims["video"]["room"] == connection["room_name"]
    assert dispatch(claims)[1] == {"greeting": "Welcome Bo", "variables": {"customer": "Bo"}}

    call_id = created["data"]["call"]["call_id"]
    fetched = http.get(f"{server.url}/api/calls/{call_id}", headers=ZUDU_HEADERS).json()
    assert fetched["data"]["call"]["call_status"].upper() == "REGISTERED"
    missing = http.get(f"{server.url}/api/calls/call_nope", headers=ZUDU_HEADERS)
    assert missing.status_code == 404 and missing.json()["status"] == "error"

    zudu_end_call(zudu[1], call_id, transcript=[("agent", "Hi"), ("user", "Hello")])
    ended = http.get(f"{server.url}/api/calls/{call_id}", headers=ZUDU_HEADERS).json()["data"]["call"]
    assert ended["call_status"] == "ENDED" and ended["end_timestamp"] - ended["start_timestamp"] == 30_000
    assert ended["transcript_object"] == [
        {"role": "agent", "content": "Hi"},
        {"role": "user", "content": "Hello"},
    ]


def test_zudu_create_carries_no_credentials(zudu: Any, http: httpx.Client) -> None:
    server, _ = zudu
    body = {"agent_id": "agent-123", "call_type": "WEB_CALL", "direction": "INBOUND"}
    created = http.post(server.url + "/api/calls/create", json=body, headers=ZUDU_HEADERS).json()
    assert created["data"]["call"]["call_type"] == "web_call"
    assert "livekit_connection" not in created["data"]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"X-API-KEY": "sk_zudu"}, {"agent_id": "agent-123"}, 401),
        ({"X-API-SECRET": "s3cr3t_zudu"}, {"agent_id": "agent-123"}, 401),
        (ZUDU_HEADERS, {"agent_id": "agent-123", "call_type": "web_call"}, 400),
        (ZUDU_HEADERS, {"call_type": "WEB_CALL"}, 400),
        (ZUDU_HEADERS, {"agent_id": "agent-404"}, 404),
    ],
)
def test_zudu_rejects(
    zudu: Any, http: httpx.Client, headers: dict[str, str], body: dict[str, Any], status: int
) -> None:
    server, _ = zudu
    response = http.post(server.url + "/api/calls/create", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["status"] == "error" and response.json()["error"]


# --- Convoi ------------------------------------------------------------------------------

CONVOI_AGENT = "agt_b88d642dd68747f28305c428b2090001"
CONVOI_SQUAD = "sqd_3fa85f6457174562b3fc2c963f66afa6"
CONVOI_HEADERS = {"Authorization": "Bearer sk_live_test"}
CONVOI_CALLS = "/api/v1/public/calls"


@pytest.fixture
def convoi(serve: Serve) -> tuple[FakeServer, FakeState]:
    """A Convoi fake with an agent and a workforce."""
    state = make_state("sk_live_test", {CONVOI_AGENT: {"greeting": "Hello"}, CONVOI_SQUAD: {}})
    return serve(create_convoi_app, state), state


def test_convoi_web_call_uses_first_message(convoi: Any, http: httpx.Client) -> None:
    server, _ = convoi
    body = {
        "type": "web",
        "agent_id": CONVOI_AGENT,
        "participant_name": "xyz",
        "agent_overrides": {"first_message": "Hi, how can I help?"},
    }
    response = http.post(server.url + CONVOI_CALLS, json=body, headers=CONVOI_HEADERS)

    assert response.status_code == 201
    call = response.json()
    assert call["object"] == "call" and call["status"] == "initiated"
    claims = decode(call["livekit"]["token"])
    assert claims["sub"] == call["livekit"]["participant_identity"]
    assert claims["video"]["room"] == call["room_id"] and claims["name"] == "xyz"
    assert dispatch(claims)[1]["greeting"] == "Hi, how can I help?"

    listed = http.get(server.url + CONVOI_CALLS, params={"limit": 1}, headers=CONVOI_HEADERS).json()
    assert listed["data"][0]["id"] == call["id"] and listed["has_more"] is False
    ended = http.delete(f"{server.url}{CONVOI_CALLS}/{call['id']}", headers=CONVOI_HEADERS)
    assert ended.json()["status"] == "rejected"
    via_backend = http.get(f"{server.url}/backend{CONVOI_CALLS}/{call['id']}", headers=CONVOI_HEADERS)
    assert via_backend.status_code == 200


def test_convoi_idempotency_replays_and_conflicts(convoi: Any, http: httpx.Client) -> None:
    server, state = convoi
    headers = {**CONVOI_HEADERS, "Idempotency-Key": str(uuid.uuid4())}
    body = {"type": "web", "agent_id": CONVOI_AGENT}
    first = http.post(server.url + CONVOI_CALLS, json=body, headers=headers)
    again = http.post(server.url + CONVOI_CALLS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and len(state.calls) == 1
    # The original response, even once the call has changed (ended through the API, here).
    call_id = first.json()["id"]
    assert http.delete(f"{server.url}{CONVOI_CALLS}/{call_id}", headers=CONVOI_HEADERS).status_code < 300
    replayed = http.post(server.url + CONVOI_CALLS, json=body, headers=headers)
    assert replayed.json() == first.json() and replayed.json()["status"] == "initiated"

    changed = http.post(server.url + CONVOI_CALLS, json={**body, "metadata": {"a": 1}}, headers=headers)
    assert changed.status_code == 409
    assert changed.headers["content-type"].startswith("application/problem+json")
    bad_key = {**CONVOI_HEADERS, "Idempotency-Key": "not-a-uuid"}
    assert http.post(server.url + CONVOI_CALLS, json=body, headers=bad_key).status_code == 400


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"type": "web", "agent_id": CONVOI_AGENT}, 401),
        ({"Authorization": "Bearer sk_live_wrong"}, {"type": "web", "agent_id": CONVOI_AGENT}, 401),
        (CONVOI_HEADERS, {"type": "web", "agent_id": CONVOI_SQUAD}, 422),
        (CONVOI_HEADERS, {"type": "browser", "agent_id": CONVOI_AGENT}, 400),
        (CONVOI_HEADERS, {"type": "web"}, 400),
        (CONVOI_HEADERS, {"type": "web", "agent_id": "agt_unknown"}, 404),
        (
            CONVOI_HEADERS,
            {"type": "outbound_phone", "agent_id": CONVOI_SQUAD, "phone_number_id": "phn_1"},
            400,
        ),
    ],
)
def test_convoi_rejects(
    convoi: Any, http: httpx.Client, headers: dict[str, str], body: dict[str, Any], status: int
) -> None:
    server, _ = convoi
    response = http.post(server.url + CONVOI_CALLS, json=body, headers=headers)
    assert response.status_code == status
    problem = response.json()
    assert problem["status"] == status and {"type", "title", "detail", "code", "request_id"} <= set(problem)


def test_convoi_list_pages_with_a_cursor_newest_first(convoi: Any, http: httpx.Client) -> None:
    server, state = convoi
    ids = [add_call(state, CONVOI_AGENT)["id"] for _ in range(7)]
    complete_call(state, ids[0], duration_seconds=12.5, cost=0.07)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "3", **({"starting_after": cursor} if cursor else {})}
        page = http.get(server.url + CONVOI_CALLS, params=params, headers=CONVOI_HEADERS).json()
        seen += [c["id"] for c in page["data"]]
        pages += 1
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert seen == list(reversed(ids)) and pages == 3
    oldest = http.get(f"{server.url}{CONVOI_CALLS}/{ids[0]}", headers=CONVOI_HEADERS).json()
    assert oldest["status"] == "completed" and oldest["cost"] == {"amount": 0.07, "currency": "USD"}
    for params in ({"limit": "0"}, {"limit": "101"}, {"limit": "many"}, {"starting_after": "call_nope"}):
        assert http.get(server.url + CONVOI_CALLS, params=params, headers=CONVOI_HEADERS).status_code == 400
    assert http.get(f"{server.url}{CONVOI_CALLS}/call_nope", headers=CONVOI_HEADERS).status_code == 404


def test_convoi_workforce_phone_call(convoi: Any, http: httpx.Client) -> None:
    server, _ = convoi
    body = {
        "type": "outbound_phone",
        "agent_id": CONVOI_SQUAD,
        "customer": {"number": "+971501234567", "name": "Ahmed"},
        "phone_number_id": "phn_9b2c",
    }
    call = http.post(server.url + CONVOI_CALLS, json=body, headers=CONVOI_HEADERS).json()
    assert call["agent_id"] is None and call["squad_id"] == CONVOI_SQUAD
    assert call["livekit"] is None and call["room_id"] is None


# --- UnleashX ----------------------------------------------------------------------------

UNLEASHX_CALL = "/api/v1/global/agents/call"


@pytest.fixture
def unleashx(serve: Serve) -> tuple[FakeServer, FakeState]:
    """An UnleashX fake with a usable agent, an inactive one and an inbound one."""
    agents = {
        42: {"active": True, "agent_type": 3, "calling_type": 1},
        43: {"active": False, "agent_type": 3, "calling_type": 1},
        44: {"active": True, "agent_type": 3, "calling_type": 2},
    }
    state = make_state("ux-token", agents)
    return serve(create_unleashx_app, state), state


def test_unleashx_places_a_call(unleashx: Any, http: httpx.Client) -> None:
    server, _ = unleashx
    body = {"agent_id": 42, "phone_number": "+919876543210", "metadata": {"order": "A1"}}
    response = http.post(server.url + UNLEASHX_CALL, json=body, headers={"token": "ux-token"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["call_status"] == "initiated" and data["agent_id"] == 42 and data["execution_id"]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"agent_id": 42, "phone_number": "+919876543210"}, 401),
        ({"token": "ux-token"}, {"phone_number": "+919876543210"}, 400),
        ({"token": "ux-token"}, {"agent_id": 42}, 400),
        ({"token": "ux-token"}, {"agent_id": "42", "phone_number": "+919876543210"}, 422),
        ({"token": "ux-token"}, {"agent_id": 42, "phone_number": "919876543210"}, 422),
        ({"token": "ux-token"}, {"agent_id": 43, "phone_number": "+919876543210"}, 404),
        ({"token": "ux-token"}, {"agent_id": 44, "phone_number": "+919876543210"}, 422),
    ],
)
def test_unleashx_rejects(
    unleashx: Any, http: httpx.Client, headers: dict[str, str], body: dict[str, Any], status: int
) -> None:
    server, _ = unleashx
    response = http.post(server.url + UNLEASHX_CALL, json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] is True and response.json()["message"]


# --- Retell ------------------------------------------------------------------------------

RETELL_AGENT = "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD"
RETELL_CREATE = "/v2/create-web-call"
RETELL_AUTH = {"Authorization": "Bearer key_retell"}


@pytest.fixture
def retell(serve: Serve) -> tuple[FakeServer, FakeState, list[WebCallRoom]]:
    """A Retell fake with one agent; the rooms it tells the test about, for Retell's agent to join."""
    state = make_state("key_retell", {RETELL_AGENT: {}})
    rooms: list[WebCallRoom] = []
    state.on_web_call = rooms.append
    return serve(create_retell_app, state), state, rooms


def test_retell_web_call_token_joins_an_agentless_room_for_30_s(retell: Any, http: httpx.Client) -> None:
    server, _, rooms = retell
    body = {"agent_id": RETELL_AGENT, "metadata": {"a": 1}, "retell_llm_dynamic_variables": {"name": "Ann"}}
    response = http.post(server.url + RETELL_CREATE, json=body, headers=RETELL_AUTH)

    assert response.status_code == 201
    call = response.json()
    assert call["call_type"] == "web_call" and call["call_status"] == "registered"
    assert "url" not in call and "transport" not in call  # v2: Retell's SDK knows its own host
    claims = decode(call["access_token"])
    assert claims["exp"] - claims["nbf"] == 30
    assert "roomConfig" not in claims  # Retell's own agent joins, not a dispatched worker
    (room,) = rooms
    assert (room.provider, room.call_id, room.caller_identity) == ("retell", call["call_id"], claims["sub"])
    assert room.room == claims["video"]["room"] and room.variables == {"name": "Ann"}

    found = http.get(f"{server.url}/v2/get-call/{call['call_id']}", headers=RETELL_AUTH).json()
    assert found["call_id"] == call["call_id"] and "access_token" not in found
    listed = http.post(server.url + "/v2/list-calls", json={"limit": 5}, headers=RETELL_AUTH).json()
    assert [c["call_id"] for c in listed] == [call["call_id"]]


def test_retell_takes_every_documented_create_field(retell: Any, http: httpx.Client) -> None:
    """retell-python-sdk's CallCreateWebCallParams: a version as a string or an integer, a stage."""
    server, _, _ = retell
    for extra in (
        {"agent_version": "v2"},
        {"agent_version": 3},
        {"current_node_id": "n1", "current_state": "s"},
    ):
        body = {"agent_id": RETELL_AGENT, **extra}
        assert http.post(server.url + RETELL_CREATE, json=body, headers=RETELL_AUTH).status_code == 201, extra


@pytest.mark.parametrize(
    "criteria",
    [{"agent_id": RETELL_AGENT}, {"start_timestamp": [1]}, {"start_timestamp": {"lower_threshold": "1"}}],
)
def test_retell_refuses_a_malformed_list_filter_as_retell_does(
    retell: Any, http: httpx.Client, criteria: dict[str, Any]
) -> None:
    """A filter of the wrong shape is Retell's 400 with its error body, never a crash of the fake."""
    server, _, _ = retell
    body = {"filter_criteria": criteria}
    response = http.post(server.url + "/v2/list-calls", json=body, headers=RETELL_AUTH)
    assert response.status_code == 400
    assert response.json()["status"] == "error" and response.json()["error_message"]


@pytest.mark.parametrize("shape", ["v3", "gateway"])
def test_retell_newer_answers_name_their_transport(retell: Any, http: httpx.Client, shape: str) -> None:
    server, state, _ = retell
    state.response_shape = shape
    call = http.post(server.url + RETELL_CREATE, json={"agent_id": RETELL_AGENT}, headers=RETELL_AUTH).json()
    assert call["transport"] == ("livekit" if shape == "v3" else "gateway")
    assert call["url"] == (LIVEKIT_URL if shape == "v3" else "https://gateway.retellai.example")


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"agent_id": RETELL_AGENT}, 401),
        ({"Authorization": "Bearer nope"}, {"agent_id": RETELL_AGENT}, 401),
        (RETELL_AUTH, {}, 400),
        (RETELL_AUTH, {"agent_id": RETELL_AGENT, "room": "mine"}, 400),
        (RETELL_AUTH, {"agent_id": RETELL_AGENT, "retell_llm_dynamic_variables": {"n": 1}}, 400),
        (RETELL_AUTH, {"agent_id": RETELL_AGENT, "agent_version": -1}, 400),
        (RETELL_AUTH, {"agent_id": RETELL_AGENT, "current_state": 3}, 400),
        (RETELL_AUTH, {"agent_id": "someone-else"}, 404),
    ],
)
def test_retell_rejects(
    retell: Any, http: httpx.Client, headers: dict[str, str], body: dict[str, Any], status: int
) -> None:
    server, _, _ = retell
    response = http.post(server.url + RETELL_CREATE, json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["status"] == "error" and response.json()["error_message"]


# --- ElevenLabs --------------------------------------------------------------------------

ELEVENLABS_AGENT = "agent_01jzexample0000000000000000"
ELEVENLABS_TOKEN = "/v1/convai/conversation/token"
ELEVENLABS_AUTH = {"xi-api-key": "sk_eleven"}


@pytest.fixture
def elevenlabs(serve: Serve) -> tuple[FakeServer, FakeState, list[WebCallRoom]]:
    """An ElevenLabs fake with one agent; the rooms it tells the test about."""
    state = make_state("sk_eleven", {ELEVENLABS_AGENT: {}})
    rooms: list[WebCallRoom] = []
    state.on_web_call = rooms.append
    return serve(create_elevenlabs_app, state), state, rooms


def test_elevenlabs_token_joins_a_conversation_room(elevenlabs: Any, http: httpx.Client) -> None:
    server, _, rooms = elevenlabs
    query = {"agent_id": ELEVENLABS_AGENT, "participant_name": "Ann"}
    response = http.get(server.url + ELEVENLABS_TOKEN, params=query, headers=ELEVENLABS_AUTH)

    assert response.status_code == 200 and set(response.json()) == {"token"}
    claims = decode(response.json()["token"])
    assert "roomConfig" not in claims and claims["name"] == "Ann"
    (room,) = rooms
    assert room.room == claims["video"]["room"] and room.room.endswith(room.call_id)
    assert room.call_id.startswith("conv_") and room.caller_identity == claims["sub"]

    listed = http.get(server.url + "/v1/convai/conversations", params={"agent_id": ELEVENLABS_AGENT},
                      headers=ELEVENLABS_AUTH).json()  # fmt: skip
    assert [c["conversation_id"] for c in listed["conversations"]] == [room.call_id]
    assert listed["has_more"] is False
    one = http.get(f"{server.url}/v1/convai/conversations/{room.call_id}", headers=ELEVENLABS_AUTH).json()
    assert one["agent_id"] == ELEVENLABS_AGENT and one["transcript"] == []


def test_elevenlabs_lists_conversations_by_start_time(elevenlabs: Any, http: httpx.Client) -> None:
    server, state, _ = elevenlabs
    for number, started in enumerate((1_800_000_000, 1_800_000_060, 1_800_000_120)):
        state.calls[f"conv_{number}"] = {
            "conversation_id": f"conv_{number}", "agent_id": ELEVENLABS_AGENT, "status": "done",
            "start_time_unix_secs": started, "call_duration_secs": 5, "message_count": 2,
            "transcript": [], "analysis": {"transcript_summary": f"Call {number}."},
        }  # fmt: skip

    def listed(**query: str) -> httpx.Response:
        return http.get(server.url + "/v1/convai/conversations", params=query, headers=ELEVENLABS_AUTH)

    window = listed(call_start_after_unix="1800000000", call_start_before_unix="1800000120").json()
    assert [c["conversation_id"] for c in window["conversations"]] == ["conv_1"]
    # Summaries only when asked for (the SDK's summary_mode, "exclude" by default).
    assert "transcript_summary" not in window["conversations"][0]
    summed = listed(
        call_start_after_unix="1800000000", call_start_before_unix="1800000120", summary_mode="include"
    )
    assert [c["transcript_summary"] for c in summed.json()["conversations"]] == ["Call 1."]
    assert listed(summary_mode="all").status_code == 422
    refused = listed(call_start_after_unix="yesterday")
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == [
        "query",
        "call_start_after_unix",
    ]


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, {"agent_id": ELEVENLABS_AGENT}, 401),
        ({"xi-api-key": "nope"}, {"agent_id": ELEVENLABS_AGENT}, 401),
        (ELEVENLABS_AUTH, {}, 422),
        (ELEVENLABS_AUTH, {"agent_id": ELEVENLABS_AGENT, "dynamic_variables": "x"}, 422),
        (ELEVENLABS_AUTH, {"agent_id": "agent_someone_else"}, 404),
    ],
)
def test_elevenlabs_rejects(
    elevenlabs: Any, http: httpx.Client, headers: dict[str, str], query: dict[str, str], status: int
) -> None:
    server, _, _ = elevenlabs
    response = http.get(server.url + ELEVENLABS_TOKEN, params=query, headers=headers)
    assert response.status_code == status
    assert response.json()["detail"]


# --- Faults and load ---------------------------------------------------------------------


def test_faults_apply_in_order(ravan: Any, http: httpx.Client) -> None:
    server, state = ravan
    state.faults = [
        Fault("status", status=503, body={"oops": True}, headers={"Retry-After": "1"}),
        Fault("html"),
        Fault("success_false"),
        Fault("missing_credentials"),
        Fault("malformed_json"),
        Fault("drop"),
        Fault("delay", delay_s=0.2),
    ]
    url, headers = server.url + RAVAN_CREATE, {"X-Api-Key": "rv-key"}
    body = {"type": "web_call", "agent_id": RAVAN_AGENT}

    unavailable = http.post(url, json=body, headers=headers)
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "1"
    html = http.post(url, json=body, headers=headers)
    assert html.status_code == 502 and html.headers["content-type"].startswith("text/html")
    assert http.post(url, json=body, headers=headers).json() == {
        "success": False,
        "message": "failed to create call",
    }
    stripped = http.post(url, json=body, headers=headers).json()
    assert stripped["success"] is True and "url" not in stripped and "access_token" not in stripped
    truncated = http.post(url, json=body, headers=headers)
    assert truncated.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        truncated.json()
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(url, json=body, headers=headers)
    started = time.monotonic()
    assert http.post(url, json=body, headers=headers).status_code == 200
    assert time.monotonic() - started >= 0.2
    assert len(state.requests) == 7 and not state.faults


def test_serves_200_concurrent_slow_requests(convoi: Any, http: httpx.Client) -> None:
    server, state = convoi
    state.latency_s = 0.3
    body = {"type": "web", "agent_id": CONVOI_AGENT}

    def create(_: int) -> int:
        return http.post(server.url + CONVOI_CALLS, json=body, headers=CONVOI_HEADERS).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=200) as pool:
        statuses = list(pool.map(create, range(200)))
    elapsed = time.monotonic() - started
    assert statuses == [201] * 200 and len(state.calls) == 200
    assert elapsed < 5, f"200 concurrent 300 ms calls took {elapsed:.1f}s"
