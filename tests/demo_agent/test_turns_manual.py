"""Push-to-talk turns: the caller starts and ends them, and `max_turn_s` ends one never released."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.demo_agent.test_understanding import through_opus_16k
from webapp.demo_agent.hearing import Hearing
from webapp.demo_agent.listener import CallerListener, CallerTurn
from webapp.demo_agent.turns import SAMPLE_RATE, Ended, Speech, TurnConfig, TurnTaker

CHUNK = SAMPLE_RATE // 50  # 20 ms, as the caller's track brings it


class QuietVoice:
    """The agent's voice, not talking (so the turn is no barge-in)."""

    speaking = False


class Tally:
    """The call's status report, which these tests do not read."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def tone(seconds: float) -> np.ndarray:
    """A steady 220 Hz tone (the manual turn-taker runs no detector: any audio is the turn's)."""
    times = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (6000 * np.sin(2 * np.pi * 220 * times)).astype(np.int16)


def test_a_held_turn_ends_at_max_turn_s_as_if_released() -> None:
    """The page never sends `end_turn`: the turn ends at `max_turn_s` (its pre-roll included),
    as a voice-activity turn does, and the audio after it is no longer the turn's."""
    taker = TurnTaker(config=TurnConfig(max_turn_s=2.0), manual=True)
    taker.push(np.zeros(SAMPLE_RATE, dtype=np.int16))  # a second between turns: 0.3 s becomes the pre-roll
    taker.begin()
    audio = tone(5.0)
    events = [
        event for start in range(0, audio.size, CHUNK) for event in taker.push(audio[start : start + CHUNK])
    ]
    ended = [event for event in events if isinstance(event, Ended)]
    assert len(ended) == 1 and not taker.in_turn, events[-3:]
    assert abs(ended[0].speech_s - 2.0) <= 512 / SAMPLE_RATE, ended
    assert not isinstance(events[-1], Speech), "audio after the cap was still sent as the turn's"
    # the next press starts a new turn, which the release ends as usual
    taker.begin()
    taker.push(tone(0.5))
    assert taker.end().speech_s < 1.0


def test_a_turn_never_released_is_answered(tmp_path: Path) -> None:
    """Through the listener and the real recogniser: a caller whose page pressed push-to-talk and
    never sent `end_turn` still gets a turn with words (it used to be held for the rest of the call)."""
    phrase = through_opus_16k("I would like to hear about your product.", tmp_path, 150)
    audio = np.tile(phrase, int(25 * SAMPLE_RATE / phrase.size) + 1)  # longer than max_turn_s

    async def hold_the_button() -> CallerTurn:
        listener: CallerListener | None = None

        def on_partial(utterance: int, text: str) -> None:
            if listener is not None:
                listener.on_partial(utterance, text)

        hearing = Hearing(on_partial)
        await hearing.start()
        try:
            listener = CallerListener(
                None,  # type: ignore[arg-type]
                Tally(),  # type: ignore[arg-type]
                QuietVoice(),  # type: ignore[arg-type]
                hearing,
                lambda onset: None,
                manual_turns=True,
            )
            listener.start_manual_turn()
            for start in range(0, audio.size, CHUNK):
                listener.hear(audio[start : start + CHUNK], time.monotonic())
            return await asyncio.wait_for(listener.turns.get(), 30)
        finally:
            await hearing.aclose()

    turn = asyncio.run(hold_the_button())
    assert abs(turn.speech_s - TurnConfig().max_turn_s) < 0.1, turn
    assert "product" in turn.recognition.text, turn
