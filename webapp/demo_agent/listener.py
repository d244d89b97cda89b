"""Hearing the caller: live audio and the pre-connect buffer in, finished turns out."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import numpy as np
from livekit import rtc

from .preconnect import PreconnectAudio
from .status import CallStatus
from .turns import SAMPLE_RATE, SILENCE_DBFS, TurnConfig, TurnDetector, Utterance
from .voice import AgentVoice

logger = logging.getLogger(__name__)

REPORT_INTERVAL_S = 1.0  # how often tallies are republished while the caller talks


@dataclass(frozen=True)
class CallerTurn:
    """An utterance and the caller track it came from (for transcript attribution)."""

    utterance: Utterance
    track_sid: str


class CallerListener:
    """Measures the caller's audio, cuts it into turns and keeps the running tallies."""

    def __init__(self, status: CallStatus, voice: AgentVoice, config: TurnConfig | None = None):
        """Report tallies to `status`; ignore turns while `voice` is speaking."""
        self._status = status
        self._voice = voice
        self._detector = TurnDetector(config)
        self._heard_s = 0.0
        self._preconnect_peak = SILENCE_DBFS
        self._last_report = 0.0
        self.turns: asyncio.Queue[CallerTurn] = asyncio.Queue()

    @property
    def peak_dbfs(self) -> float:
        """The loudest 20 ms window heard from the caller, live or pre-connect."""
        return max(self._detector.peak_dbfs, self._preconnect_peak)

    async def listen(self, track: rtc.Track, track_sid: str) -> None:
        """Consume `track` until it ends or this task is cancelled."""
        stream = rtc.AudioStream.from_track(track=track, sample_rate=SAMPLE_RATE, num_channels=1)
        try:
            async for event in stream:
                self.hear(np.frombuffer(event.frame.data, dtype=np.int16), track_sid)
        finally:
            await stream.aclose()

    def hear(self, samples: np.ndarray, track_sid: str) -> None:
        """Take in live caller samples (48 kHz mono int16)."""
        for utterance in self._detector.push(samples, detect=not self._voice.speaking):
            self._take_turn(utterance, track_sid)
        now = time.monotonic()
        if self._detector.in_speech and now - self._last_report >= REPORT_INTERVAL_S:
            self._last_report = now
            total_s = self._heard_s + self._detector.current_speech_s
            self._status.record_caller_audio(total_s, self.peak_dbfs)
            logger.debug("caller is speaking: %.2f s heard so far", total_s)

    def hear_preconnect(self, audio: PreconnectAudio) -> None:
        """Take in a pre-connect buffer; speech in it becomes the caller's first turn."""
        if audio.samples is None:
            self._status.record_preconnect(audio.byte_count, None, None)
            return
        detector = TurnDetector(self._detector.config)
        utterances = detector.push(audio.samples)
        if (last := detector.flush()) is not None:
            utterances.append(last)
        duration_s = audio.samples.size / SAMPLE_RATE
        self._preconnect_peak = detector.peak_dbfs
        self._status.record_preconnect(audio.byte_count, duration_s, detector.peak_dbfs)
        logger.info(
            "pre-connect buffer: %d bytes, %.2f s, peak %.1f dBFS, %d utterance(s)",
            audio.byte_count,
            duration_s,
            detector.peak_dbfs,
            len(utterances),
        )
        if utterances:
            # all of it was said before we could answer, so it is one turn
            merged = Utterance(
                samples=np.concatenate([u.samples for u in utterances]),
                speech_s=round(sum(u.speech_s for u in utterances), 3),
                peak_dbfs=max(u.peak_dbfs for u in utterances),
            )
            self._take_turn(merged, audio.track_id)

    def _take_turn(self, utterance: Utterance, track_sid: str) -> None:
        """Count a finished utterance, publish the tallies and queue it for a reply."""
        self._heard_s += utterance.speech_s
        self._status.record_caller_audio(self._heard_s, self.peak_dbfs)
        logger.info(
            "caller said %.2f s (heard %.2f s in total, peak %.1f dBFS)",
            utterance.speech_s,
            self._heard_s,
            self.peak_dbfs,
        )
        self.turns.put_nowait(CallerTurn(utterance, track_sid))
