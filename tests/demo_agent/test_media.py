"""The demo agent's media pieces: what the dispatch asks, manual turns, and the avatar's frames.

Calls through a real LiveKit server and Chromium (an avatar seen on the page, a camera
received, push-to-talk turns) are in tests/e2e/test_media.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from webapp.demo_agent.avatar import BACKGROUND, COLOURS, SIZE, AvatarPainter
from webapp.demo_agent.media import CallMedia, media_from_metadata
from webapp.demo_agent.turns import WINDOW, Ended, Speech, Started, TurnTaker, level_dbfs


@pytest.mark.parametrize(
    ("metadata", "media"),
    [
        ("", CallMedia()),
        ("not json", CallMedia()),
        ("[1]", CallMedia()),
        (json.dumps({"mode": "text"}), CallMedia(mode="text")),
        (json.dumps({"mode": "video", "push_to_talk": "yes"}), CallMedia()),
        (json.dumps({"push_to_talk": True, "avatar": True}), CallMedia(push_to_talk=True, avatar=True)),
        (json.dumps({"camera": "optional"}), CallMedia(sees=True)),
        (json.dumps({"screen_share": True}), CallMedia(sees=True)),
        (json.dumps({"camera": "off"}), CallMedia()),
    ],
)
def test_the_dispatch_says_what_the_call_carries(metadata: str, media: CallMedia) -> None:
    assert media_from_metadata(metadata) == media


def tone(seconds: float, amplitude: int = 6000) -> np.ndarray:
    """A 16 kHz tone, loud enough to be speech to any meter."""
    t = np.arange(int(16000 * seconds)) / 16000
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def test_manual_turns_start_and_end_when_told_whatever_the_audio_says() -> None:
    """No detector: sound between turns starts nothing, silence in a turn ends nothing."""
    taker = TurnTaker(vad=lambda window: pytest.fail("manual turns ask no detector"), manual=True)
    assert taker.push(np.zeros(16000, dtype=np.int16)) == []
    # The first words can come before start_turn does: the turn takes the last 0.3 s with it.
    assert taker.push(tone(0.1)) == []
    started = taker.begin()
    assert isinstance(started, Started) and started.start == started.onset
    assert taker.position - started.onset == started.audio.size == round(0.3 / 0.032) * WINDOW
    assert level_dbfs(started.audio) > -30
    during = taker.push(np.concatenate([tone(0.5), np.zeros(16000 * 2, dtype=np.int16), tone(0.5)]))
    assert all(isinstance(event, Speech) for event in during)
    # Every window since the press belongs to the turn: two seconds of silence did not end it.
    assert started.audio.size + len(during) * WINDOW == taker.position - started.onset > 16000 * 3.2
    ended = taker.end()
    assert isinstance(ended, Ended) and ended.speech_s == pytest.approx(3.3, abs=0.05)
    assert taker.turn_peak_dbfs > -25 and taker.idle_peak_dbfs == -120.0  # silence before the pre-roll
    taker.push(tone(0.4))  # packets still in flight when the turn ended: not a leak
    assert taker.idle_peak_dbfs == -120.0
    taker.push(tone(1.0, amplitude=300))  # later sound between turns is measured, not heard
    assert not taker.in_turn and -55 < taker.idle_peak_dbfs < -35


def disc_radius(frame: np.ndarray) -> int:
    """The disc's radius along the middle row, in pixels."""
    row = frame[SIZE // 2, SIZE // 2 :, :3]
    return int(np.argmax(np.all(row == BACKGROUND[:3], axis=1)))


def test_the_avatar_draws_the_agents_state_and_voice() -> None:
    painter = AvatarPainter()
    quiet = painter.draw("listening", 0.0, 0.0)
    assert quiet.shape == (SIZE, SIZE, 4) and tuple(quiet[SIZE // 2, SIZE // 2, :3]) == COLOURS["listening"]
    loud = painter.draw("speaking", 0.2, 0.1)
    assert tuple(loud[SIZE // 2, SIZE // 2, :3]) == COLOURS["speaking"]
    assert disc_radius(loud) > disc_radius(quiet) + 20  # the disc grows with the voice
    first, later = painter.draw("thinking", 0.0, 0.0), painter.draw("thinking", 0.0, 0.5)
    assert not np.array_equal(first, later)  # the thinking dot circles
