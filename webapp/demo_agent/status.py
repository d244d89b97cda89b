"""The agent's participant attributes: its state for the browser, and what it heard."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from livekit import rtc

logger = logging.getLogger(__name__)

ATTR_STATE = "lk.agent.state"  # read by livekit-client's agent helpers
ATTR_HEARD_SPEECH_S = "webcall.demo.heard_speech_s"
ATTR_PEAK_DBFS = "webcall.demo.peak_dbfs"
ATTR_PRECONNECT_BYTES = "webcall.demo.preconnect_bytes"
ATTR_PRECONNECT_S = "webcall.demo.preconnect_s"
ATTR_PRECONNECT_PEAK_DBFS = "webcall.demo.preconnect_peak_dbfs"
# words recognised in the pre-connect buffer and on the live microphone track, apart
ATTR_PRECONNECT_WORDS = "webcall.demo.preconnect_words"
ATTR_LIVE_WORDS = "webcall.demo.live_words"
# the last barge-in: from the caller's first speech sample reaching the agent to the
# agent's voice being cut, in ms (see `listener.CallerListener` for how it is measured)
ATTR_BARGE_IN_MS = "webcall.demo.barge_in_ms"
# push-to-talk: turns the caller ended by releasing the button (end_turn), how the last one
# ended (release, cancel), how long it was held, and the loudest caller audio between turns
ATTR_RELEASED_TURNS = "webcall.demo.released_turns"
ATTR_LAST_TURN_END = "webcall.demo.last_turn_end"
ATTR_LAST_TURN_S = "webcall.demo.last_turn_s"
ATTR_TURN_PEAK_DBFS = "webcall.demo.turn_peak_dbfs"
ATTR_IDLE_PEAK_DBFS = "webcall.demo.idle_peak_dbfs"
# the caller's video, per source ("camera", "screen"): frames decoded so far, their size
# ("640x360") and whether the track is still there ("true", "false")
ATTR_VIDEO = "webcall.demo.{source}_{what}"

AgentState = Literal["initializing", "listening", "thinking", "speaking"]


class CallStatus:
    """Holds every attribute this agent shows and republishes them when they change.

    The whole set is sent each time, so a lost or reordered update is healed by the next.
    """

    def __init__(self, participant: rtc.LocalParticipant) -> None:
        """Track attributes for `participant` (the agent itself)."""
        self._participant = participant
        self._attributes: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._queued = False  # a background publish waits for the lock and will send the latest set
        self.heard_speech_s = 0.0
        self.peak_dbfs: float | None = None
        self.released_turns = 0

    @property
    def state(self) -> str:
        """The agent's conversational state as last published."""
        return self._attributes.get(ATTR_STATE, "initializing")

    async def set_state(self, state: AgentState) -> None:
        """Publish the agent's conversational state and wait until it is sent."""
        self._attributes[ATTR_STATE] = state
        await self._publish()

    def record_manual_turn(
        self, end: str, held_s: float, turn_peak_dbfs: float, idle_peak_dbfs: float
    ) -> None:
        """Note a push-to-talk turn that ended by `end` ("release" or "cancel") after `held_s`."""
        if end == "release":
            self.released_turns += 1
        self._attributes[ATTR_RELEASED_TURNS] = str(self.released_turns)
        self._attributes[ATTR_LAST_TURN_END] = end
        self._attributes[ATTR_LAST_TURN_S] = f"{held_s:.2f}"
        self._attributes[ATTR_TURN_PEAK_DBFS] = f"{turn_peak_dbfs:.1f}"
        self._attributes[ATTR_IDLE_PEAK_DBFS] = f"{idle_peak_dbfs:.1f}"
        self._publish_soon()

    def record_video(self, source: str, frames: int, size: str, live: bool) -> None:
        """Note the caller's `source` video ("camera", "screen"): frames decoded, size, still there."""
        self._attributes[ATTR_VIDEO.format(source=source, what="frames")] = str(frames)
        self._attributes[ATTR_VIDEO.format(source=source, what="size")] = size
        self._attributes[ATTR_VIDEO.format(source=source, what="live")] = str(live).lower()
        self._publish_soon()

    def record_caller_audio(self, heard_speech_s: float, peak_dbfs: float) -> None:
        """Note the caller's total speech and loudest level so far; publish in the background."""
        self.heard_speech_s = heard_speech_s
        self.peak_dbfs = peak_dbfs
        self._attributes[ATTR_HEARD_SPEECH_S] = f"{heard_speech_s:.2f}"
        self._attributes[ATTR_PEAK_DBFS] = f"{peak_dbfs:.1f}"
        self._publish_soon()

    def record_preconnect(self, byte_count: int, duration_s: float | None, peak_dbfs: float | None) -> None:
        """Note what the browser's pre-connect buffer held; None when it couldn't be decoded."""
        self._attributes[ATTR_PRECONNECT_BYTES] = str(byte_count)
        if duration_s is not None:
            self._attributes[ATTR_PRECONNECT_S] = f"{duration_s:.2f}"
        if peak_dbfs is not None:
            self._attributes[ATTR_PRECONNECT_PEAK_DBFS] = f"{peak_dbfs:.1f}"
        self._publish_soon()

    def record_words(self, preconnect_words: int, live_words: int) -> None:
        """Note how many words were recognised in the pre-connect buffer and live."""
        self._attributes[ATTR_PRECONNECT_WORDS] = str(preconnect_words)
        self._attributes[ATTR_LIVE_WORDS] = str(live_words)
        self._publish_soon()

    def record_barge_in(self, cut_after_ms: float) -> None:
        """Note how quickly the agent went quiet when the caller spoke over it."""
        self._attributes[ATTR_BARGE_IN_MS] = f"{cut_after_ms:.0f}"
        self._publish_soon()

    async def aclose(self) -> None:
        """Wait for background publishes to finish."""
        await asyncio.gather(*self._background, return_exceptions=True)

    def _publish_soon(self) -> None:
        """Publish without making the caller wait (used from the audio loop, every frame).

        Changes coalesce: while one publish waits its turn, later changes ride on it, so a
        burst of updates never queues a backlog of round trips in front of the newest one.
        """
        if self._queued:
            return
        self._queued = True
        task = asyncio.create_task(self._publish())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish(self) -> None:
        """Send the current attribute set; failures are logged, never raised."""
        async with self._lock:
            self._queued = False
            try:
                await self._participant.set_attributes(dict(self._attributes))
            except Exception as exc:  # a dropped room must not crash the call logic
                logger.warning("could not update agent attributes: %s", exc)
