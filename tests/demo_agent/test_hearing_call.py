"""A call's recogniser and background work end with the call, also when setting up fails.

The call runs for real (its recogniser process too) in a room that is not there: a small
hand-written stand-in for the few parts of `rtc.Room` a call touches.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from livekit import rtc

from tests.demo_agent.test_listener import recogniser_pids
from webapp.demo_agent.call import TOPIC_CHAT, Call


class FakeAgent:
    """The agent's own participant: attributes kept, tracks "published" as `publish` says."""

    def __init__(self, publish: Callable[[], Awaitable[None]]) -> None:
        self._publish = publish
        self.attributes: dict[str, str] = {}

    async def set_attributes(self, attributes: dict[str, str]) -> None:
        self.attributes = attributes

    async def publish_track(self, track: rtc.LocalTrack, options: rtc.TrackPublishOptions) -> Any:
        await self._publish()
        return SimpleNamespace(sid=f"TR_{track.name}")

    def register_rpc_method(self, name: str, handler: Callable[..., Any]) -> None:
        pass


async def published() -> None:
    """Publishing that works."""


class FakeRoom:
    """What a call uses of `rtc.Room`, with the real one's refusal of a second stream handler."""

    def __init__(
        self, publish: Callable[[], Awaitable[None]] = published, sid: str = "RM_dispatched"
    ) -> None:
        self.local_participant = FakeAgent(publish)
        self.remote_participants: dict[str, Any] = {}
        self.text_handlers: dict[str, Callable[..., Any]] = {}
        self.joined_sid = sid
        self.left = False

    @property
    async def sid(self) -> str:
        return self.joined_sid

    def isconnected(self) -> bool:
        return True

    async def disconnect(self) -> None:
        self.left = True

    def on(self, event: str, callback: Callable[..., Any]) -> None:
        pass

    def register_text_stream_handler(self, topic: str, handler: Callable[..., Any]) -> None:
        if topic in self.text_handlers:
            raise ValueError(f"text stream handler for topic '{topic}' already set")
        self.text_handlers[topic] = handler

    def register_byte_stream_handler(self, topic: str, handler: Callable[..., Any]) -> None:
        pass

    def unregister_byte_stream_handler(self, topic: str) -> None:
        pass


class FakeJob:
    """The job context a worker hands a call: the room, the dispatch metadata, `connect`."""

    def __init__(self, room: FakeRoom, metadata: dict[str, Any] | None = None) -> None:
        self.room = room
        room_info = SimpleNamespace(sid="RM_dispatched", name="a-room")  # the room the call was dispatched to
        self.job = SimpleNamespace(metadata=json.dumps(metadata or {}), room=room_info)
        self.shutdown_callbacks: list[Callable[[], Awaitable[None]]] = []

    async def connect(self, *, auto_subscribe: Any) -> None:
        pass

    def add_shutdown_callback(self, callback: Callable[[], Awaitable[None]]) -> None:
        self.shutdown_callbacks.append(callback)


async def until(check: Callable[[], object], timeout_s: float, what: str) -> None:
    """Wait for `check()` to hold; fail, saying `what` never came, if it doesn't in time."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


async def fail_once_the_recogniser_runs() -> None:
    """Publishing that fails, after the recogniser process has started (it starts alongside)."""
    await until(recogniser_pids, 30, "the recogniser to start")
    raise RuntimeError("could not publish the voice")


@pytest.mark.parametrize("failing", ["voice", "chat"])
def test_a_call_whose_setup_fails_stops_its_recogniser(failing: str) -> None:
    """Setting up fails (the voice cannot be published after the recogniser started, or the chat
    handler is refused, before it): the call's error comes out, and no recogniser process is
    left running (one was, for the life of the worker)."""
    room = FakeRoom(fail_once_the_recogniser_runs if failing == "voice" else published)
    if failing == "chat":
        room.register_text_stream_handler(TOPIC_CHAT, lambda reader, sender: None)

    async def run_call() -> set[int]:
        with pytest.raises((RuntimeError, ValueError)):
            await Call(FakeJob(room)).run()  # type: ignore[arg-type]
        return recogniser_pids()

    assert asyncio.run(run_call()) == set()


async def never_published() -> None:
    """Publishing that never ends (the room went while the voice was being published)."""
    await asyncio.Event().wait()


def test_a_call_ended_while_its_voice_is_published_ends_at_once() -> None:
    """The room goes while the agent publishes its voice: the call ends at once, its recogniser
    stopped. It used to wait for the publishing, which only the framework's shutdown timeout
    (15 s after the room closed, if ever) cut short, holding the call's place in the worker."""
    room = FakeRoom(never_published)

    async def end_while_publishing() -> tuple[str, set[int]]:
        call = Call(FakeJob(room))  # type: ignore[arg-type]
        running = asyncio.create_task(call.run())
        try:
            await until(recogniser_pids, 30, "the recogniser to start")  # it starts beside the voice
            call.stop("disconnected from the room")
            await asyncio.wait_for(asyncio.shield(running), 5)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        return call.end_reason, recogniser_pids()

    assert asyncio.run(end_while_publishing()) == ("disconnected from the room", set())


def test_a_call_that_joins_a_room_made_anew_ends_before_setting_up() -> None:
    """The dispatched room was closed just before the agent joined, and joining made an empty one
    of the same name (another sid): the call ends before it sets up, rather than waiting there 30 s
    for a caller."""
    room = FakeRoom(sid="RM_madeanew")

    async def join() -> tuple[str, dict[str, str]]:
        call = Call(FakeJob(room))  # type: ignore[arg-type]
        await asyncio.wait_for(call.run(), 5)
        return call.end_reason, room.local_participant.attributes

    reason, attributes = asyncio.run(join())
    assert reason == "the room was closed before the agent joined (RM_dispatched, joined RM_madeanew)"
    assert attributes == {}  # never set up: no state shown


class StuckConnect(FakeJob):
    """A connect that hangs until `answer` is set, as livekit's does in a room closed as it joins."""

    def __init__(self, room: FakeRoom) -> None:
        super().__init__(room)
        self.answer = asyncio.Event()
        self.connect_cancelled = False

    async def connect(self, *, auto_subscribe: Any) -> None:
        try:
            await self.answer.wait()
        except asyncio.CancelledError:
            self.connect_cancelled = True
            raise


def test_a_call_cancelled_while_connecting_lets_the_connect_finish_then_leaves() -> None:
    """The framework cancels a call stuck connecting (15 s after its room was closed): the call
    ends, but the connect is not cancelled (livekit's library, its answer untaken, panicked 15 s
    later and the SDK took the whole worker down); the job's shutdown waits for it and leaves."""
    room = FakeRoom()
    job = StuckConnect(room)

    async def cancel_while_connecting() -> None:
        running = asyncio.create_task(Call(job).run())  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert not job.connect_cancelled and len(job.shutdown_callbacks) == 1
        finishing = asyncio.create_task(job.shutdown_callbacks[0]())
        await asyncio.sleep(0.1)
        assert not finishing.done() and not room.left  # waits for the connect's answer
        job.answer.set()
        await asyncio.wait_for(finishing, 5)

    asyncio.run(cancel_while_connecting())
    assert room.left and not job.connect_cancelled


def test_a_calls_finished_tasks_are_let_go() -> None:
    """Each chat message is answered in a task of its own: once done, the call holds it no more
    (every one used to be kept for the life of the call)."""
    room = FakeRoom()
    room.remote_participants["caller"] = SimpleNamespace(
        identity="caller", kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD, track_publications={}
    )
    stranger = SimpleNamespace(close=lambda: None)  # a message from someone not the caller: ignored

    async def chat_a_lot() -> tuple[int, int]:
        call = Call(FakeJob(room))  # type: ignore[arg-type]
        running = asyncio.create_task(call.run())
        try:
            await until(lambda: call._conversation and call.caller, 30, "the call to be set up")
            before = len(call._tasks)
            for _ in range(50):
                room.text_handlers[TOPIC_CHAT](stranger, "someone-else")
            await asyncio.sleep(0.2)
            return before, len(call._tasks)
        finally:
            call.stop("test over")
            await running

    before, after = asyncio.run(chat_a_lot())
    assert after == before


def test_ending_a_call_stops_watching_the_callers_camera() -> None:
    """A call that ends while the caller's camera is still on (the agent said goodbye) ends at
    once; it used to wait for the video to stop, and so never left a caller who stayed."""

    async def call_with_camera() -> None:
        camera = rtc.VideoSource(64, 64)
        track = rtc.LocalVideoTrack.create_video_track("camera", camera)
        publication = SimpleNamespace(
            sid="TR_camera", kind=rtc.TrackKind.KIND_VIDEO, source=rtc.TrackSource.SOURCE_CAMERA, track=track
        )
        caller = SimpleNamespace(
            identity="caller",
            kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
            track_publications={publication.sid: publication},
        )
        room = FakeRoom()
        room.remote_participants[caller.identity] = caller
        call = Call(FakeJob(room, {"camera": "on"}))  # type: ignore[arg-type]
        running = asyncio.create_task(call.run())
        try:
            frames = "webcall.demo.camera_frames"
            await until(lambda: room.local_participant.attributes.get(frames), 30, "the camera to be watched")
            call.stop("the caller said goodbye")
            await asyncio.wait_for(asyncio.shield(running), 5)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await camera.aclose()

    asyncio.run(call_with_camera())
