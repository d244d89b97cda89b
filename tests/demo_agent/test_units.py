"""The demo agent's pure pieces: greeting, WAV parsing, pre-connect decoding, settings.

Calls through a real LiveKit server (turns, barge-in, goodbye) are in
`tests/demo_agent/test_conversation.py`; recognition and turn-taking in `tests/demo_agent/`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.demo_agent.caller import webm_opus
from tests.support.aio import run_async
from tests.support.processes import ROOT
from webapp.demo_agent.greeting import DEFAULT_GREETING, greeting_from_metadata, max_call_s_from_metadata
from webapp.demo_agent.preconnect import decode_audio
from webapp.demo_agent.settings import AgentSettings, SettingsError
from webapp.demo_agent.speech import chime, parse_wav, resample
from webapp.demo_agent.transcripts import AgentLine
from webapp.demo_agent.turns import level_dbfs
from webapp.demo_agent.voice import SAMPLE_RATE, AgentVoice, Playback
from webapp.demo_agent.worker import in_turn

AGENT_NAME = "webcall-demo"
SETTINGS_ENV = {"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "shh-shh"}


def test_greeting_fills_variables_and_survives_bad_metadata() -> None:
    """`{{name}}` comes from variables; junk metadata falls back to the default greeting."""
    metadata = json.dumps({"greeting": "Hi {{ name }}, from {{company}}!", "variables": {"name": "Ada"}})
    assert greeting_from_metadata(metadata) == "Hi Ada, from!"
    assert greeting_from_metadata("") == DEFAULT_GREETING
    assert greeting_from_metadata("not json") == DEFAULT_GREETING
    assert greeting_from_metadata(json.dumps({"greeting": 3})) == DEFAULT_GREETING


def test_max_call_s_comes_from_metadata_when_it_is_a_positive_number() -> None:
    """The time limit the app put in the dispatch; anything else means no limit."""
    assert max_call_s_from_metadata(json.dumps({"max_call_s": 600})) == 600.0
    for bad in ("", "not json", "[]", json.dumps({"max_call_s": "600"}), json.dumps({"max_call_s": 0})):
        assert max_call_s_from_metadata(bad) is None
    # Python's JSON reads NaN and Infinity: NaN said "We are out of time" right after the greeting.
    for bad in ('{"max_call_s": NaN}', '{"max_call_s": Infinity}', '{"max_call_s": -Infinity}'):
        assert max_call_s_from_metadata(bad) is None


def test_espeak_wav_from_a_pipe_is_parsed_and_resampled() -> None:
    """espeak-ng's --stdout WAV (with bogus sizes) parses; resampling keeps the duration."""
    wav = subprocess.run(["espeak-ng", "--stdout", "hello"], check=True, capture_output=True).stdout
    samples, rate = parse_wav(wav)
    assert rate == 22050 and samples.size > rate // 4
    assert abs(resample(samples, rate).size / SAMPLE_RATE - samples.size / rate) < 0.001


def test_chime_is_audible() -> None:
    """The fallback for a machine without espeak-ng is loud enough to be heard and seen."""
    assert level_dbfs(chime()) > -30


def test_preconnect_buffer_decodes_webm_opus_and_rejects_garbage() -> None:
    """A MediaRecorder-style WebM/Opus buffer decodes to 16 kHz, its duration kept; junk raises."""
    tone = (8000 * np.sin(2 * np.pi * 330 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.int16)
    decoded = run_async(decode_audio(webm_opus(tone), "audio/webm;codecs=opus", 48000, 1))
    assert decoded.size / 16000 == pytest.approx(1.0, abs=0.05)
    assert level_dbfs(decoded) == pytest.approx(level_dbfs(tone), abs=1.5)
    with pytest.raises(ValueError):
        run_async(decode_audio(b"\x1aE\xdf\xa3 not really webm" * 20, "audio/webm;codecs=opus", 48000, 1))


@pytest.mark.parametrize(("rate", "channels"), [(1, 1), (20, 1), (1_000_000, 1), (48000, 0), (48000, 64)])
def test_a_pre_connect_buffer_the_page_describes_oddly_is_refused_not_resampled(
    rate: int, channels: int
) -> None:
    """The page names the raw buffer's rate and channels: 100 kB at sampleRate 1 asked for 6 GiB
    (in the loop every call of the worker shares) and ended in MemoryError, which nobody caught."""
    with pytest.raises(ValueError, match="bad stream attributes"):
        run_async(decode_audio(b"\x00\x01" * 50_000, "audio/pcm", rate, channels))
    assert run_async(decode_audio(b"\x00\x01" * 48_000, "audio/pcm", 48000, 1)).size == 16000


def test_settings_name_every_problem_and_hide_the_secret() -> None:
    """Missing settings are reported together; the secret never shows in a repr."""
    with pytest.raises(SettingsError) as error:
        AgentSettings.from_env({"LIVEKIT_URL": "localhost:7880", "WEBCALL_DEMO_AGENT_MAX_CALLS": "0"})
    for problem in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "MAX_CALLS"):
        assert problem in str(error.value)
    env = {"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "hush-hush"}
    settings = AgentSettings.from_env(env)
    assert settings.agent_name == AGENT_NAME and "hush-hush" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBCALL_DEMO_AGENT_HEALTH_PORT", "70000"),
        ("WEBCALL_DEMO_AGENT_HEALTH_PORT", "-1"),
        ("LIVEKIT_URL", "ftp://127.0.0.1:7880"),
        ("LIVEKIT_URL", "127.0.0.1:7880"),
        ("LIVEKIT_URL", "ws://"),
        ("LIVEKIT_URL", "ws://127.0.0.1:78800"),
        ("LIVEKIT_URL", "ws://127.0.0.1:7880\nINFO all is well"),
    ],
)
def test_a_setting_out_of_range_stops_the_agent_at_start_up_with_one_line(name: str, value: str) -> None:
    """The worker refuses at once, in one line naming the variable; a health port of 70000 or a
    URL without a host used to pass here and fail later, inside livekit-agents."""
    env = {**os.environ, **SETTINGS_ENV, name: value}
    argv = [sys.executable, "-m", "webapp.demo_agent"]
    started = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert started.returncode == 2, started.stderr[-2000:]
    assert len(started.stderr.splitlines()) == 1 and name in started.stderr, started.stderr


def test_a_livekit_url_as_the_app_takes_it_is_taken() -> None:
    """http(s):// as well as ws(s)://, as the app's LIVEKIT_URL (livekit-agents connects to either)."""
    for url in ("ws://127.0.0.1:7880", "wss://example.livekit.cloud", "https://example.livekit.cloud/"):
        assert AgentSettings.from_env({**SETTINGS_ENV, "LIVEKIT_URL": url}).url == url
    highest = AgentSettings.from_env({**SETTINGS_ENV, "WEBCALL_DEMO_AGENT_HEALTH_PORT": "65535"})
    assert highest.health_port == 65535


class BrokenStream:
    """A transcript stream whose writes fail after the first, as at shutdown (the FFI is gone)."""

    def __init__(self) -> None:
        self.written: list[str] = []

    async def write(self, text: str) -> None:
        if self.written:
            raise AssertionError  # what livekit.rtc raises once its handle is invalid
        self.written.append(text)

    async def aclose(self, attributes: dict[str, str] | None = None) -> None:
        return None


def test_a_transcript_line_whose_stream_breaks_stops_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A line still being paced when the room or the process goes away ends with one warning,
    not an exception nobody retrieves (asyncio printed its traceback at every Ctrl-C)."""
    stream = BrokenStream()

    class Participant:
        async def stream_text(self, **_: object) -> BrokenStream:
            return stream

    async def speak() -> asyncio.Task[None] | None:
        line = AgentLine(Participant(), "TR_agent", "one two three four five")  # type: ignore[arg-type]
        await line.start(0.1)
        await asyncio.sleep(0.3)  # past every word's time: the pacer has tried them all
        return line._pacer

    pacer = run_async(speak())
    assert pacer is not None and pacer.done() and pacer.exception() is None
    assert stream.written == ["one"]
    assert "could not write a transcript line" in caplog.text


def test_launches_take_turns_but_none_waits_past_its_limit(caplog: pytest.LogCaptureFixture) -> None:
    """Calls are launched one at a time (livekit-agents' pool gave one call's job runner to
    another, which left a room without the agent), yet a launch stuck waiting for an assignment
    that never comes holds the next call for `wait_s` only (LiveKit gives up on a call whose
    answer takes about 3 s; each queued call would have been lost)."""

    async def launches() -> tuple[list[str], list[bool], float]:
        lock, events, held = asyncio.Lock(), [], []

        async def launch(name: str, takes_s: float, wait_s: float) -> None:
            async with in_turn(lock, wait_s, name) as turn:
                held.append(turn)
                events.append(f"{name} starts")
                await asyncio.sleep(takes_s)
                events.append(f"{name} done")

        await asyncio.gather(launch("a", 0.05, 1.0), launch("b", 0.05, 1.0))
        stuck = asyncio.create_task(launch("stuck", 5.0, 1.0))
        await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        await launch("next", 0.0, 0.2)
        waited = asyncio.get_running_loop().time() - started
        stuck.cancel()
        await asyncio.gather(stuck, return_exceptions=True)
        await launch("after", 0.0, 0.2)  # the stuck one's turn was given back
        return events, held, waited

    events, held, waited = run_async(launches())
    assert events[:4] == ["a starts", "a done", "b starts", "b done"]
    assert events[4:] == ["stuck starts", "next starts", "next done", "after starts", "after done"]
    assert held == [True, True, True, False, True]
    assert 0.2 <= waited < 1.0
    assert "launching room next alongside it" in caplog.text


def test_a_clip_cut_in_the_middle_of_a_frame_lets_the_next_one_play() -> None:
    """The voice cut a clip by cancelling its task, often while LiveKit still held the frame
    being captured: the next clip's first frame then failed ("InvalidState - failed to capture
    frame"), and the agent's next line (a time limit's goodbye, the answer after a barge-in)
    was never said. Cut clips end at once, and the next ones play whole."""

    async def cut_then_play() -> list[tuple[Playback, Playback, float]]:
        voice = AgentVoice(None)  # type: ignore[arg-type]
        clip = np.zeros(SAMPLE_RATE // 2, dtype=np.int16)  # 0.5 s
        rounds = []
        try:
            for _ in range(5):
                playing = asyncio.create_task(voice.play(clip))
                await asyncio.sleep(0.2)
                cut_at = voice.stop()
                cut = await playing
                returned_after_s = time.monotonic() - cut_at
                assert not voice.speaking
                rounds.append((cut, await voice.play(clip[: SAMPLE_RATE // 10]), returned_after_s))
        finally:
            await voice.aclose()
        return rounds

    for cut, whole, returned_after_s in run_async(cut_then_play()):
        assert cut.interrupted and 0.15 < cut.played_s < 0.45, cut
        assert returned_after_s < 0.1
        assert not whole.interrupted and whole.played_s == whole.duration_s == 0.1, whole
