"""The listener with the real recogniser process: turns cut from one chunk of audio."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.demo_agent.test_understanding import through_opus_16k
from webapp.demo_agent.hearing import Hearing
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


def test_two_turns_in_one_preconnect_buffer_both_get_their_words(tmp_path: Path) -> None:
    """A caller who says two things before the agent joins: the buffer arrives in one piece, so
    the first turn ends and the second begins in one pass, and both are recognised (the first
    turn's end used to reach the recogniser after the second's start, which dropped it)."""
    gap = np.zeros(SAMPLE_RATE * 4 // 10, dtype=np.int16)  # with the phrase's own 0.5 s: a turn's end
    hello, ask = (through_opus_16k(text, tmp_path, 150) for text in ("Hello there.", "What time is it?"))
    audio = np.concatenate([hello, gap, ask])

    async def hear_all() -> list[CallerTurn]:
        listener: CallerListener | None = None
        hearing = Hearing(lambda utterance, text: listener and listener.on_partial(utterance, text))
        await hearing.start()
        try:
            listener = CallerListener(None, Tally(), QuietVoice(), hearing, lambda onset: None)  # type: ignore[arg-type]
            listener.hear(audio, time.monotonic(), preconnect=True)
            return [await asyncio.wait_for(listener.turns.get(), 60) for _ in range(2)]
        finally:
            await hearing.aclose()

    first, second = asyncio.run(hear_all())
    assert "hello" in first.recognition.text, first
    assert "time" in second.recognition.text, second


def test_a_blip_of_audio_is_no_words_not_a_crash() -> None:
    """A turn of a few milliseconds: pocketsphinx has no segments for it (None), which killed the
    recogniser process, and with it every later turn of the call."""
    recognizer = SpeechRecognizer(domain_corpus())
    for samples in (80, 800, 1600):
        recognizer.start()
        recognizer.feed(np.full(samples, 2000, dtype=np.int16).tobytes())
        assert recognizer.finish().words == []
