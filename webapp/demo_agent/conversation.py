"""What the agent says: a greeting, then "You said:" and an echo for every caller turn, and
"You wrote:" for every chat message."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
from livekit import rtc

from .listener import CallerListener, CallerTurn
from .speech import silence, synthesize
from .status import CallStatus
from .transcripts import send_line
from .turns import SAMPLE_RATE
from .voice import AgentVoice

logger = logging.getLogger(__name__)

ECHO_PREFIX = "You said:"
CHAT_PREFIX = "You wrote:"
MAX_CHAT_CHARS = 300  # a chat reply is read out loud: keep it short


class Conversation:
    """Runs the agent's side of the call until cancelled."""

    def __init__(
        self,
        participant: rtc.LocalParticipant,
        status: CallStatus,
        voice: AgentVoice,
        listener: CallerListener,
    ) -> None:
        """Speak through `voice`, take turns from `listener`, show state via `status`."""
        self._participant = participant
        self._status = status
        self._voice = voice
        self._listener = listener
        self._speaking = asyncio.Lock()  # one reply at a time, whether to speech or to chat

    async def run(self, greeting: str, caller_identity: str) -> None:
        """Greet the caller, then answer each of their turns, forever."""
        await self.say(greeting)
        while True:
            turn = await self._listener.turns.get()
            await self.reply(turn, caller_identity)

    async def reply(self, turn: CallerTurn, caller_identity: str) -> None:
        """Put the caller's turn in the transcript, then say "You said:" and play it back."""
        seconds = turn.utterance.samples.size / SAMPLE_RATE
        await send_line(
            self._participant,
            f"({turn.utterance.speech_s:.1f} s of speech)",
            track_sid=turn.track_sid,
            on_behalf_of=caller_identity,
        )
        await self.say(
            ECHO_PREFIX,
            transcript=f"{ECHO_PREFIX} (playing back {seconds:.1f} s of your audio)",
            then_play=turn.utterance.samples,
        )

    async def answer_chat(self, text: str) -> None:
        """Read a caller's chat message back: "You wrote: <text>", spoken and in the transcript."""
        text = " ".join(text.split())
        if len(text) > MAX_CHAT_CHARS:
            text = text[: MAX_CHAT_CHARS - 1] + "…"
        if text:
            await self.say(f"{CHAT_PREFIX} {text}")

    async def say(
        self,
        text: str,
        *,
        transcript: str | None = None,
        then_play: np.ndarray | None = None,
    ) -> None:
        """Speak `text` (followed by `then_play`, if given), showing thinking → speaking → listening.

        The transcript line goes out as the audio starts, so captions and voice line up.
        Replies wait for each other, so a chat message never talks over an echo.
        """
        async with self._speaking:
            await self._say(text, transcript, then_play)

    async def _say(self, text: str, transcript: str | None, then_play: np.ndarray | None) -> None:
        """Speak one reply; the caller holds the lock."""
        await self._status.set_state("thinking")
        audio = await synthesize(text)
        if then_play is not None:
            audio = np.concatenate([audio, silence(0.25), then_play])
        await self._status.set_state("speaking")
        logger.info("saying %r (%.1f s of audio)", text, audio.size / SAMPLE_RATE)
        await asyncio.gather(
            send_line(self._participant, transcript or text, track_sid=self._voice.track_sid),
            self._voice.play(audio),
        )
        await self._status.set_state("listening")
