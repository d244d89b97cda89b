"""Self-hosted LiveKit: minted tokens and the server-side end of a call."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import jwt
from flask import Flask, jsonify, request

from tests.fakes import FakeServer
from tests.providers.conftest import make_agent
from tests.support.apps import app_state_of, post
from webapp.providers import WebCallRequest
from webapp.providers.livekit import mint_token

CATALOGUE = """
[agents.short]
provider = "livekit"
agent_id = "webcall-demo"
max_call_s = 60
"""


def test_max_call_length_closes_the_room_on_the_server(make_app: Any) -> None:
    """The reaper asks LiveKit's RoomService to delete the room at the deadline; ``end_call``, at once."""
    deleted: list[tuple[str, str]] = []
    done = threading.Event()
    livekit = Flask("fake_room_service")

    @livekit.post("/twirp/livekit.RoomService/DeleteRoom")
    def delete_room() -> Any:
        deleted.append((request.get_json()["room"], request.headers["Authorization"]))
        done.set()
        return jsonify({})

    with FakeServer(livekit) as server:
        app = make_app(LIVEKIT_BASE_URL=server.url)
        reaper = app_state_of(app).providers["livekit"].reaper  # type: ignore[attr-defined]
        reaper.schedule("room-a", 0.2)
        assert done.wait(5)
        app_state_of(app).providers["livekit"].end_call("room-b")  # type: ignore[attr-defined]  # now
        answer = post(app, {"agent": "short"}).get_json()
        deadline, room = max(reaper.deadlines)
        assert room == answer["room"]
        assert 60 < deadline - time.monotonic() <= 60 + 15  # max_call_s plus the join grace
    assert [room for room, _ in deleted] == ["room-a", "room-b"] and deleted[0][1].startswith("Bearer ")


def test_mint_token_chooses_room_and_identity_and_dispatches_the_agent() -> None:
    agent = make_agent("livekit", "webcall-demo", greeting="Hi {{name}}", max_call_s=120)
    request = WebCallRequest(agent=agent, variables={"name": "Ann"}, participant_name="Ann")
    secret = "s" * 40
    first = mint_token(request, api_key="devkey", api_secret=secret, ttl=timedelta(seconds=120))
    second = mint_token(request, api_key="devkey", api_secret=secret, ttl=timedelta(seconds=120))
    claims = jwt.decode(first.token, secret, algorithms=["HS256"])
    assert claims["iss"] == "devkey" and claims["sub"] == first.identity and claims["name"] == "Ann"
    assert claims["exp"] - claims["nbf"] == 120
    assert claims["video"] == {
        "room": first.room,
        "roomJoin": True,
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
        "canPublishSources": ["microphone"],
    }
    dispatch = claims["roomConfig"]["agents"][0]
    assert dispatch["agentName"] == "webcall-demo"
    assert json.loads(dispatch["metadata"]) == {
        "agent": "a", "greeting": "Hi {{name}}", "variables": {"name": "Ann"}, "max_call_s": 120,
        "mode": "voice",
    }  # fmt: skip
    assert (first.room, first.identity) != (second.room, second.identity)


def _video_grants(agent_fields: dict[str, Any], mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The video grants and dispatch metadata of a token minted for a ``mode`` call."""
    agent = make_agent("livekit", "webcall-demo", **agent_fields)
    secret = "s" * 40
    call = mint_token(
        WebCallRequest(agent=agent, mode=mode),  # type: ignore[arg-type]
        api_key="devkey",
        api_secret=secret,
        ttl=timedelta(seconds=60),
    )
    claims = jwt.decode(call.token, secret, algorithms=["HS256"])
    return claims["video"], json.loads(claims["roomConfig"]["agents"][0]["metadata"])


def test_grants_follow_the_agent_camera_and_screen_share() -> None:
    video, dispatch = _video_grants({"camera": "on", "screen_share": True, "avatar": True}, "voice")
    assert video["canPublish"] is True
    assert video["canPublishSources"] == ["microphone", "camera", "screen_share"]
    assert dispatch == {
        "agent": "a", "variables": {}, "mode": "voice", "avatar": True, "camera": "on", "screen_share": True,
    }  # fmt: skip


def test_a_text_call_may_not_publish_audio() -> None:
    video, dispatch = _video_grants({"text_only": "allowed", "camera": "optional"}, "text")
    assert video["canPublishSources"] == ["camera"]
    assert dispatch["mode"] == "text"
    video, _ = _video_grants({"text_only": "only"}, "text")
    # No source at all: publishing is off (an empty list would mean every source).
    assert "canPublish" not in video or video["canPublish"] is False
    assert not video.get("canPublishSources") and video["canPublishData"] is True


def test_push_to_talk_asks_the_agent_for_manual_turns() -> None:
    _, dispatch = _video_grants({"push_to_talk": True}, "voice")
    assert dispatch["push_to_talk"] is True
