"""The listener with the real recogniser process: turns cut from one chunk of audio, and a
recogniser that dies mid-call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.demo_agent.test_understanding import through_opus_16k
from webapp.demo_agent import hearing as hearing_module
from webapp.demo_agent.hearing import RECOGNIZER_SCRIPT, Hearing, RecognizerError
from webapp.demo_agent.intents import domain_corpus
from webapp.demo_agent.listener import CallerListener, CallerTurn
from webapp.demo_agent.recognizer import SpeechRecognizer
from webapp.demo_agent.turns import SAMPLE_RATE


class QuietVoice:
    """The agent's voice, not talking (so no caller turn is a barge-in)."""

    speaking = False


class Tally:
    """The call's status report, which this test does not read."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@contextlib.asynccontextmanager
async def listening(
    voice: Any = None, on_barge_in: Any = lambda onset, pause_s: None
) -> AsyncIterator[tuple[CallerListener, Hearing]]:
    """A listener on a running recogniser process, stopped at the end."""
    listener: CallerListener | None = None
    hearing = Hearing(lambda utterance, text: listener and listener.on_partial(utterance, text))
    await hearing.start()
    try:
        listener = CallerListener(None, Tally(), voice or QuietVoice(), hearing, on_barge_in)  # type: ignore[arg-type]
        yield listener, hearing
    finally:
        await hearing.aclose()


def recogniser_pids() -> set[int]:
    """The recogniser processes this test process started that are still running (from /proc)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat, cmdline = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]  # (the name before it may hold spaces)
        if int(parent) == os.getpid() and state != "Z" and str(RECOGNIZER_SCRIPT).encode() in cmdline:
            pids.add(int(entry.name))
    return pids


async def recogniser_gone(pid: int, timeout_s: float = 10.0) -> None:
    """Wait until `pid` has exited and been reaped, so the agent has seen it go."""
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            pytest.fail(f"recogniser {pid} still there {timeout_s} s after it was killed")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)  # the exit reaches the event loop from the child watcher's thread


async def fresh_recogniser(old: set[int], timeout_s: float = 20.0) -> int:
    """Wait for a recogniser process other than `old` to start; return its pid."""
    deadline = time.monotonic() + timeout_s
    while not (new := recogniser_pids() - old):
        if time.monotonic() > deadline:
            pytest.fail(f"no new recogniser started within {timeout_s} s of the old one dying")
        await asyncio.sleep(0.05)
    return new.pop()


def test_two_turns_in_one_preconnect_buffer_both_get_their_words(tmp_path: Path) -> None:
    """A caller who says two things before the agent joins: the buffer arrives in one piece, so
    the first turn ends and the second begins in one pass, and both are recognised (the first
    turn's end used to reach the recogniser after the second's start, which dropped it)."""
    gap = np.zeros(SAMPLE_RATE * 4 // 10, dtype=np.int16)  # with the phrase's own 0.5 s: a turn's end
    hello, ask = (through_opus_16k(text, tmp_path, 150) for text in ("Hello there.", "What time is it?"))
    audio = np.concatenate([hello, gap, ask])

    async def hear_all() -> list[CallerTurn]:
        async with listening() as (listener, hearing):
            listener.hear(audio, time.monotonic(), preconnect=True)
            return [await asyncio.wait_for(listener.turns.get(), 60) for _ in range(2)]

    first, second = asyncio.run(hear_all())
    assert "hello" in first.recognition.text, first
    assert "time" in second.recognition.text, second


def test_the_agent_starting_to_talk_while_the_caller_is_mid_turn_is_cut(tmp_path: Path) -> None:
    """A caller who paused (their turn ended) and went on is mid-turn when the reply to their first
    words starts: the agent talked over them to its line's end, since only a turn's start cut it."""
    speech = through_opus_16k("I would like to hear about your product. Tell me more.", tmp_path, 150)
    voice, cuts = QuietVoice(), []
    chunk = SAMPLE_RATE // 50  # 20 ms, as frames arrive

    async def hear_all() -> None:
        async with listening(voice, lambda onset, pause_s: cuts.append(pause_s)) as (listener, _):
            half = speech.size // 2
            for start in range(0, half, chunk):
                listener.hear(speech[start : start + chunk], time.monotonic())
            assert listener._taker.in_turn and not cuts
            voice.speaking = True  # the reply to an earlier turn starts now
            for start in range(half, speech.size, chunk):
                listener.hear(speech[start : start + chunk], time.monotonic())

    asyncio.run(hear_all())
    assert cuts  # (the real voice stops at the first; this one goes on being "speaking")
    assert set(cuts) == {0.0}, cuts  # more of a turn in progress: no pause before it


def test_a_barge_in_says_how_long_the_caller_was_quiet_before_it(tmp_path: Path) -> None:
    """What the greeting's rule reads (`GREETING_PAUSE_S`): the caller's quiet before the turn that
    cuts in, counted in the audio heard, the pre-connect buffer's included: from the end of a
    turn said into the buffer to one begun live over the agent, and then after a longer pause.
    More of a turn in progress comes with 0; a first turn ever, with no pause to count, `inf`."""
    hello, ask = (through_opus_16k(text, tmp_path, 150) for text in ("Hello there.", "What time is it?"))
    voice, barge_ins = QuietVoice(), []
    chunk = SAMPLE_RATE // 50

    def silence(seconds: float) -> np.ndarray:
        return np.zeros(round(SAMPLE_RATE * seconds), dtype=np.int16)

    def live(audio: np.ndarray, listener: CallerListener) -> None:
        for start in range(0, audio.size, chunk):
            listener.hear(audio[start : start + chunk], time.monotonic())

    async def hear_all() -> None:
        async with listening(voice, lambda onset, pause_s: barge_ins.append(pause_s)) as (listener, _):
            listener.hear(hello, time.monotonic(), preconnect=True)  # its turn ends in the buffer
            voice.speaking = True  # the greeting starts
            live(np.concatenate([silence(0.2), ask]), listener)
            live(np.concatenate([silence(4.0), hello]), listener)

    async def first_ever() -> None:
        voice.speaking = True
        async with listening(voice, lambda onset, pause_s: barge_ins.append(pause_s)) as (listener, _):
            live(ask, listener)

    asyncio.run(hear_all())
    pauses = [pause for pause in barge_ins if pause]
    assert 0.0 in barge_ins  # each voiced chunk of a turn begun over the agent
    # each clip ends in 0.5 s of silence and starts with 0.3 s of it: the pauses are at least
    # what was put between them, and at most a word's start or end the detector left out more
    assert len(pauses) == 2, barge_ins
    assert 1.0 <= pauses[0] < 1.6 and 4.8 <= pauses[1] < 5.5, pauses
    barge_ins.clear()
    asyncio.run(first_ever())
    assert barge_ins[0] == math.inf, barge_ins


def test_a_blip_of_audio_is_no_words_not_a_crash() -> None:
    """A turn of a few milliseconds: pocketsphinx has no segments for it (None), which killed the
    recogniser process, and with it every later turn of the call."""
    recognizer = SpeechRecognizer(domain_corpus())
    for samples in (80, 800, 1600):
        recognizer.start()
        recognizer.feed(np.full(samples, 2000, dtype=np.int16).tobytes())
        assert recognizer.finish().words == []


def test_speech_after_the_recogniser_is_killed_is_still_heard(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A recogniser that dies mid-call (a crash, the OOM killer) is replaced: a turn while it is
    down ends with no words (the agent asks to hear it again) and the next one is recognised; the
    agent used to stay deaf for the rest of the call."""
    hello, ask = (through_opus_16k(text, tmp_path, 150) for text in ("Hello there.", "What time is it?"))

    async def hear_all() -> list[CallerTurn]:
        async with listening() as (listener, hearing):
            listener.hear(hello, time.monotonic())
            turns = [await asyncio.wait_for(listener.turns.get(), 60)]
            (killed,) = recogniser_pids()
            os.kill(killed, signal.SIGKILL)
            await recogniser_gone(killed)
            listener.hear(ask, time.monotonic())  # while no recogniser runs
            turns.append(await asyncio.wait_for(listener.turns.get(), 10))
            await fresh_recogniser({killed})
            await hearing.wait_ready()
            listener.hear(ask, time.monotonic())
            turns.append(await asyncio.wait_for(listener.turns.get(), 60))
            return turns

    with caplog.at_level(logging.INFO, logger=hearing_module.__name__):
        before, during, after = asyncio.run(hear_all())
    assert "hello" in before.recognition.text, before
    assert during.text == "" and during.speech_s > 1, during
    assert "time" in after.recognition.text, after
    deaths = [r for r in caplog.records if r.levelno == logging.WARNING and "died" in r.getMessage()]
    assert len(deaths) == 1, caplog.text


def test_a_recogniser_that_keeps_dying_is_given_up_and_the_call_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Restarts are bounded: once they are used up the error is logged, no other process starts,
    and the caller's turns still end (with no words, which the agent answers by asking again)."""
    monkeypatch.setattr(hearing_module, "MAX_RESTARTS", 1)
    ask = through_opus_16k("What time is it?", tmp_path, 150)

    async def kill_twice_then_talk() -> tuple[CallerTurn, set[int]]:
        async with listening() as (listener, hearing):
            (first,) = recogniser_pids()
            os.kill(first, signal.SIGKILL)
            second = await fresh_recogniser({first})
            await hearing.wait_ready()
            os.kill(second, signal.SIGKILL)
            await recogniser_gone(second)
            await asyncio.sleep(3 * hearing_module.RESTART_BACKOFF_S)  # time for a restart, were there one
            listener.hear(ask, time.monotonic())
            return await asyncio.wait_for(listener.turns.get(), 10), recogniser_pids()

    with caplog.at_level(logging.INFO, logger=hearing_module.__name__):
        turn, running = asyncio.run(kill_twice_then_talk())
    assert running == set()
    assert turn.text == "" and turn.speech_s > 1, turn
    assert [r.levelno for r in caplog.records if "died" in r.getMessage()] == [logging.WARNING, logging.ERROR]


def test_a_recogniser_behind_the_audio_is_waited_for_while_it_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audio sent faster than the recogniser hears it (a loaded machine; 20 s of a held push-to-talk
    at once): its words were given up FINAL_TIMEOUT_S after the utterance's end while the process
    was still at work on it (a clean CI run lost a 20 s turn so). The wait counts from its last
    answer: here about 4 s of work, interim results all along, against a 2.5 s wait."""
    monkeypatch.setattr(hearing_module, "FINAL_TIMEOUT_S", 2.5)
    phrase = through_opus_16k("I would like to hear about your product.", tmp_path, 150)
    audio = np.tile(phrase, int(20 * SAMPLE_RATE / phrase.size) + 1)[: 20 * SAMPLE_RATE]
    partials: list[str] = []

    async def send_at_once() -> tuple[str, float]:
        hearing = Hearing(lambda utterance, text: partials.append(text))
        await hearing.start()
        try:
            await hearing.wait_ready()
            utterance = hearing.begin()
            for start in range(0, audio.size, SAMPLE_RATE // 10):
                hearing.feed(audio[start : start + SAMPLE_RATE // 10].tobytes())
            ended = time.monotonic()
            recognition = await hearing.finish(utterance)
            return recognition.text, time.monotonic() - ended
        finally:
            await hearing.aclose()

    text, waited_s = asyncio.run(send_at_once())
    assert waited_s > hearing_module.FINAL_TIMEOUT_S, f"done in {waited_s:.1f} s: this proves nothing here"
    assert text.count("product") >= 5 and len(partials) > 10, (text, partials)


def test_a_recogniser_that_stops_answering_is_given_up_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that hangs (stopped here) still ends the wait FINAL_TIMEOUT_S after its last answer."""
    monkeypatch.setattr(hearing_module, "FINAL_TIMEOUT_S", 1.0)
    ask = through_opus_16k("What time is it?", tmp_path, 150)

    async def hang_then_wait() -> float:
        hearing = Hearing(lambda utterance, text: None)
        await hearing.start()
        try:
            await hearing.wait_ready()
            (pid,) = recogniser_pids()
            os.kill(pid, signal.SIGSTOP)
            try:
                utterance = hearing.begin()
                hearing.feed(ask.tobytes())
                started = time.monotonic()
                with pytest.raises(RecognizerError, match="did not answer in time"):
                    await hearing.finish(utterance)
                return time.monotonic() - started
            finally:
                os.kill(pid, signal.SIGCONT)
        finally:
            await hearing.aclose()

    assert 0.9 < asyncio.run(hang_then_wait()) < 3.0
