"""The agent's voice: one published microphone track that plays 48 kHz mono samples."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
from livekit import rtc

SAMPLE_RATE = 48000
FRAME_SAMPLES = SAMPLE_RATE // 50  # 20 ms frames, as WebRTC sends them
TRACK_NAME = "demo-agent-voice"
# audio handed to LiveKit ahead of time; also the most that can still go out after a stop
QUEUE_MS = 100


@dataclass(frozen=True)
class Playback:
    """How a clip ended: `played_s` of it went out; `stopped_at` (monotonic) if it was cut."""

    played_s: float
    duration_s: float
    stopped_at: float | None = None

    @property
    def interrupted(self) -> bool:
        """True when the clip was cut before its end."""
        return self.stopped_at is not None


class AgentVoice:
    """Publishes the agent's audio track and plays audio on it, one clip at a time."""

    def __init__(self, room: rtc.Room) -> None:
        """Prepare an audio source for `room`; nothing is published until `publish()`."""
        self._room = room
        self._source = rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=QUEUE_MS)
        self._playing: asyncio.Task[Playback] | None = None
        self._started_at = 0.0
        self._stopped_at = 0.0
        self.track_sid = ""
        self.level = 0.0  # RMS (0…1 of full scale) of the audio going out now, for the avatar

    @property
    def speaking(self) -> bool:
        """True while a clip is playing (and not cut)."""
        return self._playing is not None and not self._playing.done() and not self._stopped_at

    @property
    def started_at(self) -> float:
        """When the current (or last) clip started playing (monotonic)."""
        return self._started_at

    @property
    def position_s(self) -> float:
        """Seconds of the current clip heard so far (0 when silent)."""
        return time.monotonic() - self._started_at if self.speaking else 0.0

    async def publish(self) -> str:
        """Publish the track as a microphone (what livekit-client looks for); return its sid."""
        track = rtc.LocalAudioTrack.create_audio_track(TRACK_NAME, self._source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        publication = await self._room.local_participant.publish_track(track, options)
        self.track_sid = publication.sid
        return self.track_sid

    async def play(self, samples: np.ndarray) -> Playback:
        """Play int16 `samples` until heard, or until `stop()` cuts them short."""
        if self._playing is not None:  # a clip cut a moment ago hands back its last frame first
            await asyncio.wait([self._playing])
        self._started_at, self._stopped_at = time.monotonic(), 0.0  # `speaking` from now on
        self._playing = asyncio.create_task(self._play(samples))
        try:
            return await asyncio.shield(self._playing)
        except asyncio.CancelledError:
            self.stop()
            raise

    def stop(self) -> float:
        """Cut the clip playing now (nothing more goes out); return when (monotonic), the first
        time it was cut."""
        self._stopped_at = self._stopped_at or time.monotonic()
        self.level = 0.0
        self._source.clear_queue()  # which also hands back the frame being captured, at once
        return self._stopped_at

    async def _play(self, samples: np.ndarray) -> Playback:
        """Send the frames in real time (the source's queue paces us) until cut.

        Never cancelled in a capture: the frame would stay in LiveKit's hands, and the next
        clip's first frame would then fail ("InvalidState - failed to capture frame").
        """
        duration_s = samples.size / SAMPLE_RATE
        for start in range(0, samples.size, FRAME_SAMPLES):
            if self._stopped_at:
                break
            chunk = samples[start : start + FRAME_SAMPLES]
            if chunk.size < FRAME_SAMPLES:
                chunk = np.pad(chunk, (0, FRAME_SAMPLES - chunk.size))
            frame = rtc.AudioFrame(
                data=chunk.astype(np.int16).tobytes(),
                sample_rate=SAMPLE_RATE,
                num_channels=1,
                samples_per_channel=FRAME_SAMPLES,
            )
            await self._source.capture_frame(frame)
            self.level = float(np.sqrt(np.mean(np.square(chunk / 32768.0)))) if not self._stopped_at else 0.0
        else:
            await self._source.wait_for_playout()  # stop() ends the wait too
        self.level = 0.0
        stopped_at = self._stopped_at
        if not stopped_at:
            return Playback(duration_s, duration_s)
        return Playback(min(stopped_at - self._started_at, duration_s), duration_s, stopped_at)

    async def aclose(self) -> None:
        """Release the audio source."""
        if self._playing is not None:
            self.stop()
            await asyncio.wait([self._playing], timeout=1.0)
            self._playing.cancel()  # (done by now)
            await asyncio.gather(self._playing, return_exceptions=True)
        await self._source.aclose()
