"""Retell's and ElevenLabs' own agents, faked: `livekit` rtc participants that speak each protocol.

The Retell and ElevenLabs fakes (tests/fakes/) tell `ProtocolAgents.join` about every web
call they create; the matching agent joins the call's room on the local LiveKit server,
publishes its voice (espeak-ng speech) and talks to the browser the way the real platform
does, following shared/providers/README.md. Each agent also checks the browser: it records
every message the page sends (`received`), what it found wrong (`problems`) and how much of
the caller's speech it heard, so a test can assert on all of it.

The agents run as tasks of one asyncio loop in a background thread (the tests' own thread
runs Playwright's sync API, which has a loop of its own).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import numpy as np
from livekit import api, rtc

from tests.fakes import WebCallRoom
from webapp.demo_agent.speech import synthesize

from .livekit_server import LiveKitServer

SAMPLE_RATE = 48000
FRAME_SAMPLES = SAMPLE_RATE // 50  # 20 ms
SPEECH_DBFS = -40.0  # a 20 ms frame louder than this is speech (the fake microphone speaks at ~-20)
CALLER_WAIT_S = 40.0  # Retell's token lives 30 s; give up on a caller who never came after that
REPLY_WAIT_S = 20.0


class ProtocolAgent:
    """One fake platform agent in one room: joins, speaks, listens, and records the page."""

    identity = "agent"
    track_name = "agent_voice"

    def __init__(self, livekit: LiveKitServer, call: WebCallRoom, log_dir: Path | None = None) -> None:
        self.livekit = livekit
        self.call = call
        self.log_dir = log_dir
        self.room: rtc.Room  # made in run(), on the agents' loop
        self.source: rtc.AudioSource
        self.received: list[dict[str, Any]] = []  # every JSON message from the page, in order
        self.problems: list[str] = []  # what the page did that the real platform would not accept
        self.heard_speech_s = 0.0
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.heard: asyncio.Event = asyncio.Event()  # the caller has spoken for a while
        self.left: asyncio.Event = asyncio.Event()  # the caller left
        self.done = threading.Event()  # the agent has left the room
        self.leave_now: asyncio.Event = asyncio.Event()
        self.voice = asyncio.Lock()  # one thing said at a time
        self.tasks: set[asyncio.Task[Any]] = set()  # cancelled when the agent leaves
        self.loop: asyncio.AbstractEventLoop | None = None

    def token(self) -> str:
        """The agent's own token for the call's room."""
        grants = api.VideoGrants(
            room_join=True, room=self.call.room, can_publish=True, can_subscribe=True, can_publish_data=True
        )
        return (
            api.AccessToken(self.livekit.api_key, self.livekit.api_secret)
            .with_identity(self.identity)
            .with_grants(grants)
            .to_jwt()
        )

    def leave(self) -> None:
        """Leave the call (from the test's thread): the platform's agent hangs up."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.leave_now.set)

    async def run(self) -> None:
        """Join, wait for the caller, run the script, leave."""
        self.loop = asyncio.get_running_loop()
        self.room = rtc.Room(loop=self.loop)
        self.source = rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=200)
        self.room.on("data_received", self._on_data)
        self.room.on("track_subscribed", self._on_track)
        self.room.on("participant_disconnected", self._on_left)
        try:
            # An agent record may ask to join late (after the caller), as a slow platform would.
            await asyncio.sleep(float(self.call.agent.get("join_delay_s", 0)))
            await self.room.connect(self.livekit.url, self.token())
            track = rtc.LocalAudioTrack.create_audio_track(self.track_name, self.source)
            options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            await self.room.local_participant.publish_track(track, options)
            if await self._caller_joined():
                script = self.spawn(self.script())
                ended = [self.spawn(self.left.wait()), self.spawn(self.leave_now.wait())]
                await asyncio.wait({script, *ended}, return_when=asyncio.FIRST_COMPLETED)
                if script.done() and not script.cancelled() and script.exception() is not None:
                    self.problems.append(f"the agent's script failed: {script.exception()!r}")
        except Exception as error:  # a broken agent must show up in the test, not vanish
            self.problems.append(f"the agent failed: {error!r}")
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await self.room.disconnect()
            await self.source.aclose()
            self.write_log()
            self.done.set()

    def write_log(self) -> None:
        """What the agent saw, in test-artifacts/logs (a failed test's first clue)."""
        if self.log_dir is None:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        seen = {"room": self.call.room, "identity": self.identity, "problems": self.problems,
                "heard_speech_s": round(self.heard_speech_s, 2), "received": self.received}  # fmt: skip
        path = self.log_dir / f"protocol-agent-{self.call.provider}-{self.call.call_id}.json"
        path.write_text(json.dumps(seen, indent=1))

    async def script(self) -> None:
        """What the agent says and does once the caller is there."""
        raise NotImplementedError

    async def speak(self, text: str) -> None:
        """Say ``text`` on the agent's track, and return once it has been played."""
        samples = await synthesize(text)
        async with self.voice:
            for start in range(0, samples.size, FRAME_SAMPLES):
                chunk = samples[start : start + FRAME_SAMPLES]
                chunk = np.pad(chunk, (0, FRAME_SAMPLES - chunk.size))
                frame = rtc.AudioFrame(chunk.astype(np.int16).tobytes(), SAMPLE_RATE, 1, FRAME_SAMPLES)
                await self.source.capture_frame(frame)
            await self.source.wait_for_playout()

    async def send(self, message: dict[str, Any]) -> None:
        """One JSON data packet to the page (reliable, no topic)."""
        await self.room.local_participant.publish_data(json.dumps(message).encode(), reliable=True)

    async def next_message(self, timeout_s: float = REPLY_WAIT_S) -> dict[str, Any]:
        """The next message from the page."""
        return await asyncio.wait_for(self.messages.get(), timeout_s)

    async def _caller_joined(self) -> bool:
        """True once the call's caller is in the room (False if they never come)."""
        deadline = time.monotonic() + CALLER_WAIT_S
        while time.monotonic() < deadline:
            if self.call.caller_identity in self.room.remote_participants:
                return True
            await asyncio.sleep(0.05)
        self.problems.append("the caller never joined")
        return False

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``work`` alongside, until the agent leaves."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        return task

    def _on_data(self, packet: rtc.DataPacket) -> None:
        """Record and queue a message from the caller."""
        if packet.participant is None or packet.participant.identity != self.call.caller_identity:
            return
        try:
            message = json.loads(packet.data)
        except ValueError:
            self.problems.append(f"the page sent a packet that is not JSON: {packet.data[:80]!r}")
            return
        self.received.append(message)
        self.messages.put_nowait(message)

    def _on_track(self, track: rtc.Track, _publication: Any, participant: rtc.RemoteParticipant) -> None:
        """Listen to the caller's microphone."""
        if participant.identity == self.call.caller_identity and track.kind == rtc.TrackKind.KIND_AUDIO:
            self.spawn(self._listen(track))

    def _on_left(self, participant: rtc.RemoteParticipant) -> None:
        """The caller hung up."""
        if participant.identity == self.call.caller_identity:
            self.left.set()

    async def _listen(self, track: rtc.Track) -> None:
        """Count the caller's speech, 20 ms at a time."""
        stream = rtc.AudioStream.from_track(track=track, sample_rate=SAMPLE_RATE, num_channels=1)
        async for event in stream:
            samples = np.frombuffer(event.frame.data, dtype=np.int16).astype(np.float64) / 32768
            rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
            if 20 * np.log10(rms or 1e-9) > SPEECH_DBFS:
                self.heard_speech_s += samples.size / SAMPLE_RATE
                if self.heard_speech_s >= 0.8:
                    self.heard.set()


class RetellAgent(ProtocolAgent):
    """Retell's agent: the participant `server`, its voice on `agent_audio`, `update` events.

    Its updates carry only the last two utterances (Retell's carry the last few), each
    growing over several updates, so the page must merge them into the whole conversation.
    """

    identity = "server"
    track_name = "agent_audio"
    window = 2
    GREETING = "Hello, this is the Retell agent. How can I help you today?"
    REPLY = "I heard you say hello. Let me check that for you."
    FAREWELL = "Yes, I can hear you clearly. Thank you for calling."
    CALLER = ("Hello agent", "Can you hear me")

    def __init__(self, livekit: LiveKitServer, call: WebCallRoom, log_dir: Path | None = None) -> None:
        super().__init__(livekit, call, log_dir)
        self.conversation: list[dict[str, str]] = []

    async def script(self) -> None:
        """Greet, hear the caller, answer twice (with the caller's words between), then stay."""
        await self.agent_says(self.GREETING)
        await self.update("user_turn")
        await asyncio.wait_for(self.heard.wait(), REPLY_WAIT_S)
        await self.caller_says(self.CALLER[0])
        await self.agent_says(self.REPLY)
        await self.caller_says(self.CALLER[1])
        await self.agent_says(self.FAREWELL)
        await self.update("user_turn")
        await self.leave_now.wait()

    async def agent_says(self, text: str) -> None:
        """The agent's turn: its words grow in updates while its voice plays."""
        words = text.split()
        self.conversation.append({"role": "agent", "content": ""})
        await self.update("agent_turn")
        await self.send({"event_type": "agent_start_talking"})
        speech = self.spawn(self.speak(text))
        for count in range(1, len(words) + 1, 3):
            self.conversation[-1]["content"] = " ".join(words[:count])
            await self.update("agent_turn")
            await asyncio.sleep(0.1)
        self.conversation[-1]["content"] = text
        await self.update("agent_turn")
        await speech
        await self.send({"event_type": "agent_stop_talking"})

    async def caller_says(self, text: str) -> None:
        """What Retell transcribed of the caller, growing word by word."""
        words = text.split()
        self.conversation.append({"role": "user", "content": ""})
        for count in range(1, len(words) + 1):
            self.conversation[-1]["content"] = " ".join(words[:count])
            await self.update("user_turn")
            await asyncio.sleep(0.1)

    async def update(self, turn: str) -> None:
        """An `update` with the last few utterances only."""
        window = [dict(u) for u in self.conversation[-self.window :] if u["content"]]
        await self.send({"event_type": "update", "transcript": window, "turntaking": turn})


class ElevenLabsAgent(ProtocolAgent):
    """ElevenLabs' agent: waits for the initiation message, pings, answers typed messages in
    streamed parts, asks the page to run a client tool, and can be interrupted.

    Where ElevenLabs' SDK and shared/providers/README.md give a message different shapes (the
    SDK nests a `client_tool_call`'s fields, the README lists them as the message's own), it
    sends the SDK's unless asked for the other (`use the tool, flat`, `correct yourself`)."""

    track_name = "agent_voice"
    PING_EVERY_S = 0.5
    TOOL = "lookup_order"
    GUESSES = ("Hello a", "Hello agent, can you")  # tentative_user_transcript, before the final words

    def __init__(self, livekit: LiveKitServer, call: WebCallRoom, log_dir: Path | None = None) -> None:
        super().__init__(livekit, call, log_dir)
        self.identity = f"agent_{secrets.token_hex(6)}"
        self.pings_sent = 0
        self.variables: dict[str, Any] = {}
        self.contexts: list[str] = []
        self.tool_results: list[dict[str, Any]] = []

    async def script(self) -> None:
        """The initiation first, then pings all along and an answer to everything the page says."""
        first = await self.next_message()
        if first.get("type") != "conversation_initiation_client_data":
            self.problems.append(f"the first message was {first.get('type')!r}, not the initiation")
        self.variables = dict(first.get("dynamic_variables") or {})
        metadata = {"conversation_id": self.call.call_id}
        await self.send(
            {"type": "conversation_initiation_metadata", "conversation_initiation_metadata_event": metadata}
        )
        pinging = self.spawn(self._ping())
        try:
            name = self.variables.get("name", "there")
            await self.respond(f"Hello {name}, this is the ElevenLabs agent.")
            self.spawn(self._answer_speech())
            while True:
                await self.handle(await self.messages.get())
        finally:
            pinging.cancel()

    async def handle(self, message: dict[str, Any]) -> None:
        """One message from the page."""
        kind = message.get("type")
        if kind == "pong" or kind == "conversation_initiation_client_data":
            return  # the page sends the initiation again until the agent answers anything
        if kind == "contextual_update":
            self.contexts.append(str(message.get("text")))
        elif kind == "user_message":
            await self.answer_typed(str(message.get("text", "")))
        elif kind == "client_tool_result":
            self.problems.append(f"a tool result nobody asked for: {message}")
        else:
            self.problems.append(f"an unexpected message: {message}")

    async def answer_typed(self, text: str) -> None:
        """A typed message: use the tool, correct itself, be interrupted, or answer in streamed parts."""
        if text in ("use the tool", "use the tool, flat"):
            await self.use_tool(flat=text.endswith("flat"))
        elif text in ("correct yourself", "correct yourself, flat"):
            await self.stream(["I said this wrong."])
            fix = {
                "original_agent_response": "I said this wrong.",
                "corrected_agent_response": "I said it right.",
            }
            if text.endswith("flat"):  # the fields as its own (shared/providers leaves this open)
                await self.send({"type": "agent_response_correction", **fix})
            else:  # as ElevenLabs' SDK types it (asyncapi-types.ts)
                await self.send({"type": "agent_response_correction", "agent_response_correction_event": fix})
        elif text == "interrupt your answer":
            # A whole answer, its voice gone quiet (the page's speaker detection has let it go)
            # when the interruption comes; the correction then says what was said before it.
            said = "A whole answer that goes on and on."
            await self.send({"type": "agent_response", "agent_response_event": {"agent_response": said}})
            await asyncio.sleep(0.3)
            await self.send({"type": "interruption", "interruption_event": {"event_id": 98}})
            fix = {"original_agent_response": said, "corrected_agent_response": "A whole answer"}
            await self.send({"type": "agent_response_correction", "agent_response_correction_event": fix})
        elif text == "fail":  # no answer: what it sends when its LLM fails
            error = {"error_type": "llm", "message": "The language model did not answer."}
            await self.send({"type": "error", "error_event": error})
        elif text == "answer at once":
            await self.respond("A whole answer, not streamed.")
        elif text == "mishear":  # a guess at words that turn out not to be speech
            guess = {"user_transcript": "Um maybe", "event_id": 2}
            await self.send(
                {"type": "tentative_user_transcript", "tentative_user_transcription_event": guess}
            )
            await asyncio.sleep(0.3)
            await self.send({"type": "user_transcript", "user_transcription_event": {"user_transcript": ""}})
            await self.respond("I heard nothing there.")
        elif text == "interrupt yourself":
            await self.stream(["This is a long answer ", "that will be "], stop=False)
            await self.send({"type": "interruption", "interruption_event": {"event_id": 99}})
            await self.stream(["cut off here."], start=False)  # late parts the page must drop
        elif text == "answer slowly":  # its agent_response only once the caller typed another message
            parts = ["This answer ", "comes ", "slowly."]
            await self.stream(parts)
            typed = await self.next_message()
            while typed.get("type") != "user_message":
                await self.handle(typed)
                typed = await self.next_message()
            whole = {"agent_response": "".join(parts)}
            await self.send({"type": "agent_response", "agent_response_event": whole})
            await self.handle(typed)
        else:
            reply = f"You wrote: {text}"
            await self.stream(["You ", "wrote: ", text])
            await self.send({"type": "agent_response", "agent_response_event": {"agent_response": reply}})

    async def use_tool(self, *, flat: bool = False) -> None:
        """Ask the page to run a client tool (its fields nested, or ``flat`` in the message), and
        say what it answered."""
        call_id = f"tool_{secrets.token_hex(4)}"
        order = "7" if flat else "42"
        call = {"tool_name": self.TOOL, "tool_call_id": call_id, "parameters": {"order": order}}
        fields = call if flat else {"client_tool_call": call}  # ElevenLabs' SDK nests them
        await self.send({"type": "client_tool_call", **fields})
        message = await self.next_message()
        while message.get("type") != "client_tool_result":
            await self.handle(message)
            message = await self.next_message()
        self.tool_results.append(message)
        if message.get("tool_call_id") != call_id:
            self.problems.append(f"a tool result for {message.get('tool_call_id')!r}, not {call_id!r}")
        outcome = "failed" if message.get("is_error") else "answered"
        await self.respond(f"The tool {outcome}: {message.get('result')}")

    async def respond(self, text: str) -> None:
        """A spoken response: its text, then its voice."""
        await self.send({"type": "agent_response", "agent_response_event": {"agent_response": text}})
        await self.speak(text)

    async def stream(self, parts: list[str], *, start: bool = True, stop: bool = True) -> None:
        """A response streamed in parts (`agent_chat_response_part`)."""
        if start:
            await self.part("", "start")
        for text in parts:
            await self.part(text, "delta")
            await asyncio.sleep(0.15)
        if stop:
            await self.part("", "stop")

    async def part(self, text: str, kind: str) -> None:
        """One part of a streamed response."""
        await self.send(
            {"type": "agent_chat_response_part", "text_response_part": {"text": text, "type": kind}}
        )

    async def _answer_speech(self) -> None:
        """When the caller has spoken: ElevenLabs' guesses as the words come, what it heard, and
        an answer."""
        await asyncio.wait_for(self.heard.wait(), REPLY_WAIT_S)
        for guess in self.GUESSES:
            event = {"user_transcript": guess, "event_id": 1}
            await self.send(
                {"type": "tentative_user_transcript", "tentative_user_transcription_event": event}
            )
            await asyncio.sleep(0.3)
        heard = {"user_transcript": "Hello agent, can you hear me?", "event_id": 1}
        await self.send({"type": "user_transcript", "user_transcription_event": heard})
        await self.respond("Yes, I can hear you.")

    async def _ping(self) -> None:
        """A ping now and then; the page must answer each with a pong."""
        while True:
            self.pings_sent += 1
            await self.send({"type": "ping", "ping_event": {"event_id": self.pings_sent, "ping_ms": 20}})
            await asyncio.sleep(self.PING_EVERY_S)

    def unanswered_pings(self) -> list[int]:
        """Pings sent more than a second ago that got no pong."""
        answered = {m.get("event_id") for m in self.received if m.get("type") == "pong"}
        settled = max(0, self.pings_sent - int(1 / self.PING_EVERY_S) - 1)
        return [n for n in range(1, settled + 1) if n not in answered]


AGENTS: dict[str, type[ProtocolAgent]] = {"retell": RetellAgent, "elevenlabs": ElevenLabsAgent}


class ProtocolAgents:
    """Runs the platforms' fake agents on one background loop; `join` is the fakes' hook."""

    def __init__(self, livekit: LiveKitServer, log_dir: Path | None = None) -> None:
        self.livekit = livekit
        self.log_dir = log_dir  # where each agent writes what it saw
        self.by_room: dict[str, ProtocolAgent] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="protocol-agents", daemon=True)
        self.thread.start()

    def join(self, call: WebCallRoom) -> None:
        """Put the platform's agent in the call's room (called by the Retell and ElevenLabs fakes)."""
        agent = AGENTS[call.provider](self.livekit, call, self.log_dir)
        self.by_room[call.room] = agent
        self._spawn(agent.run())

    def agent(self, room: str, timeout_s: float = 10.0) -> ProtocolAgent:
        """The agent of ``room``."""
        deadline = time.monotonic() + timeout_s
        while room not in self.by_room and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.by_room[room]

    def stop(self) -> None:
        """Make every agent leave, then stop the loop."""
        for agent in self.by_room.values():
            agent.leave()
        for agent in self.by_room.values():
            agent.done.wait(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the agents' loop."""
        asyncio.run_coroutine_threadsafe(work, self.loop)
