"""A self-hosted LiveKit call ends in the call log: a real livekit-server sends its webhooks to gunicorn
(and gunicorn, with events on, tells the site's own URL).

The caller joins the call's room with ``livekit.rtc`` (no agent serves the dispatch name: nobody
else joins), stays a few seconds and leaves; the room closes ``departure_timeout`` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from livekit import rtc

from tests.fakes import FakeServer
from tests.fakes.receiver import SECRET, Receiver
from tests.support.aio import run_async
from tests.support.livekit_server import LiveKitServer, start_livekit_server
from tests.support.processes import free_port, wait_until
from tests.support.stack import AppServer, start_app_server
from webapp.history.store import CallRecord, CallStore

AGENTS = """\
[agents.talk]
provider = "livekit"
agent_id = "webcall-nobody"
title = "Nobody answers"
"""
STAY_S = 3.0


@pytest.fixture
def webhooked(artifacts: Path, tmp_path: Path) -> Iterator[tuple[AppServer, LiveKitServer, CallStore]]:
    """gunicorn on the livekit provider, and a LiveKit server of its own whose webhooks go to it."""
    with serve(artifacts, tmp_path) as served:
        yield served


@pytest.fixture
def evented(artifacts: Path, tmp_path: Path) -> Iterator[tuple[AppServer, Receiver]]:
    """The same, with events on, sent to a receiver of the site's."""
    receiver = Receiver()
    server = FakeServer(receiver.app()).start()
    events = {"WEBCALL_EVENTS_URL": f"{server.url}/hooks/webcall", "WEBCALL_EVENTS_SECRET": SECRET}
    try:
        with serve(artifacts, tmp_path, **events) as (app, _, _):
            yield app, receiver
    finally:
        server.stop()


@contextlib.contextmanager
def serve(
    artifacts: Path, tmp_path: Path, **extra: str
) -> Iterator[tuple[AppServer, LiveKitServer, CallStore]]:
    """gunicorn (its environment with ``extra``) and a LiveKit server sending it webhooks."""
    log_dir = artifacts / "logs" / "livekit-history"
    port, secret = free_port(), secrets.token_urlsafe(32)
    database = f"sqlite:///{tmp_path / 'calls.db'}"
    env = {
        "LIVEKIT_URL": f"ws://127.0.0.1:{port}", "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": secret,
        "WEBCALL_DATABASE_URL": database, **extra,
    }  # fmt: skip
    app = start_app_server(env, log_dir, agents_toml=AGENTS, workers=1)
    livekit = None
    store = CallStore(database)
    try:
        livekit = start_livekit_server(
            log_dir, port=port, api_secret=secret, webhook_urls=[f"{app.url}/webhooks/livekit"]
        )
        yield app, livekit, store
    finally:
        store.close()
        if livekit is not None:
            livekit.process.stop()
        app.process.stop()


async def visit(url: str, token: str, stay_s: float) -> None:
    """Join the room as the caller, stay ``stay_s``, and leave."""
    room = rtc.Room()
    await room.connect(url, token)
    await asyncio.sleep(stay_s)
    await room.disconnect()


def wait_for_end(store: CallStore, room: str, timeout_s: float) -> CallRecord:
    """The call once its status is final, or the last record seen."""
    deadline = time.monotonic() + timeout_s
    record = store.find(room)
    while time.monotonic() < deadline and (record is None or record.status != "completed"):
        time.sleep(0.5)
        record = store.find(room)
    assert record is not None
    return record


def test_a_livekit_call_ends_with_its_duration_once_the_room_closes(
    webhooked: tuple[AppServer, LiveKitServer, CallStore],
) -> None:
    app, livekit, store = webhooked
    answer: dict[str, Any] = httpx.post(f"{app.url}/api/calls", json={"agent": "talk"}, timeout=10).json()
    room = answer["room"]
    assert answer["provider"] == "livekit" and store.count_live() == 1
    before = store.find(room)
    assert before is not None and (before.status, before.duration_s) == ("created", None)

    run_async(visit(answer["livekit"]["url"], answer["livekit"]["token"], STAY_S))
    # The room closes departure_timeout (10 s, the provider's room setting) after the caller left.
    record = wait_for_end(store, room, timeout_s=45)
    assert record.status == "completed", (record, livekit.process.log()[-3000:], app.process.log()[-3000:])
    assert record.started_at is not None and record.ended_at is not None
    assert record.duration_s is not None and STAY_S - 1.5 <= record.duration_s <= STAY_S + 2.5
    assert (record.agent, record.outcome) == ("talk", "created")
    assert store.count_live() == 0
    log = app.process.log()
    assert "webhooks/livekit" in log and livekit.api_secret not in log


async def rejoin(url: str, token: str, timeout_s: float) -> float:
    """Join with ``token`` again (the signalling socket is what makes LiveKit create the room):
    how long the socket stayed open (``timeout_s`` if it still was)."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
            f"{url}/rtc", params={"access_token": token, "protocol": "15"}
        ) as socket:
            opened = time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    async for _ in socket:  # the join response, then LiveKit's leave
                        pass
            return time.monotonic() - opened


def test_a_room_started_again_after_its_call_ended_is_closed_at_once(
    webhooked: tuple[AppServer, LiveKitServer, CallStore],
) -> None:
    """A caller still holding a valid token (LiveKit refreshes a connected caller's for minutes,
    the agent's dispatch in it) rejoins once the call has ended: past its time limit, nothing
    counted. LiveKit creates the room again; its room_started closes it."""
    app, livekit, store = webhooked
    answer: dict[str, Any] = httpx.post(f"{app.url}/api/calls", json={"agent": "talk"}, timeout=10).json()
    url, token, room = answer["livekit"]["url"], answer["livekit"]["token"], answer["room"]
    run_async(visit(url, token, 1.0))
    ended = wait_for_end(store, room, timeout_s=45)
    assert ended.status == "completed", livekit.process.log()[-3000:]

    assert run_async(rejoin(url, token, timeout_s=10)) < 5, app.process.log()[-3000:]
    assert f"room_started room={room}: its call has ended" in app.process.log()
    after = store.find(room)
    assert after is not None and (after.status, after.ended_at, after.duration_s) == (
        "completed", ended.ended_at, ended.duration_s,
    )  # fmt: skip


def test_the_site_hears_of_the_call_from_gunicorn(evented: tuple[AppServer, Receiver]) -> None:
    """Events from gunicorn's worker (its sending thread under gevent): call.created at once,
    call.started when LiveKit's webhook says the caller joined, call.ended when its webhooks end
    the call, each signed."""
    app, receiver = evented
    answer: dict[str, Any] = httpx.post(f"{app.url}/api/calls", json={"agent": "talk"}, timeout=10).json()
    deadline = time.monotonic() + 10
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.1)
    (created,) = receiver.events()
    assert (created["type"], created["data"]["room"], created["data"]["status"]) == (
        "call.created", answer["room"], "created",
    )  # fmt: skip
    run_async(visit(answer["livekit"]["url"], answer["livekit"]["token"], 1.0))
    deadline = time.monotonic() + 45
    while len(receiver.received) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    kinds = ["call.created", "call.started", "call.ended"]
    assert [e["type"] for e in receiver.events()] == kinds, app.process.log()[-3000:]
    started, ended = (e["data"] for e in receiver.events()[1:])
    assert (started["call_id"], started["status"]) == (created["data"]["call_id"], "in_progress")
    assert started["started_at"] is not None and started["ended_at"] is None
    assert (ended["call_id"], ended["status"]) == (created["data"]["call_id"], "completed")
    assert ended["duration_s"] is not None and ended["started_at"] == started["started_at"]
    # The receiver has the event before the worker has recorded its answer and logged it.
    wait_until(lambda: "call.ended (call " in app.process.log(), timeout_s=10, what="call.ended's log line")
    assert SECRET not in app.process.log()


def test_gunicorns_worker_posts_different_calls_events_at_once(evented: tuple[AppServer, Receiver]) -> None:
    """Under gevent too, a pass posts the events of different calls side by side (its senders are
    greenlets there): four calls made together, a receiver taking half a second an answer."""
    app, receiver = evented
    receiver.delay_s = 0.5
    for _ in range(4):
        assert httpx.post(f"{app.url}/api/calls", json={"agent": "talk"}, timeout=10).status_code == 201
    deadline = time.monotonic() + 15
    while len(receiver.received) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [event["type"] for event in receiver.events()] == ["call.created"] * 4, app.process.log()[-3000:]
    assert receiver.most_in_flight >= 2  # (the four may be due in two passes: one alone, then three)
