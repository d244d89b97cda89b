"""A synthetic avatar: the agent's own visualizer drawn into video frames and published.

Asked for by the dispatch (`avatar`: the catalogue's `avatar = true`), it shows what a real
avatar worker would: a video track beside the voice. A disc grows with the level of the
audio going out; a ring while listening, a dot circling while thinking. Frames are RGBA,
drawn with numpy from a precomputed distance grid, so a frame costs well under a millisecond.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import numpy as np
from livekit import rtc

from .status import CallStatus
from .voice import AgentVoice

logger = logging.getLogger(__name__)

SIZE = 256  # a square frame, pixels
FPS = 15
TRACK_NAME = "demo-agent-avatar"
MAX_BITRATE = 350_000
BACKGROUND = np.array([23, 26, 33, 255], dtype=np.uint8)
COLOURS = {  # RGBA of the disc, by the agent's state
    "speaking": (139, 147, 248),
    "thinking": (245, 165, 36),
    "listening": (79, 70, 229),
}
IDLE = (100, 106, 120)


class AvatarPainter:
    """Draws frames from the agent's state and voice level (pure: no room, no video source)."""

    def __init__(self) -> None:
        """Precompute each pixel's offset and distance from the centre."""
        centre = (SIZE - 1) / 2
        y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
        self._dx, self._dy = x - centre, y - centre
        self._distance = np.hypot(self._dx, self._dy)
        self._level = 0.0

    def draw(self, state: str, voice_level: float, t: float) -> np.ndarray:
        """One RGBA frame at `t` seconds: the disc, its ring or its circling dot."""
        # fast attack, slow release, as the page's own meters do
        self._level = max(min(1.0, voice_level * 6), self._level * 0.8)
        colour = np.array([*COLOURS.get(state, IDLE), 255], dtype=np.uint8)
        image = np.empty((SIZE, SIZE, 4), dtype=np.uint8)
        image[:] = BACKGROUND
        image[self._distance <= SIZE * (0.24 + 0.12 * self._level)] = colour
        if state == "listening":
            image[np.abs(self._distance - SIZE * 0.42) <= 2.5] = colour
        elif state == "thinking":
            angle = t * 2 * math.pi / 1.5
            dot_x, dot_y = math.cos(angle) * SIZE * 0.42, math.sin(angle) * SIZE * 0.42
            image[np.hypot(self._dx - dot_x, self._dy - dot_y) <= SIZE * 0.04] = colour
        return image


class AgentAvatar:
    """Publishes a video track and draws the agent's state and voice into it until closed."""

    def __init__(self, room: rtc.Room, voice: AgentVoice, status: CallStatus) -> None:
        """Draw `voice`'s level and `status`'s state; nothing is published until `publish()`."""
        self._room = room
        self._voice = voice
        self._status = status
        self._source = rtc.VideoSource(SIZE, SIZE)
        self._painter = AvatarPainter()
        self.frames = 0

    async def publish(self) -> str:
        """Publish the track as a camera (what avatar workers publish); return its sid."""
        track = rtc.LocalVideoTrack.create_video_track(TRACK_NAME, self._source)
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA,
            simulcast=False,  # one viewer
            video_encoding=rtc.VideoEncoding(max_framerate=FPS, max_bitrate=MAX_BITRATE),
        )
        publication = await self._room.local_participant.publish_track(track, options)
        logger.info("publishing the avatar video (%dx%d at %d fps)", SIZE, SIZE, FPS)
        return publication.sid

    async def run(self) -> None:
        """Send a frame every 1/FPS seconds until cancelled."""
        started = time.monotonic()
        while True:
            image = self._painter.draw(self._status.state, self._voice.level, time.monotonic() - started)
            self._source.capture_frame(rtc.VideoFrame(SIZE, SIZE, rtc.VideoBufferType.RGBA, image.tobytes()))
            self.frames += 1
            await asyncio.sleep(max(0.0, started + self.frames / FPS - time.monotonic()))

    async def aclose(self) -> None:
        """Release the video source."""
        await self._source.aclose()
