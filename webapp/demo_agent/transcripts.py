"""Transcript lines sent the way livekit-client expects them: text streams on `lk.transcription`."""

from __future__ import annotations

import logging
import uuid

from livekit import rtc

logger = logging.getLogger(__name__)

TOPIC_TRANSCRIPTION = "lk.transcription"
ATTR_TRACK_ID = "lk.transcribed_track_id"
ATTR_SEGMENT_ID = "lk.segment_id"
ATTR_FINAL = "lk.transcription_final"


def new_segment_id() -> str:
    """Return a fresh id for one transcript line."""
    return f"SG_{uuid.uuid4().hex[:12]}"


def transcript_attributes(track_sid: str, segment_id: str) -> dict[str, str]:
    """Return the stream attributes that mark a final line about `track_sid`'s audio."""
    return {ATTR_TRACK_ID: track_sid, ATTR_SEGMENT_ID: segment_id, ATTR_FINAL: "true"}


async def send_line(
    participant: rtc.LocalParticipant,
    text: str,
    *,
    track_sid: str,
    on_behalf_of: str | None = None,
) -> None:
    """Send one final transcript line about the audio of `track_sid`.

    `on_behalf_of` names the remote participant who spoke (the caller). LiveKit lets an
    agent send a stream under another identity, the way livekit-agents publishes user
    transcripts, so browsers show the line as the caller's. Failures are logged: a lost
    transcript line must not end the call.
    """
    attributes = transcript_attributes(track_sid, new_segment_id())
    try:
        writer = await participant.stream_text(
            topic=TOPIC_TRANSCRIPTION, attributes=attributes, sender_identity=on_behalf_of
        )
        await writer.write(text)
        await writer.aclose()
    except Exception as exc:
        logger.warning("could not send transcript line: %s", exc)
