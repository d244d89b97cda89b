"""A caller made of `livekit.rtc` for the demo agent's end-to-end tests, and test speech.

The caller joins a real room with a browser-like token, feeds its microphone in real time
(speech when queued, silence otherwise), and records everything the agent does: its
states, every `lk.transcription` stream (each interim result is a stream of its own) and
the level of every frame of its voice, with arrival times.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import subprocess
import time
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from livekit import api, rtc

from webapp.demo_agent.turns import level_dbfs

AGENT_NAME = "webcall-demo"
SAMPLE_RATE = 48000
FRAME = SAMPLE_RATE // 50  # 20 ms


def espeak_samples(text: str, directory: Path, *, voice: str = "en-us", speed: int = 150) -> np.ndarray:
    """Speak `text` with espeak-ng into a WAV file and return it as 48 kHz mono int16."""
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is needed for the demo agent and its test (apt-get install espeak-ng)"
    path = directory / f"{uuid.uuid4().hex}.wav"
    subprocess.run([espeak, "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    with wave.open(str(path)) as wav:
        rate, raw = wav.getframerate(), wav.readframes(wav.getnframes())
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    positions = np.arange(int(samples.size * SAMPLE_RATE / rate)) * (rate / SAMPLE_RATE)
    resampled: np.ndarray = np.interp(positions, np.arange(samples.size), samples).astype(np.int16)
    return resampled


def silence(seconds: float) -> np.ndarray:
    """`seconds` of 48 kHz silence."""
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def webm_opus(samples: np.ndarray) -> bytes:
    """Encode 48 kHz mono int16 as WebM/Opus, the way a browser's MediaRecorder would."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="webm") as container:
        stream = container.add_stream("libopus", rate=SAMPLE_RATE)
        stream.layout = "mono"
        for start in range(0, samples.size, FRAME):
            chunk = np.pad(samples[start : start + FRAME], (0, max(0, start + FRAME - samples.size)))
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def words_of(text: str) -> list[str]:
    """Lower-case words, punctuation dropped ("good bye" and "goodbye" both become one word)."""
    return re.sub(r"[^a-z' ]", " ", text.lower().replace("good bye", "goodbye")).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference's length."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1] / max(len(ref), 1)


@dataclass
class Line:
    """One `lk.transcription` stream as received: who, what, and its attributes (trailer included)."""

    sender: str
    text: str
    attributes: dict[str, str]

    @property
    def segment(self) -> str:
        """The segment id the stream belongs to."""
        return self.attributes.get("lk.segment_id", "")

    @property
    def final(self) -> bool:
        """True for a final version of the segment."""
        return self.attributes.get("lk.transcription_final") == "true"


@dataclass
class Caller:
    """A caller built from livekit.rtc: a microphone we feed, and ears on the agent."""

    room: rtc.Room = field(default_factory=rtc.Room)
    mic: rtc.AudioSource = field(default_factory=lambda: rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=100))
    mic_sid: str = ""
    agent: rtc.RemoteParticipant | None = None
    states: list[str] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    # (arrival time, dBFS, seconds) of every frame of the agent's voice
    agent_levels: list[tuple[float, float, float]] = field(default_factory=list)
    speech: list[np.ndarray] = field(default_factory=list)  # queued for the microphone
    spoke_at: list[float] = field(default_factory=list)  # when each queued clip started
    agent_left: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def watch(self) -> None:
        """Record the agent's joining, states, transcripts, voice and leaving as they happen."""

        @self.room.on("participant_connected")
        def joined(participant: rtc.RemoteParticipant) -> None:
            if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
                self.agent = participant
                self.note_state(participant)

        @self.room.on("participant_disconnected")
        def left(participant: rtc.RemoteParticipant) -> None:
            if participant is self.agent:
                self.agent_left.set()

        @self.room.on("participant_attributes_changed")
        def changed(_: dict[str, str], participant: rtc.Participant) -> None:
            if participant is self.agent:
                self.note_state(participant)

        @self.room.on("track_subscribed")
        def subscribed(
            track: rtc.Track, _: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
        ) -> None:
            if participant is self.agent and track.kind == rtc.TrackKind.KIND_AUDIO:
                self.tasks.append(asyncio.create_task(self.hear_agent(track)))

        def transcript(reader: rtc.TextStreamReader, sender: str) -> None:
            async def read() -> None:
                text = await reader.read_all()
                self.lines.append(Line(sender, text, dict(reader.info.attributes or {})))

            self.tasks.append(asyncio.create_task(read()))

        self.room.register_text_stream_handler("lk.transcription", transcript)

    async def join(
        self,
        server: Any,
        room_name: str,
        identity: str,
        metadata: dict[str, Any],
        *,
        preconnect: bool = False,
    ) -> None:
        """Join with the agent dispatched and publish the microphone (announcing a pre-connect buffer?)."""
        self.watch()
        await self.room.connect(server.url, caller_token(server, room_name, identity, metadata))
        track = rtc.LocalAudioTrack.create_audio_track("mic", self.mic)
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_MICROPHONE, preconnect_buffer=preconnect
        )
        self.mic_sid = (await self.room.local_participant.publish_track(track, options)).sid
        self.tasks.append(asyncio.create_task(self.talk()))

    async def send_preconnect(self, buffer: bytes) -> None:
        """Send `buffer` (see `webm_opus`) the way livekit-client sends its pre-connect buffer.

        At once: the agent waits 3 s for it after subscribing to the track that announced it.
        """
        assert self.agent is not None
        writer = await self.room.local_participant.stream_bytes(
            "preconnect-buffer",
            mime_type="audio/webm;codecs=opus",
            topic="lk.agent.pre-connect-audio-buffer",
            destination_identities=[self.agent.identity],
            attributes={"trackId": self.mic_sid, "sampleRate": "48000", "channels": "1"},
        )
        await writer.write(buffer)
        await writer.aclose()

    async def leave(self) -> None:
        """Stop talking and leave the room."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.room.disconnect()

    def note_state(self, participant: rtc.Participant) -> None:
        """Append the agent's `lk.agent.state` when it differs from the last one seen."""
        state = participant.attributes.get("lk.agent.state")
        if state and (not self.states or self.states[-1] != state):
            self.states.append(state)

    def attribute(self, name: str) -> str:
        """One of the agent's participant attributes ('' until set)."""
        return self.agent.attributes.get(name, "") if self.agent else ""

    def agent_lines(self) -> list[Line]:
        """Final transcript lines about the agent's own voice track."""
        tracks = {p.sid for p in self.agent.track_publications.values()} if self.agent else set()
        return [
            line
            for line in self.lines
            if line.final and line.attributes.get("lk.transcribed_track_id") in tracks
        ]

    def agent_said(self, start: str) -> list[Line]:
        """The agent's final lines that start with `start`."""
        return [line for line in self.agent_lines() if line.text.startswith(start)]

    def caller_lines(self, *, final: bool | None = True) -> list[Line]:
        """Transcript streams about the caller's microphone track (final ones by default)."""
        return [
            line
            for line in self.lines
            if line.attributes.get("lk.transcribed_track_id") == self.mic_sid and final in (None, line.final)
        ]

    def done_talking(self) -> bool:
        """The agent says it is listening and its voice has been quiet for a while."""
        loud = [at for at, level, _ in self.agent_levels if level > -40]
        quiet_s = time.monotonic() - loud[-1] if loud else 0.0
        return bool(self.states) and self.states[-1] == "listening" and quiet_s > 0.9

    def loud_agent_s(self, since: float, threshold_dbfs: float = -40.0) -> float:
        """Seconds of agent voice louder than `threshold_dbfs` received after `since`."""
        return sum(s for at, level, s in self.agent_levels if at >= since and level > threshold_dbfs)

    def last_loud_at(self) -> float:
        """When the last loud frame of the agent's voice arrived (0 if none)."""
        return max((at for at, level, _ in self.agent_levels if level > -40), default=0.0)

    async def hear_agent(self, track: rtc.Track) -> None:
        """Measure every frame of the agent's voice."""
        async for event in rtc.AudioStream.from_track(track=track, sample_rate=SAMPLE_RATE, num_channels=1):
            samples = np.frombuffer(event.frame.data, dtype=np.int16)
            self.agent_levels.append((time.monotonic(), level_dbfs(samples), samples.size / SAMPLE_RATE))

    async def talk(self) -> None:
        """Feed the microphone in real time: queued speech, otherwise silence."""
        while True:
            if self.speech:
                samples = self.speech.pop(0)
                self.spoke_at.append(time.monotonic())
            else:
                samples = np.zeros(FRAME, dtype=np.int16)
            for start in range(0, samples.size - FRAME + 1, FRAME):
                chunk = samples[start : start + FRAME]
                await self.mic.capture_frame(rtc.AudioFrame(chunk.tobytes(), SAMPLE_RATE, 1, FRAME))

    async def until(self, check: Callable[[], Any], timeout_s: float, what: str) -> None:
        """Wait for `check()`; fail with what the caller saw if it never holds."""
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout_s}s waiting for {what}; states={self.states} "
                    f"lines={self.lines} attributes={self.agent.attributes if self.agent else None}"
                )
            await asyncio.sleep(0.05)


def caller_token(server: Any, room: str, identity: str, metadata: dict[str, Any]) -> str:
    """A browser-like token that dispatches the demo agent with `metadata`."""
    dispatch = api.RoomAgentDispatch(agent_name=AGENT_NAME, metadata=json.dumps(metadata))
    return (
        api.AccessToken(server.api_key, server.api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True))
        .with_room_config(api.RoomConfiguration(agents=[dispatch]))
        .to_jwt()
    )


async def participants(server: Any, room: str) -> list[str]:
    """Identities in `room` according to the server ([] once the room is gone)."""
    async with api.LiveKitAPI(server.http_url, server.api_key, server.api_secret) as lkapi:
        try:
            listing = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
        except api.TwirpError as exc:
            if exc.code == "not_found":
                return []
            raise
    return [p.identity for p in listing.participants]
