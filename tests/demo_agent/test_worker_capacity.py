"""The worker takes at most `WEBCALL_DEMO_AGENT_MAX_CALLS` calls, even when they come together,
and calls that come together to a fresh worker all connect and hear their rooms.

A real livekit-server and the real worker process; the calls are dispatched by the server API.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator

import pytest
from livekit import api
from livekit.agents.worker import UPDATE_STATUS_INTERVAL

from tests.demo_agent.caller import AGENT_NAME as CALLER_AGENT_NAME
from tests.demo_agent.caller import Caller, Line
from tests.support.aio import run_async
from tests.support.livekit_server import LiveKitServer, start_demo_agent, start_livekit_server
from tests.support.processes import Process, wait_until
from webapp.demo_agent.call import SIGN_OFF_S
from webapp.demo_agent.conversation import GOING_AWAY
from webapp.demo_agent.worker import DRAIN_TIMEOUT_S

pytestmark = pytest.mark.e2e

# Two, so that calls start together too (they once hung in livekit's FFI: worker.start_rtc_runtime)
MAX_CALLS = 2
CALLS = 6
AGENT_NAME = f"capacity-{uuid.uuid4().hex[:6]}"
STARTED = "started for room"  # what the worker logs as a call's job starts (job.py)
DECLINED = "declining room"  # and as it turns one down (worker.py)
ENDED = "ended:"  # and as a call's job ends (job.py)
TOGETHER = 4  # calls that come together to a fresh worker
# livekit's FFI waits this long for a connected room's "ready for events", then panics, and the
# SDK answers a panic by SIGTERMing its own process
READY_TIMEOUT_S = 15


@pytest.fixture(scope="module")
def livekit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveKitServer]:
    """A real ``livekit-server --dev`` of this module's own."""
    server = start_livekit_server(tmp_path_factory.mktemp("logs"))
    yield server
    server.process.stop()


@pytest.fixture(scope="module")
def worker(livekit: LiveKitServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """The demo agent worker, allowed MAX_CALLS calls at once."""
    process = start_demo_agent(
        livekit, tmp_path_factory.mktemp("logs"),
        WEBCALL_DEMO_AGENT_NAME=AGENT_NAME, WEBCALL_DEMO_AGENT_MAX_CALLS=str(MAX_CALLS),
    )  # fmt: skip
    yield process
    process.stop()


async def dispatch_together(server: LiveKitServer, rooms: list[str], agent_name: str = AGENT_NAME) -> None:
    """Dispatch the agent to every room in `rooms` at once."""
    async with api.LiveKitAPI(server.http_url, server.api_key, server.api_secret) as lkapi:
        await asyncio.gather(
            *(
                lkapi.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(agent_name=agent_name, room=room)
                )
                for room in rooms
            )
        )


async def rooms_with_the_agent(server: LiveKitServer, rooms: list[str], *, talking: bool = False) -> int:
    """How many of `rooms` the agent is in, connected (it has shown a state) and, if `talking`, with
    its voice published, by the server's account."""
    joined = 0
    async with api.LiveKitAPI(server.http_url, server.api_key, server.api_secret) as lkapi:
        for room in rooms:
            try:
                listing = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
            except api.TwirpError:
                continue  # no such room (yet)
            joined += any(
                p.attributes.get("lk.agent.state") and (p.tracks or not talking) for p in listing.participants
            )
    return joined


async def close_rooms(server: LiveKitServer, rooms: list[str]) -> None:
    """Delete `rooms`, which ends the calls in them (once joined: a job whose room goes while it
    connects can hang in livekit's FFI, and hold up the worker's shutdown)."""
    async with api.LiveKitAPI(server.http_url, server.api_key, server.api_secret) as lkapi:
        for room in rooms:
            try:
                await lkapi.room.delete_room(api.DeleteRoomRequest(room=room))
            except api.TwirpError:
                pass  # never created, or already gone


def test_calls_dispatched_together_are_taken_up_to_max_calls(livekit: LiveKitServer, worker: Process) -> None:
    """Six calls dispatched at once to a worker allowed two: two start, four are declined.

    Each request waits in `accept` for the server's assignment, and a job counts as active
    only once launched: requests that came within a few milliseconds of each other all saw an
    empty worker, and all started (in four runs of five).
    """
    rooms = [f"capacity-{uuid.uuid4().hex[:8]}" for _ in range(CALLS)]
    try:
        run_async(dispatch_together(livekit, rooms))
        wait_until(
            lambda: worker.log().count(STARTED) + worker.log().count(DECLINED) >= CALLS,
            timeout_s=30,
            what="the worker to answer every request",
            process=worker,
        )
        wait_until(
            lambda: run_async(rooms_with_the_agent(livekit, rooms)) >= MAX_CALLS,
            timeout_s=30,
            what="the agent to join its calls' rooms",
            process=worker,
        )
        time.sleep(2)  # a job still being launched would have logged its start, and joined, by now
        log = worker.log()
        assert log.count(STARTED) == MAX_CALLS and log.count(DECLINED) >= CALLS - MAX_CALLS, log[-4000:]
        assert run_async(rooms_with_the_agent(livekit, rooms)) == MAX_CALLS
    finally:
        run_async(close_rooms(livekit, rooms))


def test_a_freed_place_takes_the_next_call(livekit: LiveKitServer, worker: Process) -> None:
    """Once the calls end, the worker takes calls again: the count of starting calls is released."""
    rooms = [f"capacity-{uuid.uuid4().hex[:8]}" for _ in range(MAX_CALLS)]
    started_before = worker.log().count(STARTED)
    wait_until(
        lambda: worker.log().count(ENDED) >= started_before,
        timeout_s=30,
        what="the calls to end",
        process=worker,
    )
    time.sleep(UPDATE_STATUS_INTERVAL + 1)  # LiveKit offers no call to a worker whose last report says full
    try:
        run_async(dispatch_together(livekit, rooms))
        wait_until(
            lambda: run_async(rooms_with_the_agent(livekit, rooms)) == MAX_CALLS,
            timeout_s=30,
            what="the agent to join the new call's room",
            process=worker,
        )
        assert worker.log().count(STARTED) == started_before + MAX_CALLS
    finally:
        run_async(close_rooms(livekit, rooms))


@pytest.fixture
def fresh_worker(
    livekit: LiveKitServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, str]]:
    """A worker of its own (and its agent name), whose first calls are the test's, with room for
    TOGETHER of them."""
    agent_name = f"together-{uuid.uuid4().hex[:6]}"
    process = start_demo_agent(
        livekit, tmp_path_factory.mktemp("logs"),
        WEBCALL_DEMO_AGENT_NAME=agent_name, WEBCALL_DEMO_AGENT_MAX_CALLS=str(TOGETHER),
    )  # fmt: skip
    yield process, agent_name
    process.stop()


def test_calls_dispatched_together_to_a_fresh_worker_all_connect(
    livekit: LiveKitServer, fresh_worker: tuple[Process, str]
) -> None:
    """Four calls at once to a fresh worker with room for four: all join their rooms, each hears its
    room go, and the worker outlives the FFI's ready timeout.

    livekit.rtc makes its FFI client on first use, without a lock, and jobs run on threads: first
    calls that connected together each made one, and a call on the one that lost hung in its
    connect (the FFI's panic took the worker down 15 s later) or never heard its room again.
    And livekit-agents' pool once gave a job runner made for one call to another, and the call left
    without one gave up at once ("failed to acquire process"): its room never got the agent.
    """
    worker, agent_name = fresh_worker
    rooms = [f"together-{uuid.uuid4().hex[:8]}" for _ in range(TOGETHER)]
    dispatched_at = time.monotonic()
    try:
        run_async(dispatch_together(livekit, rooms, agent_name))
        wait_until(
            lambda: run_async(rooms_with_the_agent(livekit, rooms, talking=True)) == TOGETHER,
            timeout_s=30,
            what="the agent to join every call's room and publish its voice",
            process=worker,
        )
    finally:
        # once set up: a room deleted while the agent publishes its voice can hold that call
        # until the framework's shutdown timeout, which is not what is tested here
        run_async(close_rooms(livekit, rooms))
    # a call whose room events went to the other FFI client would not hear its room go
    wait_until(
        lambda: worker.log().count(ENDED) >= TOGETHER, timeout_s=10, what="every call to end",
        process=worker,
    )  # fmt: skip
    time.sleep(max(0.0, dispatched_at + READY_TIMEOUT_S + 3 - time.monotonic()))
    log = worker.log()
    assert worker.popen.poll() is None, log[-4000:]
    assert "ReadyForRoomEventRequest" not in log and "FFI Panic" not in log, log[-4000:]


def test_sigterm_as_a_call_is_accepted_ends_it_before_it_connects(
    livekit: LiveKitServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SIGTERM the moment calls are offered: those that start after it end at once, with the
    shutdown as their reason, and the worker exits in seconds.

    `stop_all_calls` asked only the calls running at that moment; one still being accepted or
    launched started afterwards, greeted a caller, held the drain for its 10 s and the SDK's
    shutdown for 15 s more, and ended as "call ended" (26 s in 4 of 5 tries).
    """
    agent_name = f"sigterm-{uuid.uuid4().hex[:6]}"
    worker = start_demo_agent(
        livekit, tmp_path_factory.mktemp("logs"), WEBCALL_DEMO_AGENT_NAME=agent_name
    )  # fmt: skip
    rooms = [f"sigterm-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    try:
        run_async(dispatch_together(livekit, rooms, agent_name))
        offered_by = time.monotonic() + 10
        while "received job request" not in worker.log() and time.monotonic() < offered_by:
            time.sleep(0.002)  # at once: a call already running was always asked to end
        worker.popen.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()
        worker.popen.wait(40)
        took = time.monotonic() - signalled_at
        log = worker.log()
        assert worker.popen.returncode == 0, log[-4000:]
        assert took < DRAIN_TIMEOUT_S, f"exited after {took:.1f} s\n{log[-4000:]}"
        ended = [line for line in log.splitlines() if ENDED in line]
        assert all("agent shutting down (SIGTERM)" in line for line in ended), log[-4000:]
    finally:
        worker.stop()
        run_async(close_rooms(livekit, rooms))


async def talk_until_sigterm(server: LiveKitServer, worker: Process) -> tuple[Line, float, float]:
    """A caller greeted, then SIGTERM to the worker: the agent's last line, the seconds of its
    voice heard after the signal, and when the agent left (seconds after the signal)."""
    caller, room = Caller(), f"sigterm-{uuid.uuid4().hex[:8]}"
    await caller.join(server, room, "caller-deploy", {"greeting": "Hello."})
    try:
        await caller.until(lambda: caller.agent_said("Hello."), 25, "the greeting")
        await caller.until(caller.done_talking, 20, "the greeting to end")
        signalled_at = time.monotonic()
        worker.popen.send_signal(signal.SIGTERM)
        await caller.until(lambda: caller.agent_said(GOING_AWAY), 10, "the goodbye")
        last = caller.agent_lines()[-1]  # while the agent's track is there to tell its lines
        await asyncio.wait_for(caller.agent_left.wait(), SIGN_OFF_S + 2)
        left_after = time.monotonic() - signalled_at
        return last, caller.loud_agent_s(signalled_at), left_after
    finally:
        await caller.leave()


def test_sigterm_during_a_call_says_goodbye_then_leaves(
    livekit: LiveKitServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A deploy stops the worker while a caller is being talked with: the caller hears the agent
    say it has to go and goodbye (whole, out loud and in the transcript), then the agent leaves
    (the page says the agent ended the call) and the worker exits within its drain. It ended
    calls in silence before."""
    worker = start_demo_agent(
        livekit, tmp_path_factory.mktemp("logs"), WEBCALL_DEMO_AGENT_NAME=CALLER_AGENT_NAME
    )  # fmt: skip
    try:
        last, heard_s, left_after = run_async(asyncio.wait_for(talk_until_sigterm(livekit, worker), 60))
        worker.popen.wait(DRAIN_TIMEOUT_S + 10)
        log = worker.log()
        assert worker.popen.returncode == 0, log[-4000:]
        assert last.text == GOING_AWAY and "webcall.interrupted" not in last.attributes, last
        assert heard_s >= 1.0, f"{heard_s:.2f} s of the goodbye heard\n{log[-4000:]}"
        assert left_after < SIGN_OFF_S, f"left {left_after:.1f} s after SIGTERM\n{log[-4000:]}"
        assert "ended: agent shutting down (SIGTERM)" in log, log[-4000:]
    finally:
        worker.stop()
