"""What the caller shows: the camera or the shared screen, received and counted.

The demo agent does not look at the pictures; it decodes them the way a vision agent would
and reports, as participant attributes, how many frames of each source arrived, their size
and whether the track is still there, so a test (or a curious operator) can see the video
reached the agent, and that a stopped screen share ended.
"""

from __future__ import annotations

import logging
import time

from livekit import rtc

from .status import CallStatus

logger = logging.getLogger(__name__)

REPORT_EVERY_S = 0.5
SOURCES = {rtc.TrackSource.SOURCE_CAMERA: "camera", rtc.TrackSource.SOURCE_SCREENSHARE: "screen"}


def video_source_name(publication: rtc.RemoteTrackPublication) -> str | None:
    """ "camera" or "screen" for a caller video publication; None for anything else."""
    if publication.kind != rtc.TrackKind.KIND_VIDEO:
        return None
    return SOURCES.get(publication.source)


async def watch_video(track: rtc.Track, source: str, status: CallStatus) -> None:
    """Decode `track` until it ends, reporting its frames as they come (and its end)."""
    stream = rtc.VideoStream(track)
    frames, size, reported_at = 0, "", 0.0
    logger.info("receiving the caller's %s", source)
    try:
        async for event in stream:
            frames += 1
            size = f"{event.frame.width}x{event.frame.height}"
            if time.monotonic() - reported_at >= REPORT_EVERY_S:
                reported_at = time.monotonic()
                status.record_video(source, frames, size, live=True)
    finally:
        await stream.aclose()
        status.record_video(source, frames, size, live=False)
        logger.info("the caller's %s ended after %d frames (%s)", source, frames, size or "no size")
