"""Self-hosted LiveKit: minted tokens and the server-side end of a call."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from flask import Flask, jsonify, request

from tests.fakes import FakeServer
from tests.providers.conftest import make_agent
from tests.support.apps import app_state_of, post
from tests.support.processes import wait_until
from webapp.providers import WebCallRequest
from webapp.providers.livekit import mint_token
from webapp.providers.room_reaper import ROOM_SLACK_S, RoomReaper

CATALOGUE = """
[agents.short]
provider = "livekit"
agent_id = "webcall-demo"
max_call_s = 60
"""


class RoomService:
    """LiveKit's RoomService (ListRooms, DeleteRoom) over rooms a test creates, as a caller's
    join does; ``failures`` DeleteRoom answers fail with a 503 first."""

    def __init__(self) -> None:
        self.rooms: dict[str, float] = {}  # name → creation (Unix time)
        self.deleted: list[tuple[str, float]] = []  # (room, when)
        self.authorizations: list[str] = []
        self.failures = 0
        self.app = Flask("fake_room_service")
        self.app.post("/twirp/livekit.RoomService/ListRooms")(self.list_rooms)
        self.app.post("/twirp/livekit.RoomService/DeleteRoom")(self.delete_room)

    def join(self, room: str) -> None:
        """A caller joins: LiveKit creates the room."""
        self.rooms.setdefault(room, time.time())

    def list_rooms(self) -> Any:
        names = request.get_json()["names"]
        # As livekit-server writes them: the fields' own names, int64 as strings
        rooms = [
            {"name": name, "creation_time": str(int(at)), "creation_time_ms": str(int(at * 1000))}
            for name, at in self.rooms.items()
            if name in names
        ]
        return jsonify({"rooms": rooms})

    def delete_room(self) -> Any:
        self.authorizations.append(request.headers["Authorization"])
        if self.failures:
            self.failures -= 1
            return jsonify({"code": "unavailable"}), 503
        room = request.get_json()["room"]
        if self.rooms.pop(room, None) is None:
            return jsonify({"code": "not_found", "msg": "room not found"}), 404
        self.deleted.append((room, time.time()))
        return jsonify({})


@pytest.fixture
def room_service() -> Iterator[tuple[RoomService, str]]:
    """The fake RoomService and its URL."""
    service = RoomService()
    with FakeServer(service.app) as server:
        yield service, server.url


@pytest.fixture
def reaper(room_service: tuple[RoomService, str]) -> Iterator[RoomReaper]:
    """A reaper of the fake's rooms that looks again after a tenth of a second (15 s in the app);
    it forgets its rooms as the test ends (its thread would go on asking a server that is gone)."""
    intervals = {"check_every_s": 0.1, "retry_s": 0.1, "refreshed_token_s": 1.0}
    reaper = RoomReaper(room_service[1], "devkey", "s" * 40, httpx.Client(), **intervals)
    yield reaper
    with reaper.wake:
        reaper.watches.clear()


def test_the_call_lasts_max_call_s_from_when_the_caller_joins(
    room_service: tuple[RoomService, str], reaper: RoomReaper
) -> None:
    """The room's time starts when it is created (the caller's join), not when its token was
    minted: LiveKit's frontends fetch the token as their page opens, and a late join lost the
    difference."""
    service, _ = room_service
    reaper.schedule("late", max_call_s=1.0, token_ttl_s=30)
    time.sleep(2.0)  # past max_call_s from the token: nobody there, nothing deleted
    assert service.deleted == []
    service.join("late")
    joined = time.time()
    wait_until(lambda: service.deleted, timeout_s=10, what="the reaper")
    ((room, when),) = service.deleted
    assert room == "late" and 1.0 <= when - joined <= 1.0 + ROOM_SLACK_S + 1.0
    assert service.authorizations[0].startswith("Bearer ")


def test_a_rejoin_with_a_refreshed_token_is_closed_again(
    room_service: tuple[RoomService, str], reaper: RoomReaper
) -> None:
    """LiveKit gives a caller in the room a refreshed token that joins it again, and dispatches
    the agent again: a room back under the name of a call that is over is deleted again, as long
    as such a token may be valid (then the name is forgotten)."""
    service, _ = room_service
    service.join("again")
    reaper.schedule("again", max_call_s=0.5, token_ttl_s=0.5)
    wait_until(lambda: len(service.deleted) == 1, timeout_s=10, what="the reaper")
    service.join("again")  # the refreshed token
    wait_until(lambda: len(service.deleted) == 2, timeout_s=5, what="the reaper")
    wait_until(
        lambda: reaper.deadlines == [], timeout_s=5, what="the reaper"
    )  # a refreshed token's life later


def test_a_call_shorter_than_its_limit_keeps_its_first_start(
    room_service: tuple[RoomService, str], reaper: RoomReaper
) -> None:
    """A caller who leaves and comes back (a refreshed token) has what is left of the call, not
    a new one."""
    service, _ = room_service
    service.join("short")
    started = time.time()
    reaper.schedule("short", max_call_s=1.5, token_ttl_s=1.5)
    time.sleep(0.3)
    reaper.tick(["short"])  # seen while the caller is there
    service.rooms.pop("short")  # left
    time.sleep(0.5)
    service.join("short")  # back, with the refreshed token
    wait_until(lambda: service.deleted, timeout_s=10, what="the reaper")
    assert service.deleted[0][1] - started <= 1.5 + ROOM_SLACK_S + 1.0


def test_a_failed_deletion_is_tried_again(room_service: tuple[RoomService, str], reaper: RoomReaper) -> None:
    service, _ = room_service
    service.join("stuck")
    service.failures = 2
    reaper.schedule("stuck", max_call_s=0.2, token_ttl_s=0.2)
    wait_until(lambda: service.deleted, timeout_s=10, what="the reaper")
    assert len(service.authorizations) == 3  # two 503s, then deleted


def test_a_room_nobody_joined_is_never_closed(
    room_service: tuple[RoomService, str], reaper: RoomReaper, caplog: Any
) -> None:
    """A token nobody used (a page that fetched one and closed) deletes nothing and says nothing."""
    service, _ = room_service
    with caplog.at_level(logging.INFO, logger="webapp.providers.room_reaper"):
        reaper.schedule("unused", max_call_s=0.2, token_ttl_s=0.2)
        wait_until(lambda: reaper.deadlines == [], timeout_s=10, what="the reaper")
    assert service.authorizations == [] and "closed" not in caplog.text


def test_livekit_down_is_said_once_and_its_return_too(
    room_service: tuple[RoomService, str], reaper: RoomReaper, caplog: Any
) -> None:
    """Rooms are looked at again every few seconds while LiveKit cannot be asked: one error for
    the outage, not one per look."""
    service, _ = room_service
    service.join("waiting")
    url = reaper.url
    reaper.url = "http://127.0.0.1:9/twirp/livekit.RoomService/"  # nothing listens there
    with caplog.at_level(logging.INFO, logger="webapp.providers.room_reaper"):
        reaper.schedule("waiting", max_call_s=0.1, token_ttl_s=5)
        time.sleep(ROOM_SLACK_S + 1.0)  # the first look, and about ten again
        reaper.url = url
        wait_until(lambda: service.deleted, timeout_s=5, what="the reaper")
    # This reaper's (other tests' apps have reapers of their own, finding their LiveKit gone too).
    assert reaper.thread is not None
    messages = [r.getMessage() for r in caplog.records if r.thread == reaper.thread.ident]
    assert sum("could not look" in m for m in messages) == 1, messages
    assert sum("answers again" in m for m in messages) == 1, messages


def test_end_call_closes_the_room_at_once_and_the_answer_schedules_its_end(
    make_app: Any, room_service: tuple[RoomService, str]
) -> None:
    service, url = room_service
    app = make_app(LIVEKIT_BASE_URL=url)
    service.join("room-b")
    app_state_of(app).providers["livekit"].end_call("room-b")  # type: ignore[attr-defined]
    assert [room for room, _ in service.deleted] == ["room-b"]
    answer = post(app, {"agent": "short"}).get_json()
    reaper = app_state_of(app).providers["livekit"].reaper  # type: ignore[attr-defined]
    ((first_look, room),) = [(at, name) for at, name in reaper.deadlines if name == answer["room"]]
    assert 60 <= first_look - time.time() <= 60 + ROOM_SLACK_S  # a caller joining at once is due then


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
