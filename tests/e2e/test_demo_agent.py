"""The demo agent, for real: a caller joins a LiveKit room and the agent greets, hears and echoes.

No fakes: a real livekit-server, the real worker process (`python -m webapp.demo_agent`),
and a caller made of `livekit.rtc` that speaks espeak-ng audio into the room. The pure
pieces (greeting, WAV parsing, turn detection) get small direct tests at the bottom.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import re
import shutil
import subprocess
import time
import uuid
import wave
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import av
import numpy as np
import pytest
from livekit import api, rtc

from webapp.demo_agent.greeting import DEFAULT_GREETING, greeting_from_metadata
from webapp.demo_agent.preconnect import decode_audio
from webapp.demo_agent.settings import AgentSettings, SettingsError
from webapp.demo_agent.speech import chime, parse_wav, resample
from webapp.demo_agent.turns import TurnDetector, level_dbfs

AGENT_NAME = "webcall-demo"
SAMPLE_RATE = 48000
FRAME = SAMPLE_RATE // 50  # 20 ms
GREETING = "Hello {{name}}, welcome to the webcall demo."
GREETING_SAID = "Hello Ada, welcome to the webcall demo."
CALLER_PHRASE = "Testing one two three. Can you hear me?"
PRECONNECT_PHRASE = "Hello there."


def espeak_samples(text: str, directory: Path) -> np.ndarray:
    """Speak `text` with espeak-ng into a WAV file and return it as 48 kHz mono int16."""
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is needed for the demo agent and its test (apt-get install espeak-ng)"
    path = directory / f"{uuid.uuid4().hex}.wav"
    subprocess.run([espeak, "-s", "160", "-w", str(path), text], check=True)
    with wave.open(str(path)) as wav:
        rate, raw = wav.getframerate(), wav.readframes(wav.getnframes())
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    positions = np.arange(int(samples.size * SAMPLE_RATE / rate)) * (rate / SAMPLE_RATE)
    resampled: np.ndarray = np.interp(positions, np.arange(samples.size), samples).astype(np.int16)
    return resampled


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


def loud_s(samples: np.ndarray, threshold_dbfs: float = -40.0) -> float:
    """Seconds of `samples` louder than `threshold_dbfs`, measured in 10 ms frames."""
    frames = samples[: samples.size // 480 * 480].reshape(-1, 480)
    return 0.01 * sum(1 for frame in frames if level_dbfs(frame) > threshold_dbfs)


@dataclass
class Line:
    """One transcript line received on `lk.transcription`."""

    sender: str
    text: str
    attributes: dict[str, str]


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
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def watch(self) -> None:
        """Record the agent's joining, states, transcripts and voice as they happen."""

        @self.room.on("participant_connected")
        def joined(participant: rtc.RemoteParticipant) -> None:
            if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
                self.agent = participant
                self.note_state(participant)

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
                self.lines.append(Line(sender, await reader.read_all(), dict(reader.info.attributes or {})))

            self.tasks.append(asyncio.create_task(read()))

        self.room.register_text_stream_handler("lk.transcription", transcript)

    def note_state(self, participant: rtc.Participant) -> None:
        """Append the agent's `lk.agent.state` when it differs from the last one seen."""
        state = participant.attributes.get("lk.agent.state")
        if state and (not self.states or self.states[-1] != state):
            self.states.append(state)

    def attribute(self, name: str) -> str:
        """One of the agent's participant attributes ('' until set)."""
        return self.agent.attributes.get(name, "") if self.agent else ""

    def agent_lines(self) -> list[str]:
        """Transcript lines about the agent's own voice track."""
        agent_tracks = {p.sid for p in self.agent.track_publications.values()} if self.agent else set()
        return [
            line.text for line in self.lines if line.attributes.get("lk.transcribed_track_id") in agent_tracks
        ]

    def caller_lines(self) -> list[Line]:
        """Transcript lines about the caller's microphone track."""
        return [line for line in self.lines if line.attributes.get("lk.transcribed_track_id") == self.mic_sid]

    def heard_speech_s(self) -> float:
        """What the agent says it has heard of the caller, in seconds."""
        return float(self.attribute("webcall.demo.heard_speech_s") or 0)

    def echoes(self) -> int:
        """How many times the agent has started saying "You said:"."""
        return sum(1 for text in self.agent_lines() if text.startswith("You said:"))

    def done_talking(self) -> bool:
        """The agent says it is listening and its voice has been quiet for a while.

        Both, because attribute updates and audio travel separately: either alone can lag.
        """
        loud = [at for at, level, _ in self.agent_levels if level > -40]
        quiet_s = time.monotonic() - loud[-1] if loud else 0.0
        return bool(self.states) and self.states[-1] == "listening" and quiet_s > 0.9

    def loud_agent_s(self, since: float, threshold_dbfs: float = -40.0) -> float:
        """Seconds of agent voice louder than `threshold_dbfs` received after `since`."""
        return sum(
            seconds for at, level, seconds in self.agent_levels if at >= since and level > threshold_dbfs
        )

    async def hear_agent(self, track: rtc.Track) -> None:
        """Measure every frame of the agent's voice."""
        async for event in rtc.AudioStream.from_track(track=track, sample_rate=SAMPLE_RATE, num_channels=1):
            samples = np.frombuffer(event.frame.data, dtype=np.int16)
            self.agent_levels.append((time.monotonic(), level_dbfs(samples), samples.size / SAMPLE_RATE))

    async def talk(self) -> None:
        """Feed the microphone in real time: queued speech, otherwise silence."""
        while True:
            samples = self.speech.pop(0) if self.speech else np.zeros(FRAME, dtype=np.int16)
            for start in range(0, samples.size - FRAME + 1, FRAME):
                chunk = samples[start : start + FRAME]
                await self.mic.capture_frame(rtc.AudioFrame(chunk.tobytes(), SAMPLE_RATE, 1, FRAME))


async def until(check: Callable[[], bool], timeout_s: float, what: str, caller: Caller) -> None:
    """Wait for `check()`; fail with what the caller saw if it never holds."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            agent_attributes = caller.agent.attributes if caller.agent else None
            pytest.fail(
                f"timed out after {timeout_s}s waiting for {what}; states={caller.states} "
                f"lines={caller.lines} attributes={agent_attributes}"
            )
        await asyncio.sleep(0.05)


def caller_token(server: Any, room: str, identity: str) -> str:
    """A browser-like token that dispatches the demo agent with a templated greeting."""
    metadata = json.dumps({"greeting": GREETING, "variables": {"name": "Ada"}})
    dispatch = api.RoomAgentDispatch(agent_name=AGENT_NAME, metadata=metadata)
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


async def call_the_agent(server: Any, phrase: np.ndarray, early_words: np.ndarray) -> None:
    """The whole call, asserting each thing the agent should do as it happens."""
    caller, room_name, identity = Caller(), f"demo-test-{uuid.uuid4().hex[:8]}", "caller-ada"
    caller.watch()
    await caller.room.connect(server.url, caller_token(server, room_name, identity))
    track = rtc.LocalAudioTrack.create_audio_track("mic", caller.mic)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    caller.mic_sid = (await caller.room.local_participant.publish_track(track, options)).sid
    caller.tasks.append(asyncio.create_task(caller.talk()))
    try:
        await until(lambda: caller.agent is not None, 10, "the agent to join", caller)
        assert caller.agent is not None

        # What livekit-client does with audio recorded before the agent arrived.
        buffer = webm_opus(early_words)
        writer = await caller.room.local_participant.stream_bytes(
            "preconnect-buffer",
            mime_type="audio/webm;codecs=opus",
            topic="lk.agent.pre-connect-audio-buffer",
            destination_identities=[caller.agent.identity],
            attributes={"trackId": caller.mic_sid, "sampleRate": "48000", "channels": "1"},
        )
        await writer.write(buffer)
        await writer.aclose()

        greeted_at = time.monotonic()
        await until(lambda: GREETING_SAID in caller.agent_lines(), 10, "the greeting transcript", caller)
        await until(lambda: "speaking" in caller.states, 5, "the agent to speak", caller)
        await until(lambda: caller.loud_agent_s(greeted_at) > 1.0, 10, "greeting audio with energy", caller)
        assert max(level for _, level, _ in caller.agent_levels) > -30

        preconnect_bytes = "webcall.demo.preconnect_bytes"
        await until(lambda: caller.attribute(preconnect_bytes) == str(len(buffer)), 10, "pre-connect", caller)
        preconnect_s = float(caller.attribute("webcall.demo.preconnect_s"))
        assert preconnect_s == pytest.approx(early_words.size / SAMPLE_RATE, abs=0.2)
        assert float(caller.attribute("webcall.demo.preconnect_peak_dbfs")) > -40
        # its speech is the caller's first turn: a caller line on the mic track, then an echo
        await until(lambda: len(caller.caller_lines()) == 1, 15, "a line for the pre-connect speech", caller)
        await until(lambda: caller.echoes() == 1, 15, "the pre-connect echo", caller)
        await until(caller.done_talking, 15, "the pre-connect echo to finish", caller)

        heard_before = caller.heard_speech_s()
        caller.speech.append(phrase)
        await until(lambda: caller.heard_speech_s() > heard_before + 0.5, 10, "the agent to hear", caller)
        assert float(caller.attribute("webcall.demo.peak_dbfs")) > -40
        await until(lambda: caller.echoes() == 2, 10, "the echo to start", caller)
        echo_at = time.monotonic()
        # "You said:" alone is well under a second of sound; the echo adds the whole phrase
        phrase_s = loud_s(phrase)
        await until(
            lambda: caller.loud_agent_s(echo_at) > 0.75 * phrase_s, 15, "the phrase played back", caller
        )
        await until(caller.done_talking, 15, "the echo to finish", caller)

        assert {"listening", "thinking", "speaking"} <= set(caller.states), caller.states
        assert "listening" in caller.states[caller.states.index("speaking") :], caller.states
        texts = [line.text for line in caller.caller_lines()]
        assert len(texts) == 2 and all(re.fullmatch(r"\(\d+\.\d s of speech\)", t) for t in texts), texts
        # sent by the agent on the caller's behalf, so browsers show them as the caller's
        assert {line.sender for line in caller.caller_lines()} == {identity}
    finally:
        for task in caller.tasks:
            task.cancel()
        await asyncio.gather(*caller.tasks, return_exceptions=True)
        await caller.room.disconnect()

    agent_identity = caller.agent.identity if caller.agent else ""
    deadline = time.monotonic() + 10
    while agent_identity in await participants(server, room_name):
        assert time.monotonic() < deadline, "the agent stayed in the room after the caller left"
        await asyncio.sleep(0.2)


T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a fresh event loop in its own thread.

    Browser tests in the same session leave Playwright's loop running on the main
    thread, where ``asyncio.run`` refuses to start another.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.mark.e2e
def test_demo_agent_greets_hears_and_echoes_a_caller(
    livekit_server: Any, demo_agent: Any, tmp_path: Path
) -> None:
    """One call end to end, then the worker's log: the job was logged and no secret leaked."""
    phrase = np.concatenate([espeak_samples(CALLER_PHRASE, tmp_path), np.zeros(SAMPLE_RATE, dtype=np.int16)])
    early_words = espeak_samples(PRECONNECT_PHRASE, tmp_path)
    run_async(asyncio.wait_for(call_the_agent(livekit_server, phrase, early_words), 40))

    log = demo_agent.log()
    assert "job " in log and "started for room demo-test-" in log
    assert livekit_server.api_secret not in log


def test_greeting_fills_variables_and_survives_bad_metadata() -> None:
    """`{{name}}` comes from variables; junk metadata falls back to the default greeting."""
    metadata = json.dumps({"greeting": "Hi {{ name }}, from {{company}}!", "variables": {"name": "Ada"}})
    assert greeting_from_metadata(metadata) == "Hi Ada, from!"
    assert greeting_from_metadata("") == DEFAULT_GREETING
    assert greeting_from_metadata("not json") == DEFAULT_GREETING
    assert greeting_from_metadata(json.dumps({"greeting": 3})) == DEFAULT_GREETING


def test_espeak_wav_from_a_pipe_is_parsed_and_resampled() -> None:
    """espeak-ng's --stdout WAV (with bogus sizes) parses; resampling keeps the duration."""
    wav = subprocess.run(["espeak-ng", "--stdout", "hello"], check=True, capture_output=True).stdout
    samples, rate = parse_wav(wav)
    assert rate == 22050 and samples.size > rate // 4
    assert abs(resample(samples, rate).size / SAMPLE_RATE - samples.size / rate) < 0.001


def test_turn_detector_cuts_an_utterance_out_of_silence() -> None:
    """100 ms above -45 dBFS starts a turn, 700 ms below ends it."""
    detector = TurnDetector()
    tone = (3000 * np.sin(2 * np.pi * 220 * np.arange(int(1.5 * SAMPLE_RATE)) / SAMPLE_RATE)).astype(np.int16)
    audio = np.concatenate([np.zeros(SAMPLE_RATE, np.int16), tone, np.zeros(SAMPLE_RATE, np.int16)])
    utterances = [u for chunk in np.array_split(audio, 97) for u in detector.push(chunk)]
    assert len(utterances) == 1
    assert utterances[0].speech_s == pytest.approx(1.5, abs=0.03)
    assert utterances[0].samples.size / SAMPLE_RATE == pytest.approx(1.5 + 0.2 + 0.2, abs=0.03)
    assert level_dbfs(tone) == pytest.approx(-23.8, abs=0.2) and not detector.in_speech


def test_chime_is_audible() -> None:
    """The fallback for a machine without espeak-ng is loud enough to be heard and seen."""
    assert level_dbfs(chime()) > -30


def test_preconnect_buffer_decodes_webm_opus_and_rejects_garbage() -> None:
    """A MediaRecorder-style WebM/Opus buffer decodes to its duration; junk raises ValueError."""
    tone = (8000 * np.sin(2 * np.pi * 330 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.int16)
    decoded = run_async(decode_audio(webm_opus(tone), "audio/webm;codecs=opus", 48000, 1))
    assert decoded.size / SAMPLE_RATE == pytest.approx(1.0, abs=0.05)
    assert level_dbfs(decoded) == pytest.approx(level_dbfs(tone), abs=1.5)
    with pytest.raises(ValueError):
        run_async(decode_audio(b"\x1aE\xdf\xa3 not really webm" * 20, "audio/webm;codecs=opus", 48000, 1))


def test_settings_name_every_problem_and_hide_the_secret() -> None:
    """Missing settings are reported together; the secret never shows in a repr."""
    with pytest.raises(SettingsError) as error:
        AgentSettings.from_env({"LIVEKIT_URL": "http://x", "WEBCALL_DEMO_AGENT_MAX_CALLS": "0"})
    for problem in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "MAX_CALLS"):
        assert problem in str(error.value)
    env = {"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "hush-hush"}
    settings = AgentSettings.from_env(env)
    assert settings.agent_name == AGENT_NAME and "hush-hush" not in repr(settings)
