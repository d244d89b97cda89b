"""Energy-based turn detection: cut a caller's audio into utterances by loudness alone."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 48000
WINDOW_S = 0.02  # levels are measured, and turns decided, on 20 ms windows
SILENCE_DBFS = -120.0


@dataclass(frozen=True)
class TurnConfig:
    """Thresholds for deciding when a caller starts and stops talking."""

    threshold_dbfs: float = -45.0
    start_s: float = 0.1  # this long above the threshold starts an utterance
    end_s: float = 0.7  # this long below it ends one
    preroll_s: float = 0.3  # audio kept from before the start, so onsets aren't clipped
    tail_s: float = 0.2  # silence kept after the last loud window
    max_utterance_s: float = 20.0  # a caller who never pauses is cut here


@dataclass(frozen=True)
class Utterance:
    """One stretch of caller speech, as 48 kHz mono int16 samples."""

    samples: np.ndarray
    speech_s: float  # from the first to the last loud window
    peak_dbfs: float


def level_dbfs(samples: np.ndarray) -> float:
    """Return the RMS level of int16 `samples` in dBFS (a full-scale square wave is 0)."""
    if samples.size == 0:
        return SILENCE_DBFS
    rms = math.sqrt(float(np.mean(np.square(samples.astype(np.float64) / 32768.0))))
    return max(20.0 * math.log10(rms), SILENCE_DBFS) if rms > 0 else SILENCE_DBFS


class TurnDetector:
    """Feed caller audio in any chunk size; get back the utterances it completes."""

    def __init__(self, config: TurnConfig | None = None, sample_rate: int = SAMPLE_RATE) -> None:
        """Start idle, with no audio buffered."""
        self.config = config or TurnConfig()
        self._window = int(sample_rate * WINDOW_S)
        self._pending = np.zeros(0, dtype=np.int16)
        # (window, level) pairs from just before an utterance starts
        self._preroll: deque[tuple[np.ndarray, float]] = deque(maxlen=round(self.config.preroll_s / WINDOW_S))
        self._loud_run = 0  # consecutive loud windows while idle
        self._windows: list[np.ndarray] = []  # the utterance in progress, if any
        self._levels: list[float] = []
        self._loud_end = 0  # index just past the last loud window of the utterance
        self._speech_start = 0
        self.peak_dbfs = SILENCE_DBFS  # loudest window ever seen, speaking or not

    @property
    def in_speech(self) -> bool:
        """True while an utterance is in progress."""
        return bool(self._windows)

    @property
    def current_speech_s(self) -> float:
        """Seconds of speech in the utterance in progress so far (0 when idle)."""
        return max(self._loud_end - self._speech_start, 0) * WINDOW_S if self._windows else 0.0

    def push(self, samples: np.ndarray, *, detect: bool = True) -> list[Utterance]:
        """Add audio; return utterances that ended. With `detect=False` only levels are kept."""
        self._pending = np.concatenate([self._pending, samples.astype(np.int16)])
        finished: list[Utterance] = []
        while self._pending.size >= self._window:
            window, self._pending = self._pending[: self._window], self._pending[self._window :]
            level = level_dbfs(window)
            self.peak_dbfs = max(self.peak_dbfs, level)
            if not detect:
                self.reset()
                continue
            if (utterance := self._step(window, level)) is not None:
                finished.append(utterance)
        return finished

    def flush(self) -> Utterance | None:
        """End the utterance in progress now (the audio ran out); None if there was none."""
        return self._finish() if self._windows else None

    def reset(self) -> None:
        """Forget any utterance in progress, e.g. while the agent itself is talking."""
        self._preroll.clear()
        self._loud_run, self._windows, self._levels = 0, [], []

    def _step(self, window: np.ndarray, level: float) -> Utterance | None:
        """Advance the state machine by one window."""
        loud = level >= self.config.threshold_dbfs
        if not self._windows:
            self._preroll.append((window, level))
            self._loud_run = self._loud_run + 1 if loud else 0
            if self._loud_run * WINDOW_S >= self.config.start_s - 1e-9:
                self._windows = [kept for kept, _ in self._preroll]
                self._levels = [kept_level for _, kept_level in self._preroll]
                self._speech_start = len(self._windows) - self._loud_run
                self._loud_end = len(self._windows)
                self._preroll.clear()
            return None
        self._windows.append(window)
        self._levels.append(level)
        if loud:
            self._loud_end = len(self._windows)
        quiet_s = (len(self._windows) - self._loud_end) * WINDOW_S
        spoken_s = (len(self._windows) - self._speech_start) * WINDOW_S
        too_long = spoken_s >= self.config.max_utterance_s
        if quiet_s >= self.config.end_s - 1e-9 or too_long:
            return self._finish()
        return None

    def _finish(self) -> Utterance:
        """Close the utterance in progress and return it."""
        keep = min(len(self._windows), self._loud_end + round(self.config.tail_s / WINDOW_S))
        utterance = Utterance(
            samples=np.concatenate(self._windows[:keep]),
            speech_s=round((self._loud_end - self._speech_start) * WINDOW_S, 3),
            peak_dbfs=max(self._levels),
        )
        self.reset()
        return utterance
