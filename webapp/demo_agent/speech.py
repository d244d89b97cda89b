"""Text to 48 kHz mono speech with espeak-ng, or a chime when espeak-ng is missing."""

from __future__ import annotations

import asyncio
import logging
import shutil
import struct

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48000
ESPEAK_VOICE = "en-us"
ESPEAK_WORDS_PER_MINUTE = 165
SYNTHESIS_TIMEOUT_S = 15.0


class SpeechError(RuntimeError):
    """espeak-ng ran but did not produce usable audio."""


def parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Return (mono int16 samples, sample rate) from 16-bit PCM WAV bytes.

    espeak-ng writing to a pipe cannot seek back to fix the chunk sizes, so it leaves
    them huge; the data chunk is therefore read to the end of the bytes we have.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SpeechError("not a WAV file")
    position, channels, rate, bits = 12, 0, 0, 0
    while position + 8 <= len(data):
        chunk_id, size = data[position : position + 4], struct.unpack_from("<I", data, position + 4)[0]
        body = position + 8
        if chunk_id == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
        elif chunk_id == b"data":
            if bits != 16 or channels < 1:
                raise SpeechError(f"unsupported WAV: {bits}-bit, {channels} channel(s)")
            end = min(body + size, len(data))
            end -= (end - body) % (2 * channels)
            samples = np.frombuffer(data[body:end], dtype="<i2").reshape(-1, channels)
            return samples.mean(axis=1).astype(np.int16), rate
        position = body + size + (size & 1)
    raise SpeechError("WAV has no data chunk")


def resample(samples: np.ndarray, rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Linearly resample int16 `samples` from `rate` to `target_rate`; fine for speech."""
    if rate == target_rate or samples.size == 0:
        return samples.astype(np.int16)
    count = int(round(samples.size * target_rate / rate))
    positions = np.arange(count) * (rate / target_rate)
    resampled = np.interp(positions, np.arange(samples.size), samples.astype(np.float64))
    result: np.ndarray = np.clip(resampled, -32768, 32767).astype(np.int16)
    return result


def chime(duration_s: float = 0.9, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Return a soft two-note chime (E5 then A5, decaying), so a call without TTS still sounds."""
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    first = np.sin(2 * np.pi * 659.25 * t) * np.exp(-4.0 * t)
    second_t = np.clip(t - 0.18, 0.0, None)
    second = np.sin(2 * np.pi * 880.0 * second_t) * np.exp(-3.5 * second_t) * (t >= 0.18)
    fade_in = np.clip(t / 0.01, 0.0, 1.0)  # avoid a click at the start
    result: np.ndarray = (0.25 * 32767 * fade_in * (first + second) / 2).astype(np.int16)
    return result


def silence(duration_s: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Return `duration_s` seconds of int16 silence."""
    return np.zeros(int(duration_s * sample_rate), dtype=np.int16)


async def run_espeak(text: str, espeak_path: str) -> bytes:
    """Run espeak-ng on `text` (fed on stdin, so it is never parsed as options); return WAV bytes."""
    process = await asyncio.create_subprocess_exec(
        espeak_path,
        "--stdout",
        "--stdin",
        "-v",
        ESPEAK_VOICE,
        "-s",
        str(ESPEAK_WORDS_PER_MINUTE),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        wav, errors = await asyncio.wait_for(process.communicate(text.encode("utf-8")), SYNTHESIS_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError):
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise SpeechError(f"espeak-ng exited {process.returncode}: {errors.decode()[:200]}")
    return wav


async def synthesize(text: str) -> np.ndarray:
    """Speak `text` as 48 kHz mono int16 samples; fall back to a chime if espeak-ng fails."""
    espeak_path = shutil.which("espeak-ng")
    if espeak_path is None:
        logger.warning("espeak-ng is not installed; playing a chime instead of speech")
        return chime()
    try:
        samples, rate = parse_wav(await run_espeak(text, espeak_path))
    except (TimeoutError, OSError, SpeechError) as exc:
        logger.warning("speech synthesis failed (%s); playing a chime instead", exc)
        return chime()
    # Off the event loop, which every call of this process shares: a long line's resampling
    # took up to a third of a second on a busy machine, and held up every call's audio.
    return await asyncio.to_thread(resample, samples, rate)
