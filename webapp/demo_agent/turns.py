"""Turn-taking: cut the caller's audio into utterances with a voice-activity detector.

The detector is Silero VAD as shipped inside `livekit-local-inference` (a dependency of
livekit-agents, model included, no download): one speech probability per 32 ms window of
16 kHz audio. `TurnTaker` turns those probabilities into "the caller started talking"
(quickly: that is also what interrupts the agent) and "the caller's turn is over".

With push-to-talk the caller says when a turn starts and ends (`begin` and `end`, called
for the page's `start_turn` and `end_turn`): no detector runs and silence ends nothing, but
`max_turn_s` still does, as if `end_turn` had come (a page that never sends it must not hold
the turn for ever). The page opens its microphone as it calls `start_turn`, and the call can
arrive after the first audio, so a turn starts with the pre-roll (the last 0.3 s). Audio
older than that, between turns, is only measured: it should be silence, since the page mutes
it (except for the packets still in flight when a turn ends, which are not counted).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000  # what the VAD and the recogniser take
WINDOW = 512  # samples per VAD window (32 ms)
WINDOW_S = WINDOW / SAMPLE_RATE
SILENCE_DBFS = -120.0
IN_FLIGHT_S = 0.5  # manual turns: audio this soon after a turn's end was sent before it


@dataclass(frozen=True)
class TurnConfig:
    """How sure, and for how long, before a turn starts or ends."""

    activation: float = 0.5  # speech probability that counts as speech
    deactivation: float = 0.35  # below this it counts as silence (hysteresis)
    start_s: float = 0.096  # this much speech starts a turn (and barges in on the agent)
    end_s: float = 0.5  # this much silence ends one
    preroll_s: float = 0.3  # audio kept from before the start, so onsets aren't clipped
    max_turn_s: float = 20.0  # a caller who never pauses (or never lets go of push-to-talk) is cut here


@dataclass(frozen=True)
class Started:
    """The caller started talking; `onset` is the sample where speech began."""

    onset: int
    start: int  # the sample `audio` starts at (the pre-roll comes first)
    audio: np.ndarray  # the pre-roll and the speech so far


@dataclass(frozen=True)
class Speech:
    """More audio of the turn in progress; `voiced` when the caller is heard in it (not a pause)."""

    audio: np.ndarray
    voiced: bool = True


@dataclass(frozen=True)
class Ended:
    """The caller's turn is over; `end` is the sample where the speech stopped."""

    end: int
    speech_s: float


Event = Started | Speech | Ended


def level_dbfs(samples: np.ndarray) -> float:
    """Return the RMS level of int16 `samples` in dBFS (a full-scale square wave is 0)."""
    if samples.size == 0:
        return SILENCE_DBFS
    rms = math.sqrt(float(np.mean(np.square(samples.astype(np.float64) / 32768.0))))
    return max(20.0 * math.log10(rms), SILENCE_DBFS) if rms > 0 else SILENCE_DBFS


def _no_vad(window: np.ndarray) -> float:
    """No detector: manual turns never ask."""
    return 0.0


def silero_vad() -> Callable[[np.ndarray], float]:
    """A fresh Silero VAD stream: 512 int16 samples in, speech probability out."""
    from livekit.local_inference import VAD

    model = VAD()
    return lambda window: float(model.predict(window))


class TurnTaker:
    """Feed 16 kHz audio in any chunk size; get back what happened, window by window."""

    def __init__(
        self,
        vad: Callable[[np.ndarray], float] | None = None,
        config: TurnConfig | None = None,
        *,
        manual: bool = False,
    ) -> None:
        """Use `vad` (default: Silero) with `config` thresholds; `manual`: turns by `begin`/`end`."""
        self.config = config or TurnConfig()
        self.manual = manual
        self._vad = vad or (_no_vad if manual else silero_vad())
        self._pending = np.zeros(0, dtype=np.int16)
        self._position = 0  # samples consumed so far
        self._preroll: deque[np.ndarray] = deque(maxlen=round(self.config.preroll_s / WINDOW_S))
        self._run: list[np.ndarray] = []  # speech windows while not yet started
        self._in_turn = False
        self._turn_start = 0
        self._speech_end = 0  # sample just past the last speech window of the turn
        self._silent_windows = 0
        self.peak_dbfs = SILENCE_DBFS  # loudest window ever seen
        self.turn_peak_dbfs = SILENCE_DBFS  # loudest window of the turn in progress (or the last)
        self.idle_peak_dbfs = SILENCE_DBFS  # manual turns: loudest window heard between turns
        self._idle_windows = 0  # manual turns: windows since the last turn ended

    @property
    def in_turn(self) -> bool:
        """True while the caller is talking (or pausing within a turn)."""
        return self._in_turn

    @property
    def position(self) -> int:
        """How many samples have been consumed."""
        return self._position

    def push(self, samples: np.ndarray) -> list[Event]:
        """Add audio; return the events it caused, in order."""
        self._pending = np.concatenate([self._pending, samples.astype(np.int16)])
        events: list[Event] = []
        while self._pending.size >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            level = level_dbfs(window)
            self.peak_dbfs = max(self.peak_dbfs, level)
            if self._in_turn:
                self.turn_peak_dbfs = max(self.turn_peak_dbfs, level)
            if self.manual and self._in_turn:
                events += self._hold(window)
            elif self.manual:
                self._measure_idle()
                self._preroll.append(window)
            else:
                events += self._step(window, self._vad(window))
            self._position += WINDOW
        return events

    def _measure_idle(self) -> None:
        """Manual turns: the oldest window leaving the pre-roll was heard between turns."""
        self._idle_windows += 1
        evicted = self._idle_windows - (self._preroll.maxlen or 0)  # its number since the turn's end
        if len(self._preroll) == self._preroll.maxlen and evicted * WINDOW_S > IN_FLIGHT_S:
            self.idle_peak_dbfs = max(self.idle_peak_dbfs, level_dbfs(self._preroll[0]))

    def begin(self) -> Started:
        """Manual turns: the caller starts talking now; the turn takes the pre-roll with it."""
        preroll = [*self._preroll]
        self._preroll.clear()
        audio = np.concatenate(preroll) if preroll else np.zeros(0, dtype=np.int16)
        onset = self._position - audio.size
        self._in_turn, self._turn_start, self._speech_end = True, onset, self._position
        self.turn_peak_dbfs = max((level_dbfs(window) for window in preroll), default=SILENCE_DBFS)
        return Started(onset, onset, audio)

    def end(self) -> Ended:
        """Manual turns: the caller has finished, whatever the audio says.

        The part-window still pending (under 32 ms, heard before the release) ends with it.
        """
        self._position += self._pending.size
        self._pending = self._pending[:0]
        self._speech_end = self._position
        self._idle_windows = 0
        return self._end()

    def _hold(self, window: np.ndarray) -> list[Event]:
        """Manual turns: one more window of the turn, which `max_turn_s` ends as `end` would."""
        events: list[Event] = [Speech(window)]
        if (self._position + WINDOW - self._turn_start) / SAMPLE_RATE >= self.config.max_turn_s:
            self._speech_end = self._position + WINDOW
            self._idle_windows = 0
            events.append(self._end())
        return events

    def flush(self) -> list[Event]:
        """The audio ran out: end the turn in progress, if any."""
        return [self._end()] if self._in_turn else []

    def _step(self, window: np.ndarray, probability: float) -> list[Event]:
        """Advance the state machine by one window."""
        config = self.config
        if not self._in_turn:
            if probability < config.activation:
                self._preroll.extend(self._run)
                self._run = []
                self._preroll.append(window)
                return []
            self._run.append(window)
            if len(self._run) * WINDOW_S < config.start_s - 1e-9:
                return []
            onset = self._position + WINDOW - len(self._run) * WINDOW
            audio = np.concatenate([*self._preroll, *self._run])
            self._in_turn, self._turn_start, self._speech_end = True, onset, self._position + WINDOW
            self._silent_windows, self._run = 0, []
            self._preroll.clear()
            return [Started(onset, self._position + WINDOW - audio.size, audio)]
        events: list[Event] = [Speech(window, voiced=probability >= config.deactivation)]
        if probability >= config.deactivation:
            self._silent_windows = 0
            self._speech_end = self._position + WINDOW
        else:
            self._silent_windows += 1
        too_long = (self._position + WINDOW - self._turn_start) / SAMPLE_RATE >= config.max_turn_s
        if self._silent_windows * WINDOW_S >= config.end_s - 1e-9 or too_long:
            events.append(self._end())
        return events

    def _end(self) -> Ended:
        """Close the turn in progress."""
        self._in_turn = False
        self._silent_windows = 0
        return Ended(self._speech_end, round((self._speech_end - self._turn_start) / SAMPLE_RATE, 3))
