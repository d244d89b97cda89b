"""Audio the browser recorded before the agent joined (livekit-client's pre-connect buffer).

livekit-client records the microphone while the agent is on its way and, once the agent
is in the room, sends it as a byte stream on `lk.agent.pre-connect-audio-buffer` with
attributes `trackId`, `sampleRate` and `channels`, usually as `audio/webm;codecs=opus`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import numpy as np
from livekit import rtc
from livekit.agents.utils.codecs import AudioStreamDecoder

from .speech import resample
from .turns import SAMPLE_RATE

logger = logging.getLogger(__name__)

PRECONNECT_TOPIC = "lk.agent.pre-connect-audio-buffer"
# livekit-client stops recording by itself after 10 s; leave room for the upload
READ_TIMEOUT_S = 20.0
DECODE_TIMEOUT_S = 10.0  # a few seconds of Opus decode in milliseconds; a stuck decoder gives up


MIN_RATE, MAX_RATE, MAX_CHANNELS = 8_000, 96_000, 2
MAX_BYTES = 4 * 1024 * 1024  # 20 s of 48 kHz stereo PCM; an Opus buffer of that is ~100 kB


@dataclass(frozen=True)
class PreconnectAudio:
    """One pre-connect buffer: its size, and its audio if it could be decoded."""

    sender_identity: str
    track_id: str
    byte_count: int
    samples: np.ndarray | None  # 16 kHz mono int16; None when decoding failed


async def decode_audio(data: bytes, mime_type: str, sample_rate: int, channels: int) -> np.ndarray:
    """Decode a pre-connect buffer to 16 kHz mono int16; raise ValueError if nothing decodes."""
    # The caller's page names them: a sampleRate of 1 made 100 kB of PCM resample to 6 GiB, in
    # the loop every call of the worker shares. Browsers record at 8 to 96 kHz.
    if not (MIN_RATE <= sample_rate <= MAX_RATE and 1 <= channels <= MAX_CHANNELS):
        raise ValueError(f"bad stream attributes: sampleRate={sample_rate}, channels={channels}")
    if not any(kind in mime_type for kind in ("opus", "webm", "ogg", "mp4")):
        # older clients send raw 16-bit PCM described by the stream attributes
        usable = len(data) - len(data) % (2 * channels)
        pcm = np.frombuffer(data[:usable], dtype="<i2").reshape(-1, channels).mean(axis=1)
        return resample(pcm.astype(np.int16), sample_rate, SAMPLE_RATE)

    decoder = AudioStreamDecoder(
        sample_rate=SAMPLE_RATE, num_channels=1, format=mime_type.split(";")[0].strip()
    )
    try:
        decoder.push(data)
        decoder.end_input()
        chunks = [np.frombuffer(frame.data, dtype=np.int16) async for frame in decoder]
    finally:
        await decoder.aclose()
    if not chunks:
        raise ValueError(f"no audio could be decoded from {len(data)} bytes of {mime_type!r}")
    return np.concatenate(chunks)


class PreconnectReceiver:
    """Collects pre-connect buffers; register it before connecting so none is missed."""

    def __init__(self, room: rtc.Room) -> None:
        """Prepare to receive buffers sent to the agent in `room`."""
        self._room = room
        self._tasks: set[asyncio.Task[None]] = set()
        self._buffers: dict[str, asyncio.Future[PreconnectAudio]] = {}  # by the track they precede

    def buffer_for(self, track_id: str) -> asyncio.Future[PreconnectAudio]:
        """The buffer recorded before `track_id` was published (it may not have arrived yet)."""
        if track_id not in self._buffers:
            self._buffers[track_id] = asyncio.get_running_loop().create_future()
        return self._buffers[track_id]

    def register(self) -> None:
        """Start accepting pre-connect byte streams."""
        self._room.register_byte_stream_handler(PRECONNECT_TOPIC, self._on_stream)

    async def aclose(self) -> None:
        """Stop accepting streams and abandon any still being read."""
        self._room.unregister_byte_stream_handler(PRECONNECT_TOPIC)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_stream(self, reader: rtc.ByteStreamReader, sender_identity: str) -> None:
        """Read the stream in the background (the handler itself must not block)."""
        task = asyncio.create_task(self._receive(reader, sender_identity))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _receive(self, reader: rtc.ByteStreamReader, sender_identity: str) -> None:
        """Read all bytes, decode them if possible, and queue the result."""
        info = reader.info
        attributes = info.attributes or {}
        track_id = attributes.get("trackId", "")
        logger.info("pre-connect buffer for track %r from %s: receiving", track_id, sender_identity)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                async for chunk in reader:
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_BYTES:  # seconds of speech are far less; the rest is not kept
                        logger.warning(
                            "pre-connect buffer from %s over %d bytes: cut", sender_identity, MAX_BYTES
                        )
                        break
        except (TimeoutError, rtc.StreamError) as exc:
            logger.warning("pre-connect buffer from %s cut short: %s", sender_identity, exc)
        finally:
            reader.close()  # a no-op after a complete read; frees an abandoned one
        data = b"".join(chunks)
        samples: np.ndarray | None = None
        try:
            async with asyncio.timeout(DECODE_TIMEOUT_S):
                samples = await decode_audio(
                    data,
                    info.mime_type or "",
                    int(attributes.get("sampleRate") or 48000),  # what browsers record at
                    int(attributes.get("channels") or 1),
                )
        except (TimeoutError, ValueError, OSError) as exc:
            logger.warning("could not decode the pre-connect buffer (%d bytes): %r", len(data), exc)
        buffer = self.buffer_for(track_id)
        if buffer.done():
            logger.warning("a second pre-connect buffer for track %r: ignored", track_id)
        else:
            buffer.set_result(PreconnectAudio(sender_identity, track_id, len(data), samples))
