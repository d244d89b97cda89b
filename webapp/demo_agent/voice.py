"""The agent's voice: one published microphone track that plays 48 kHz mono samples."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from livekit import rtc

SAMPLE_RATE = 48000
FRAME_SAMPLES = SAMPLE_RATE // 50  # 20 ms frames, as WebRTC sends them
TRACK_NAME = "demo-agent-voice"
# the caller's microphone may still carry our voice for a moment after we stop
ECHO_GUARD_S = 0.3


class AgentVoice:
    """Publishes the agent's audio track and plays audio on it, one clip at a time."""

    def __init__(self, room: rtc.Room) -> None:
        """Prepare an audio source for `room`; nothing is published until `publish()`."""
        self._room = room
        self._source = rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=200)
        self._speaking = False
        self._quiet_since = 0.0
        self.track_sid = ""

    @property
    def speaking(self) -> bool:
        """True while playing, and briefly after, so our own echo isn't taken for the caller."""
        return self._speaking or time.monotonic() - self._quiet_since < ECHO_GUARD_S

    async def publish(self) -> str:
        """Publish the track as a microphone (what livekit-client looks for); return its sid."""
        track = rtc.LocalAudioTrack.create_audio_track(TRACK_NAME, self._source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        publication = await self._room.local_participant.publish_track(track, options)
        self.track_sid = publication.sid
        return self.track_sid

    async def play(self, samples: np.ndarray) -> None:
        """Play int16 `samples` and return once they have been heard; cancel to stop early."""
        self._speaking = True
        try:
            for start in range(0, samples.size, FRAME_SAMPLES):
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
            await self._source.wait_for_playout()
        except asyncio.CancelledError:
            self._source.clear_queue()
            raise
        finally:
            self._speaking = False
            self._quiet_since = time.monotonic()

    async def aclose(self) -> None:
        """Release the audio source."""
        await self._source.aclose()
