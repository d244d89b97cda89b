"""What the agent says: a greeting, an answer to each turn and chat message, and goodbye.

Turns that piled up while the agent was busy get one answer, to the newest (`newest_turn`).

Answers come from `intents.reply_to`. The caller can talk over the agent (barge-in): the
voice is cut at once and the cut line is marked as interrupted; the greeting gives way only to
a caller who was not already talking when it began. Goodbye, from the caller
or from the call's time limit (`max_call_s`), ends the call from the agent's side; at the
limit the line being said is cut and the answers still waiting their turn go unsaid.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from livekit import rtc

from .intents import Reply, reply_to
from .listener import CallerTurn
from .speech import SAMPLE_RATE, synthesize
from .status import CallStatus
from .transcripts import AgentLine
from .voice import AgentVoice, Playback

logger = logging.getLogger(__name__)

MAX_CHAT_CHARS = 300  # a chat message is answered out loud: keep what is read back short
GOODBYE_LEAD_S = 4.0  # the time-limit goodbye starts this long before the limit
WARNING_LEAD_S = 20.0  # and a warning this long before (less on short calls)
LEAVE_GRACE_S = 3.0  # the page ends the call at the limit itself; leave if it didn't
OUT_OF_TIME = "We are out of time for this call. Goodbye!"
GOING_AWAY = "Sorry, I have to go now. Goodbye!"  # the agent is shutting down (a deploy)
AFTER_GOODBYE_S = 0.4  # let the last syllable reach the caller before leaving
# The greeting is not cut by a caller who was already talking when it began (often into the
# pre-connect buffer, to nobody yet): who goes on with pauses shorter than GREETING_PAUSE_S, or
# whose speech reached the agent within GREETING_HEARD_S of its start, sooner than the greeting
# could have reached them and their answer come back (two network legs and a reaction).
GREETING_PAUSE_S = 3.0
GREETING_HEARD_S = 0.5
WARNING_ROOM_S = 4.0  # the warning's time before the goodbye (it takes 3.9 s)
SHORT_WARNING_ROOM_S = 2.5  # the short one's, on calls too short for that (it takes 2.1 s)
FIRST_WARNING_AT_S = 3.0  # no warning sooner into a call: the greeting is being said


@dataclass(frozen=True)
class Schedule:
    """When, in seconds from the start of a call, the agent warns, says goodbye and leaves."""

    warn_at: float | None
    goodbye_at: float
    leave_at: float
    short: bool = False  # the warning in few words: the call leaves no room for more

    @property
    def warning(self) -> str:
        """What the agent says at `warn_at`."""
        return self.warning_at(self.warn_at or 0)

    def warning_at(self, at_s: float) -> str:
        """The warning said `at_s` into the call (later than planned: an answer was being said)."""
        left = round(self.goodbye_at + GOODBYE_LEAD_S - at_s)
        if self.short:
            return f"About {left} seconds are left."
        return f"Just so you know, about {left} seconds are left in this call."

    @property
    def last_warning_at(self) -> float | None:
        """The latest a warning may begin and still end before the goodbye."""
        if self.warn_at is None:
            return None
        return self.goodbye_at - (SHORT_WARNING_ROOM_S if self.short else WARNING_ROOM_S)


def schedule_for(max_call_s: float) -> Schedule:
    """The time-limit schedule: a warning where it fits before the goodbye (never cut by it), in
    few words on a short call (10 s, the shortest an agent may set, has room for those), none on
    a shorter one."""
    goodbye_at = max(max_call_s - GOODBYE_LEAD_S, 0.0)
    leave_at = max_call_s + LEAVE_GRACE_S
    lead = min(WARNING_LEAD_S, max_call_s / 2)
    if lead - GOODBYE_LEAD_S >= WARNING_ROOM_S:
        return Schedule(max_call_s - lead, goodbye_at, leave_at)
    warn_at = goodbye_at - SHORT_WARNING_ROOM_S
    if warn_at >= FIRST_WARNING_AT_S:
        return Schedule(warn_at, goodbye_at, leave_at, short=True)
    return Schedule(None, goodbye_at, leave_at)


def newest_turn(turn: CallerTurn, waiting: asyncio.Queue[CallerTurn]) -> CallerTurn:
    """The newest of `turn` and the turns `waiting` after it that has words (the newest of all
    if none has); the others are dropped.

    Turns pile up while the agent is busy with something that cannot be cut (the greeting
    while the caller talks on, an answer to a typed message) or when recognition runs behind:
    a caller who said two things meanwhile expects an answer to the last, not to each in a
    row, minutes late.
    """
    turns = [turn]
    while not waiting.empty():
        turns.append(waiting.get_nowait())
    if len(turns) > 1:
        logger.info("answering the newest turn; %d older left unanswered", len(turns) - 1)
    return next((t for t in reversed(turns) if t.text), turns[-1])


class Conversation:
    """Runs the agent's side of the call until cancelled or until it ends the call."""

    def __init__(
        self,
        participant: rtc.LocalParticipant,
        status: CallStatus,
        voice: AgentVoice,
        turns: asyncio.Queue[CallerTurn],
        end_call: Callable[[str], None],
    ) -> None:
        """Speak through `voice`, answer `turns` as they come; `end_call(reason)` hangs up."""
        self._participant = participant
        self._status = status
        self._voice = voice
        self._turns = turns
        self._end_call = end_call
        self._speaking = asyncio.Lock()  # one reply at a time, whether to speech or to chat
        self._ending = False
        self._interruptible = True
        self._greeting = False  # the line being said is the greeting
        self._greeting_talked_over = False

    async def run(self, greeting: str) -> None:
        """Greet the caller, then answer each of their turns until the call ends.

        A caller who talks over the greeting cuts it, as any line, unless they were already
        talking when it began: the words a caller says as the agent joins (the pre-connect
        buffer), what they go on to say without a real pause, and speech that reached the agent
        before the greeting could have reached them, were not said over it.
        """
        await self.say(greeting, greeting=True)
        while not self._ending:
            turn = newest_turn(await self._turns.get(), self._turns)
            await self.answer_turn(turn)

    async def answer_turn(self, turn: CallerTurn) -> None:
        """Answer one spoken turn."""
        reply = reply_to(turn.text, sure=turn.sure)
        logger.info("turn %r → %s", turn.text, reply.intent)
        await self._answer(reply, heard_at=turn.ended_at)

    async def answer_chat(self, text: str) -> None:
        """Answer a typed message the way a spoken one is answered, out loud and in the transcript.

        Sound from the caller's side does not cut this answer: whoever types a question
        is not the one talking, so it is noise or someone else.
        """
        text = " ".join(text.split())[:MAX_CHAT_CHARS]
        if text:
            await self._answer(reply_to(text), interruptible=False)

    def interrupt(self, onset_at: float, pause_s: float = math.inf) -> None:
        """The caller started talking at `onset_at` (monotonic), after `pause_s` of quiet (0:
        more of a turn in progress): stop talking now."""
        if not self._voice.speaking or not self._interruptible or self._ending:
            return
        if self._greeting:
            after_s = onset_at - self._voice.started_at
            if pause_s < GREETING_PAUSE_S or after_s < GREETING_HEARD_S:
                if not self._greeting_talked_over:  # once: this comes with every voiced chunk
                    self._greeting_talked_over = True
                    logger.info(
                        "the caller was talking as the greeting began (%.2f s into it, %.1f s after"
                        " a turn): it plays on",
                        after_s,
                        pause_s,
                    )
                return
        cut_at = self._voice.stop()
        cut_after_ms = (cut_at - onset_at) * 1000
        self._status.record_barge_in(cut_after_ms)
        logger.info("barge-in: voice cut %.0f ms after the caller started", cut_after_ms)

    async def keep_time(self, max_call_s: float) -> None:
        """Honour the call's time limit: warn, say goodbye, and leave if the page didn't."""
        plan = schedule_for(max_call_s)
        started = time.monotonic()

        async def at(offset_s: float) -> None:
            """Sleep until `offset_s` into the call."""
            await asyncio.sleep(max(0.0, started + offset_s - time.monotonic()))

        if plan.warn_at is not None and plan.last_warning_at is not None:
            await at(plan.warn_at)
            # After the line being said (the greeting, an answer), if it still fits before the
            # goodbye, saying the seconds left then; else not at all: the goodbye comes on time.
            await self.say(
                lambda: plan.warning_at(time.monotonic() - started), not_after=started + plan.last_warning_at
            )
        await at(plan.goodbye_at)
        # Answers queued behind the goodbye (typed messages: eight of them made a 10 s call last
        # 27 s) go unsaid, and the line being said is cut: the limit is the limit.
        await self.sign_off(OUT_OF_TIME)
        await at(plan.leave_at)
        self._end_call(f"time limit of {max_call_s:.0f} s reached")

    async def sign_off(self, text: str) -> bool:
        """Say `text` as the call's last line: the line being said is cut, and nothing queued is
        said after it. False, with nothing said, if the call is already ending (the caller's
        goodbye, or another sign-off, being said)."""
        if self._ending:
            return False
        self._ending = True
        self._voice.stop()
        await self.say(text, closing=True)  # not interruptible: `interrupt` ignores an ending call
        return True

    async def say(
        self,
        text: str | Callable[[], str],
        *,
        interruptible: bool = True,
        heard_at: float | None = None,
        closing: bool = False,
        greeting: bool = False,
        not_after: float | None = None,
    ) -> Playback | None:
        """Speak `text` (or what it returns when its turn comes), showing thinking → speaking →
        listening; wait for any reply in progress, but not past `not_after` (monotonic).

        The `greeting` is not cut by a caller who was talking as it began (see `interrupt`).

        The transcript line is streamed word by word as the audio plays, so captions and
        voice line up; a line cut by the caller ends where the voice stopped. Once the call
        is ending only its `closing` line is said: None for any other.
        """
        try:
            async with asyncio.timeout(None if not_after is None else not_after - time.monotonic()):
                await self._speaking.acquire()
        except TimeoutError:
            logger.info("not said: its time has passed while another line was being said")
            return None
        try:
            return await self._say(
                text() if callable(text) else text, interruptible, heard_at, closing, greeting
            )
        finally:
            self._speaking.release()

    async def _say(
        self, text: str, interruptible: bool, heard_at: float | None, closing: bool, greeting: bool
    ) -> Playback | None:
        """`say` once it is this line's turn."""
        if self._ending and not closing:
            return None
        # the state goes out while espeak-ng works: neither waits for the other
        thinking = asyncio.create_task(self._status.set_state("thinking"))
        audio = await synthesize(text)
        await thinking
        if self._ending and not closing:  # the time ran out while this line was being made
            return None
        await self._status.set_state("speaking")
        line = AgentLine(self._participant, self._voice.track_sid, text)
        await line.start(audio.size / SAMPLE_RATE)
        if self._ending and not closing:  # ... or while its state and its line went out
            await line.finish(interrupted=True)
            return None
        if heard_at is not None:
            logger.info("reply starts %.0f ms after the caller stopped", (time.monotonic() - heard_at) * 1000)
        logger.info("saying %r (%.1f s of audio)", text, audio.size / SAMPLE_RATE)
        self._interruptible, self._greeting = interruptible, greeting
        try:
            playback = await self._voice.play(audio)
        except asyncio.CancelledError:  # the call ended mid-line: its transcript line ends here too
            await line.finish(interrupted=True)
            raise
        finally:
            self._interruptible, self._greeting = True, False
        await line.finish(interrupted=playback.interrupted)
        if playback.interrupted:
            logger.info("interrupted after %.1f of %.1f s", playback.played_s, playback.duration_s)
        await self._status.set_state("listening")
        return playback

    async def _answer(
        self, reply: Reply, *, heard_at: float | None = None, interruptible: bool = True
    ) -> None:
        """Say `reply`; a goodbye then ends the call from our side."""
        if self._ending:
            return
        if reply.ends_call:
            self._ending = True
            await self.say(reply.text, heard_at=heard_at, interruptible=interruptible, closing=True)
            await asyncio.sleep(AFTER_GOODBYE_S)
            self._end_call("the caller said goodbye")
            return
        await self.say(reply.text, heard_at=heard_at, interruptible=interruptible)
