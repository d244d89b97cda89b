"""Transcript lines sent the way livekit-client expects them: text streams on `lk.transcription`.

The caller's words go out as whole streams, one per interim result and a last one marked
final, all with the segment's id: the page replaces the line in place. The agent's words
go out as one stream per line, word by word as they are spoken; a line cut short by the
caller ends with `webcall.interrupted` = "true" in its closing attributes (livekit-agents
just stops the text where the audio stopped; the attribute lets a page say so).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from livekit import rtc

logger = logging.getLogger(__name__)

TOPIC_TRANSCRIPTION = "lk.transcription"
ATTR_TRACK_ID = "lk.transcribed_track_id"
ATTR_SEGMENT_ID = "lk.segment_id"
ATTR_FINAL = "lk.transcription_final"
ATTR_INTERRUPTED = "webcall.interrupted"
# where the caller's words were heard: "preconnect" (the buffer recorded before the agent
# joined), "live" (the microphone track) or "preconnect+live" (a turn spanning both)
ATTR_AUDIO_SOURCE = "webcall.audio_source"


def new_segment_id() -> str:
    """Return a fresh id for one transcript line."""
    return f"SG_{uuid.uuid4().hex[:12]}"


def transcript_attributes(track_sid: str, segment_id: str, *, final: bool = True) -> dict[str, str]:
    """Return the stream attributes of a line about `track_sid`'s audio."""
    return {ATTR_TRACK_ID: track_sid, ATTR_SEGMENT_ID: segment_id, ATTR_FINAL: str(final).lower()}


async def send_segment(
    participant: rtc.LocalParticipant,
    text: str,
    *,
    track_sid: str,
    segment_id: str | None = None,
    final: bool = True,
    on_behalf_of: str | None = None,
    extra: dict[str, str] | None = None,
) -> None:
    """Send one whole transcript segment (a new version of it, if `segment_id` was sent before).

    `on_behalf_of` names the remote participant who spoke (the caller). LiveKit lets an
    agent send a stream under another identity, the way livekit-agents publishes user
    transcripts, so browsers show the line as the caller's. Failures are logged: a lost
    transcript line must not end the call.
    """
    attributes = {
        **transcript_attributes(track_sid, segment_id or new_segment_id(), final=final),
        **(extra or {}),
    }
    try:
        writer = await participant.stream_text(
            topic=TOPIC_TRANSCRIPTION, attributes=attributes, sender_identity=on_behalf_of
        )
        await writer.write(text)
        await writer.aclose()
    except Exception as exc:
        logger.warning("could not send transcript line: %s", exc)


def word_times(text: str, speech_s: float) -> list[tuple[float, str]]:
    """When each word of `text` is reached, spreading `speech_s` over them by length."""
    words = text.split()
    total = sum(len(word) + 1 for word in words) or 1
    times, done = [], 0
    for word in words:
        times.append((speech_s * done / total, word))
        done += len(word) + 1
    return times


class AgentLine:
    """One line of the agent's speech, streamed word by word in step with its audio."""

    def __init__(self, participant: rtc.LocalParticipant, track_sid: str, text: str) -> None:
        """Prepare the line; nothing is sent before `start`."""
        self._participant = participant
        self._track_sid = track_sid
        self._times: list[tuple[float, str]] = []
        self._text = text
        self._sent = 0  # words written so far
        self._writer: rtc.TextStreamWriter | None = None
        self._pacer: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()  # wakes the pacer; a write in flight is never cut
        self.segment_id = new_segment_id()

    @property
    def spoken_text(self) -> str:
        """The words sent so far."""
        return " ".join(word for _, word in self._times[: self._sent])

    async def start(self, speech_s: float) -> None:
        """Open the stream and write each word as the audio (`speech_s` long) reaches it."""
        self._times = word_times(self._text, speech_s)
        try:
            self._writer = await self._participant.stream_text(
                topic=TOPIC_TRANSCRIPTION,
                attributes=transcript_attributes(self._track_sid, self.segment_id, final=False),
            )
        except Exception as exc:
            logger.warning("could not open a transcript line: %s", exc)
            return
        self._pacer = asyncio.create_task(self._pace())

    async def finish(self, *, interrupted: bool) -> None:
        """Close the line: whole, or cut where the audio stopped and marked as interrupted."""
        self._stop.set()
        if self._pacer is not None:
            await asyncio.gather(self._pacer, return_exceptions=True)
        if self._writer is None:
            return
        attributes = {ATTR_FINAL: "true"}
        try:
            if interrupted:
                attributes[ATTR_INTERRUPTED] = "true"
            else:
                await self._write_until(len(self._times))
            await self._writer.aclose(attributes=attributes)
        except Exception as exc:
            logger.warning("could not finish a transcript line: %s", exc)

    async def _pace(self) -> None:
        """Write the words at their times."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        for index, (at, _) in enumerate(self._times):
            try:
                await asyncio.wait_for(self._stop.wait(), max(0.0, started + at - loop.time()))
                return
            except TimeoutError:
                try:
                    await self._write_until(index + 1)
                except Exception as exc:  # the room (or the whole process) went away mid-line
                    logger.warning("could not write a transcript line: %r", exc)
                    return

    async def _write_until(self, count: int) -> None:
        """Write the words not yet sent, up to `count` of them."""
        if self._writer is None or count <= self._sent:
            return
        words = [word for _, word in self._times[self._sent : count]]
        prefix = " " if self._sent else ""
        self._sent = count
        await self._writer.write(prefix + " ".join(words))
