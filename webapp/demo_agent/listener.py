"""Hearing the caller: the pre-connect buffer, then the live track, into turns with words.

Audio (16 kHz mono) goes through the turn-taker; each turn is streamed to the
recogniser while the caller talks, its interim words go to the page as they come, and
its final words become a `CallerTurn` for the conversation. Speech that starts while the
agent talks is a barge-in: `on_barge_in` runs at once, with when the speech began and how
long the caller had been quiet before it (the conversation decides whether to stop).
A turn the recogniser cannot hear (it died, and a fresh one is not running yet) still
ends, with no words: the conversation asks the caller to say it again.

Barge-in timing is measured on the agent, from audio timestamps: the caller's audio
arrives in real time, so the speech onset (a sample index found by the VAD) reached the
agent `(samples received - onset) / 16000` seconds before the chunk being processed
arrived. The conversation cuts the voice and reports the time from that onset to the cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from livekit import rtc

from .hearing import Hearing, RecognizerError
from .intents import understand
from .preconnect import PreconnectAudio
from .recognizer import Recognition
from .status import CallStatus
from .transcripts import ATTR_AUDIO_SOURCE, new_segment_id, send_segment
from .turns import SAMPLE_RATE, Ended, Speech, Started, TurnTaker
from .voice import AgentVoice

logger = logging.getLogger(__name__)

# How long to wait for a buffer the caller's track announces (live audio queues meanwhile).
# livekit-agents waits 3 s; the page closes its buffer only once it hears the track is
# subscribed, then sends it, and on a busy machine (a loaded CI run) that can take longer.
# One that comes later still is logged and recorded, but not heard: the live audio has moved on.
PRECONNECT_WAIT_S = 5.0
MIN_UNCLEAR_S = 0.5  # a shorter turn with no words was a noise: ignore it
UNCLEAR_TEXT = "(unclear)"
CANCELLED_TEXT = "(cancelled)"


@dataclass(frozen=True)
class CallerTurn:
    """One finished turn: the caller's words, and where and when they were heard."""

    text: str
    recognition: Recognition
    track_sid: str
    segment_id: str
    audio_source: str  # "preconnect", "live" or "preconnect+live"
    speech_s: float
    ended_at: float  # monotonic time the caller's speech ended (for turn latency)
    sure: bool = False  # whether the words are sure enough to end the call (see intents.understand)


@dataclass
class _Turn:
    """A turn in progress."""

    utterance: int
    segment_id: str
    onset: int
    start: int  # first sample sent to the recogniser
    shown: bool = False  # an interim version is on the page
    final: bool = False
    lost: bool = False  # the recogniser is not hearing it (not running): it ends with no words


class CallerListener:
    """Cuts the caller's audio into turns, recognises them and shows their words."""

    def __init__(
        self,
        participant: rtc.LocalParticipant,
        status: CallStatus,
        voice: AgentVoice,
        hearing: Hearing,
        on_barge_in: Callable[[float, float], None],
        *,
        manual_turns: bool = False,
    ) -> None:
        """Send transcripts as `participant`; interrupt `voice` via `on_barge_in(onset_time, pause_s)`.

        `pause_s` is how long the caller was quiet before the speech that barges in: 0 for more
        of a turn in progress, `math.inf` for their first turn or one they began on purpose
        (push-to-talk).

        With `manual_turns` (push-to-talk), turns start and end only by `start_manual_turn`
        and `end_manual_turn`, never by the voice-activity detector.
        """
        self._participant = participant
        self._status = status
        self._voice = voice
        self._hearing = hearing
        self._on_barge_in = on_barge_in
        self._taker = TurnTaker(manual=manual_turns)
        self._manual_started_at = 0.0
        self._received = 0  # samples pushed so far, pre-connect first
        self._preconnect_samples = 0
        self._speech_end: int | None = None  # the sample past the caller's last finished turn
        self._turn: _Turn | None = None
        self._turns_by_utterance: dict[int, _Turn] = {}
        self._heard_s = 0.0
        self._words = {"preconnect": 0, "live": 0}
        self._outbox: asyncio.Queue[tuple[str, str, bool, dict[str, str]]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._caller_identity = ""
        self._track_sid = ""
        self.turns: asyncio.Queue[CallerTurn] = asyncio.Queue()

    def on_partial(self, utterance: int, text: str) -> None:
        """An interim result from the recogniser: show it, unless its turn is already final."""
        turn = self._turns_by_utterance.get(utterance)
        if turn is not None and not turn.final:
            turn.shown = True
            self._outbox.put_nowait((turn.segment_id, text, False, {}))

    async def listen(
        self,
        track: rtc.Track,
        track_sid: str,
        caller_identity: str,
        preconnect: asyncio.Future[PreconnectAudio] | None = None,
    ) -> None:
        """Hear `preconnect` (if the track announced one), then `track`, until it ends."""
        self._caller_identity, self._track_sid = caller_identity, track_sid
        # opened first, so live audio queues while we wait for the buffer
        stream = rtc.AudioStream.from_track(track=track, sample_rate=SAMPLE_RATE, num_channels=1)
        sender = asyncio.create_task(self._send_transcripts())
        try:
            if preconnect is not None:
                await self._hear_preconnect(preconnect)
            async for event in stream:
                self.hear(np.frombuffer(event.frame.data, dtype=np.int16), time.monotonic())
        finally:
            sender.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(sender, *self._tasks, return_exceptions=True)
            await stream.aclose()

    async def _hear_preconnect(self, preconnect: asyncio.Future[PreconnectAudio]) -> None:
        """Take the pre-connect buffer as the start of the caller's audio.

        One that comes after the wait is too old to hear (the live audio has moved on): it is
        only recorded, as having arrived.
        """
        waited_from = time.monotonic()
        done, _ = await asyncio.wait({preconnect}, timeout=PRECONNECT_WAIT_S)
        if not done:
            logger.warning(
                "the caller's track announced a pre-connect buffer, but none came in %.0f s",
                PRECONNECT_WAIT_S,
            )
            preconnect.add_done_callback(lambda late: self._record_late_preconnect(late, waited_from))
            return
        audio = preconnect.result()
        duration_s = audio.samples.size / SAMPLE_RATE if audio.samples is not None else None
        peak = None
        if audio.samples is not None:
            self._preconnect_samples = audio.samples.size
            self.hear(audio.samples, time.monotonic(), preconnect=True)
            peak = self._taker.peak_dbfs
        self._status.record_preconnect(audio.byte_count, duration_s, peak)
        logger.info("pre-connect buffer: %d bytes, %s s", audio.byte_count, duration_s)

    def _record_late_preconnect(self, buffer: asyncio.Future[PreconnectAudio], waited_from: float) -> None:
        """A buffer that came after the wait: it reached the agent, unheard."""
        if buffer.cancelled():
            return
        audio = buffer.result()
        duration_s = audio.samples.size / SAMPLE_RATE if audio.samples is not None else None
        self._status.record_preconnect(audio.byte_count, duration_s, None)
        logger.warning(
            "pre-connect buffer: %d bytes, %s s, came %.1f s after the track: not heard",
            audio.byte_count,
            duration_s,
            time.monotonic() - waited_from,
        )

    def hear(self, samples: np.ndarray, arrived_at: float, *, preconnect: bool = False) -> None:
        """Take in caller samples (16 kHz mono int16) that reached us at `arrived_at`."""
        self._received += samples.size
        for event in self._taker.push(samples):
            if isinstance(event, Started):
                self._start_turn(event, arrived_at, preconnect)
            elif isinstance(event, Speech):
                if event.voiced and not preconnect and self._voice.speaking:
                    # The agent began a line while the caller was mid-turn (a pause, then more
                    # words): as a barge-in, it stops, or it would talk over them to its end.
                    self._on_barge_in(arrived_at, 0.0)
                self._feed(event.audio)
            elif isinstance(event, Ended):
                self._end_turn(event)

    def start_manual_turn(self) -> None:
        """Push-to-talk pressed (`start_turn`): a turn starts now, and cuts the agent short."""
        if not self._taker.manual or self._taker.in_turn:
            return
        self._manual_started_at = time.monotonic()
        self._start_turn(self._taker.begin(), self._manual_started_at, preconnect=False)

    def end_manual_turn(self, *, cancelled: bool = False) -> None:
        """Push-to-talk released (`end_turn`): the turn ends now; `cancelled` drops it unanswered."""
        if not self._taker.manual or not self._taker.in_turn:
            return
        event = self._taker.end()
        held_s = time.monotonic() - self._manual_started_at
        taker = self._taker
        self._status.record_manual_turn(
            "cancel" if cancelled else "release", held_s, taker.turn_peak_dbfs, taker.idle_peak_dbfs
        )
        logger.info("push-to-talk turn %s after %.2f s", "cancelled" if cancelled else "ended", held_s)
        if cancelled:
            turn, self._turn = self._turn, None
            if turn is not None:
                with contextlib.suppress(RecognizerError):
                    self._hearing.cancel()
                self._turns_by_utterance.pop(turn.utterance, None)
                if turn.shown:  # close the line its interim words opened
                    self._outbox.put_nowait((turn.segment_id, CANCELLED_TEXT, True, {}))
            return
        self._end_turn(event)

    def _start_turn(self, event: Started, arrived_at: float, preconnect: bool) -> None:
        """Open a turn with the recogniser; barge in on the agent if it is talking."""
        if not preconnect and self._voice.speaking:
            onset_at = arrived_at - (self._received - event.onset) / SAMPLE_RATE
            self._on_barge_in(onset_at, self._pause_before(event.onset))
        try:
            utterance, lost = self._hearing.begin(), False
        except RecognizerError as exc:
            logger.warning("cannot recognise this turn: %s", exc)
            utterance, lost = 0, True
        self._turn = _Turn(utterance, new_segment_id(), event.onset, event.start, lost=lost)
        if not lost:
            self._turns_by_utterance[utterance] = self._turn
        if event.audio.size:
            self._feed(event.audio)

    def _pause_before(self, onset: int) -> float:
        """Seconds the caller was quiet before speech from sample `onset`, in the audio heard
        (the pre-connect buffer's included); `math.inf` before their first turn, and for a
        push-to-talk turn, which is begun on purpose."""
        if self._speech_end is None or self._taker.manual:
            return math.inf
        return max(0.0, (onset - self._speech_end) / SAMPLE_RATE)

    def _feed(self, audio: np.ndarray) -> None:
        """Send the turn's audio on to the recogniser."""
        if self._turn is not None and not self._turn.lost:
            try:
                self._hearing.feed(audio.tobytes())
            except RecognizerError:  # it died mid-turn
                self._turn.lost = True

    def _end_turn(self, event: Ended) -> None:
        """Close the turn; its words come back in the background."""
        turn, self._turn = self._turn, None
        if turn is None:
            return
        self._speech_end = event.end
        self._heard_s += event.speech_s
        self._status.record_caller_audio(self._heard_s, self._taker.peak_dbfs)
        ended_at = time.monotonic() - (self._received - event.end) / SAMPLE_RATE
        final: asyncio.Future[Recognition] | None = None
        if not turn.lost:
            with contextlib.suppress(RecognizerError):
                final = self._hearing.end(turn.utterance)
        task = asyncio.create_task(self._finish_turn(turn, event, ended_at, final))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_turn(
        self, turn: _Turn, event: Ended, ended_at: float, final: asyncio.Future[Recognition] | None
    ) -> None:
        """Get the turn's words, show them as final and hand the turn to the conversation."""
        try:
            if final is None:
                raise RecognizerError("the recogniser is not running")
            recognition = await self._hearing.words(turn.utterance, final)
        except RecognizerError as exc:
            logger.warning("no words for this turn: %s", exc)
            recognition = Recognition("")
        finally:
            turn.final = True
            self._turns_by_utterance.pop(turn.utterance, None)
        source = self._audio_source(turn.onset, event.end)
        boundary_s = (self._preconnect_samples - turn.start) / SAMPLE_RATE
        early = sum(1 for word in recognition.words if word.start_s < boundary_s)
        self._words["preconnect"] += early
        self._words["live"] += len(recognition.words) - early
        self._status.record_words(self._words["preconnect"], self._words["live"])
        logger.info(
            "caller said %r (%s search, confidence %.2f, %.2f s, from %s)",
            recognition.text,
            recognition.search,
            recognition.confidence,
            event.speech_s,
            source,
        )
        if not recognition.text and event.speech_s < MIN_UNCLEAR_S:  # a noise, not a turn
            if turn.shown:  # close the line its interim results opened
                self._outbox.put_nowait((turn.segment_id, UNCLEAR_TEXT, True, {ATTR_AUDIO_SOURCE: source}))
            return
        text, sure = understand(recognition, source)
        self._outbox.put_nowait((turn.segment_id, text or UNCLEAR_TEXT, True, {ATTR_AUDIO_SOURCE: source}))
        self.turns.put_nowait(
            CallerTurn(
                text,
                recognition,
                self._track_sid,
                turn.segment_id,
                source,
                event.speech_s,
                ended_at,
                sure,
            )
        )

    def _audio_source(self, onset: int, end: int) -> str:
        """Where a turn from sample `onset` to `end` was heard."""
        if end <= self._preconnect_samples:
            return "preconnect"
        return "preconnect+live" if onset < self._preconnect_samples else "live"

    async def _send_transcripts(self) -> None:
        """Send transcript segments one at a time, so a final never overtakes its interims."""
        while True:
            segment_id, text, final, extra = await self._outbox.get()
            if not text:
                continue
            await send_segment(
                self._participant,
                text,
                track_sid=self._track_sid,
                segment_id=segment_id,
                final=final,
                on_behalf_of=self._caller_identity,
                extra=extra,
            )
