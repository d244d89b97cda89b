"""A call: join the room, wait for the caller, talk, and end when they leave or say goodbye.

When the agent ends the call (goodbye, time limit) it leaves the room: the page sees the
agent go and shows that the agent ended the call. What the dispatch asks beyond the voice
(`media.py`) is honoured too: an avatar video, the caller's camera or screen received,
push-to-talk's manual turns (the `start_turn`, `end_turn` and `cancel_turn` RPC methods
of livekit-agents' push-to-talk example), a chat that brings no caller audio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from livekit import agents, rtc
from livekit.rtc._proto.track_pb2 import AudioTrackFeature

from .avatar import AgentAvatar
from .conversation import AFTER_GOODBYE_S, GOING_AWAY, MAX_CHAT_CHARS, Conversation
from .greeting import greeting_from_metadata, max_call_s_from_metadata
from .hearing import Hearing
from .listener import CallerListener
from .media import media_from_metadata
from .preconnect import PreconnectAudio, PreconnectReceiver
from .status import CallStatus
from .vision import video_source_name, watch_video
from .voice import AgentVoice

logger = logging.getLogger(__name__)

CALLER_WAIT_S = 30.0  # leave a room nobody joins, rather than greet it forever
CALLER_READY_WAIT_S = 5.0  # then greet anyway: the caller may have no microphone
TOPIC_CHAT = "lk.chat"  # text the caller types (livekit-client's sendText topic for chat)
# What of a chat message is read: the answer uses its first MAX_CHAT_CHARS characters once its
# runs of spaces are one, so a longer message (a pasted page, or a stream that never ends) is
# not held in memory whole.
MAX_CHAT_READ = 16 * MAX_CHAT_CHARS
PRECONNECT_FEATURE = AudioTrackFeature.TF_PRECONNECT_BUFFER
# How a caller who hung up leaves (livekit-agents' own list): any other way (a lost connection, a
# newer connection of theirs taking over) the caller's client may join again, as a full reconnect
# does, and is waited for this long.
HUNG_UP = (
    rtc.DisconnectReason.CLIENT_INITIATED,
    rtc.DisconnectReason.ROOM_DELETED,
    rtc.DisconnectReason.USER_REJECTED,
)
REJOIN_WAIT_S = 15.0
CONNECT_FINISH_WAIT_S = 45.0  # see Call._connect
ROOM_SID_WAIT_S = 2.0  # for the joined room's sid, which normally comes with the connection
# A call the worker winds down (SIGTERM) ends this long after, goodbye said or not (it takes
# about 2 s): well within the worker's drain (worker.DRAIN_TIMEOUT_S).
SIGN_OFF_S = 6.0


def is_caller(participant: rtc.RemoteParticipant) -> bool:
    """True for a person (or SIP leg), not another agent."""
    return participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


class Call:
    """Owns the room-side wiring of one call and decides when it is over."""

    def __init__(self, ctx: agents.JobContext) -> None:
        """Prepare (but don't start) the call for `ctx`."""
        self._ctx = ctx
        self._room = ctx.room
        self._preconnect = PreconnectReceiver(ctx.room)
        self._ended = asyncio.Event()
        self._caller_found: asyncio.Future[rtc.RemoteParticipant] = asyncio.Future()
        self._caller_audio = asyncio.Event()  # we hear the caller
        self._voice_heard = asyncio.Event()  # someone subscribed to our voice
        self._greeting_begun = asyncio.Event()  # typed messages are answered from then on
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener: CallerListener | None = None
        self._conversation: Conversation | None = None
        self._listening_to: str | None = None  # sid of the caller track being heard
        self._listening: asyncio.Task[None] | None = None  # hearing it
        self._watching: dict[str, asyncio.Task[None]] = {}  # caller video tracks, by sid
        self._status: CallStatus | None = None
        self._away: asyncio.TimerHandle | None = None  # the caller's connection was lost
        self.media = media_from_metadata(ctx.job.metadata)
        self.end_reason = "call ended"

    @property
    def caller(self) -> rtc.RemoteParticipant | None:
        """The caller, once one has joined."""
        found = self._caller_found
        return found.result() if found.done() and not found.cancelled() else None

    def stop(self, reason: str) -> None:
        """End the call (idempotent; the first reason wins)."""
        if not self._ended.is_set():
            self.end_reason = reason
            self._ended.set()

    def wind_down(self, reason: str) -> None:
        """End the call soon for `reason` (the worker is shutting down): a caller being talked
        with hears goodbye first, the call ending within SIGN_OFF_S all the same; any other call
        ends now."""
        conversation = self._conversation
        if self._ended.is_set():
            return
        if conversation is None or not self._greeting_begun.is_set():
            self.stop(reason)
            return
        asyncio.get_running_loop().call_later(SIGN_OFF_S, self.stop, reason)
        self._spawn(self._sign_off(conversation, reason))

    async def _sign_off(self, conversation: Conversation, reason: str) -> None:
        """Say goodbye, then end the call for `reason` (unless a goodbye was already being said:
        that one ends it)."""
        if await conversation.sign_off(GOING_AWAY):
            await asyncio.sleep(AFTER_GOODBYE_S)
            self.stop(reason)

    async def run(self) -> None:
        """Connect, converse until the call ends, then tidy up (also when setting up fails)."""
        if self._ended.is_set():
            return  # ended before it began: the worker is shutting down
        self._preconnect.register()  # before connecting, so an early buffer isn't missed
        media = self.media
        subscribe = agents.AutoSubscribe.SUBSCRIBE_ALL if media.sees else agents.AutoSubscribe.AUDIO_ONLY
        await self._connect(subscribe)
        self._room.on("participant_connected", self._on_participant_connected)
        self._room.on("participant_disconnected", self._on_participant_disconnected)
        self._room.on("track_subscribed", self._on_track_subscribed)
        self._room.on("track_unsubscribed", self._on_track_unsubscribed)
        self._room.on("local_track_subscribed", lambda *_: self._voice_heard.set())
        self._room.on("disconnected", lambda *_: self.stop("disconnected from the room"))
        if not self._room.isconnected():  # gone before the handler above was there to hear it
            self.stop("disconnected from the room")
        local = self._room.local_participant
        status = self._status = CallStatus(local)
        voice = AgentVoice(self._room)
        avatar = AgentAvatar(self._room, voice, status) if media.avatar else None
        hearing = Hearing(on_partial=lambda utterance, text: self._on_partial(utterance, text))
        try:
            # At once: the page offers its chat as soon as the agent is in the room, and a message
            # typed then came to no handler and was lost (livekit drops a stream nobody reads).
            self._room.register_text_stream_handler(TOPIC_CHAT, self._on_chat)
            await self._check_room()
            await self._unless_ended(self._set_up(status, voice, hearing, avatar))
            await self._ended.wait()
        finally:
            if self._away is not None:
                self._away.cancel()
            await self._cancel_tasks()
            await hearing.aclose()  # first: a failure below must not leave the process running
            await self._preconnect.aclose()
            await status.aclose()
            await voice.aclose()
            if avatar is not None:
                await avatar.aclose()

    async def _connect(self, subscribe: agents.AutoSubscribe) -> None:
        """Connect to the room, unless the call is cancelled first; the connect itself is not.

        The framework cancels a call 15 s after the server ended its job (its room was closed).
        A connect stuck meanwhile (a room closed as the agent joined it can hold livekit's
        native library up to its 15 s ICE timeout) must not be cancelled: the library completes
        it later with nobody left to answer, waits 15 s for that answer, then panics, and the
        SDK takes the whole worker down with every call in it. It is let finish in the job's
        shutdown instead (for CONNECT_FINISH_WAIT_S at most), and the room it joined is left.
        """
        connecting = asyncio.ensure_future(self._ctx.connect(auto_subscribe=subscribe))
        try:
            await asyncio.shield(connecting)
        except asyncio.CancelledError:
            if not connecting.done():
                logger.warning("call cancelled while connecting; the connect is left to finish")
                self._ctx.add_shutdown_callback(lambda: self._finish_connecting(connecting))
            raise

    async def _finish_connecting(self, connecting: asyncio.Future[None]) -> None:
        """The job's last step after a call cancelled while connecting: wait for the connect,
        then leave the room it joined."""
        try:
            await asyncio.wait_for(asyncio.shield(connecting), CONNECT_FINISH_WAIT_S)
        except TimeoutError:
            logger.error("the cancelled call's connect did not finish in %.0f s", CONNECT_FINISH_WAIT_S)
            return
        except Exception as exc:  # it failed: nothing joined, nothing to leave
            logger.info("the cancelled call's connect failed: %s", exc)
            return
        await self._room.disconnect()
        logger.info("the cancelled call's connect finished; left the room")

    async def _check_room(self) -> None:
        """End the call if the room joined is not the one the call was dispatched to: that one
        was closed before the agent joined, and joining made a new, empty room of the same name
        (it would wait CALLER_WAIT_S there for a caller who is not coming)."""
        dispatched = self._ctx.job.room.sid
        if not dispatched:
            return
        try:
            joined = await asyncio.wait_for(self._room.sid, ROOM_SID_WAIT_S)
        except TimeoutError:
            logger.warning("the room's sid did not come within %.0f s; not checked", ROOM_SID_WAIT_S)
            return
        if joined != dispatched:
            self.stop(f"the room was closed before the agent joined ({dispatched}, joined {joined})")

    async def _unless_ended(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` to its end, or until the call ends, whichever comes first: a room that goes
        while the voice is being published must not hold the call (and its place in the worker)
        until the publishing gives up. `work`'s failure is raised; if it is cut short it is not."""
        if self._ended.is_set():  # before it began (the room was not the one dispatched)
            work.close()
            return
        running = asyncio.ensure_future(work)
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({running, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cut = not running.done()
            for task in (running, ended):
                task.cancel()
            await asyncio.gather(running, ended, return_exceptions=True)
        if cut:
            logger.info("call ended while setting up: %s", self.end_reason)
        else:
            running.result()

    async def _set_up(
        self, status: CallStatus, voice: AgentVoice, hearing: Hearing, avatar: AgentAvatar | None
    ) -> None:
        """Publish the voice (and avatar) and start the recogniser, then converse and listen."""
        local, media = self._room.local_participant, self.media
        await status.set_state("initializing")
        # each runs to its end before a failure is raised, so `run` stops a recogniser that started
        started = await asyncio.gather(
            voice.publish(), hearing.start(), *([avatar.publish()] if avatar else []), return_exceptions=True
        )
        if failed := [result for result in started if isinstance(result, BaseException)]:
            raise failed[0]
        if avatar is not None:
            self._spawn(avatar.run())
        self._listener = CallerListener(
            local, status, voice, hearing, on_barge_in=self._on_barge_in, manual_turns=media.push_to_talk
        )
        if media.push_to_talk:
            self._register_turn_methods(self._listener)
        conversation = Conversation(local, status, voice, self._listener.turns, self.stop)
        self._conversation = conversation
        self._spawn(self._talk(conversation))
        if (max_call_s := max_call_s_from_metadata(self._ctx.job.metadata)) is not None:
            self._spawn(conversation.keep_time(max_call_s))
        for participant in self._room.remote_participants.values():
            self._on_participant_connected(participant)
        if self.caller is not None:  # found while the agent was setting up: its tracks came unheard
            self._take_tracks(self.caller)

    async def _cancel_tasks(self) -> None:
        """Stop what the call runs in the background: its conversation, listening and watching."""
        running = [*self._tasks, *self._watching.values()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def _register_turn_methods(self, listener: CallerListener) -> None:
        """Push-to-talk: the caller's page starts, ends or cancels each turn by RPC."""
        local = self._room.local_participant

        def from_caller(data: rtc.RpcInvocationData) -> bool:
            """Only the caller takes turns; anyone else is told so."""
            if self.caller is None or data.caller_identity != self.caller.identity:
                raise rtc.RpcError(rtc.RpcError.ErrorCode.APPLICATION_ERROR, "only the caller takes turns")
            return True

        async def start_turn(data: rtc.RpcInvocationData) -> str:
            """The button is held: the caller's turn starts (and cuts the agent short)."""
            if from_caller(data):
                listener.start_manual_turn()
            return "ok"

        async def end_turn(data: rtc.RpcInvocationData) -> str:
            """The button is released: the turn ends now and gets its answer."""
            if from_caller(data):
                listener.end_manual_turn()
            return "ok"

        async def cancel_turn(data: rtc.RpcInvocationData) -> str:
            """A slip of the finger: the turn is dropped, unanswered."""
            if from_caller(data):
                listener.end_manual_turn(cancelled=True)
            return "ok"

        local.register_rpc_method("start_turn", start_turn)
        local.register_rpc_method("end_turn", end_turn)
        local.register_rpc_method("cancel_turn", cancel_turn)

    def _on_barge_in(self, onset_at: float, pause_s: float) -> None:
        """The caller talks over the agent: let the conversation cut the voice."""
        if self._conversation is not None:
            self._conversation.interrupt(onset_at, pause_s)

    def _on_partial(self, utterance: int, text: str) -> None:
        """Pass an interim result to the listener (which exists before any audio is sent)."""
        if self._listener is not None:
            self._listener.on_partial(utterance, text)

    async def _talk(self, conversation: Conversation) -> None:
        """Wait for the caller and both audio directions, then run the conversation."""
        try:
            caller = await asyncio.wait_for(asyncio.shield(self._caller_found), CALLER_WAIT_S)
        except TimeoutError:
            self.stop(f"no caller joined within {CALLER_WAIT_S:.0f} s")
            return
        try:
            async with asyncio.timeout(CALLER_READY_WAIT_S):  # so the greeting isn't clipped
                if not self.media.text:  # a chat brings no caller audio to wait for
                    await self._caller_audio.wait()
                await self._voice_heard.wait()
        except TimeoutError:
            logger.info("audio with caller %s is not flowing both ways yet; greeting anyway", caller.identity)
        self._greeting_begun.set()  # (run takes the voice before a waiting message's answer can)
        await conversation.run(greeting_from_metadata(self._ctx.job.metadata))

    def _on_chat(self, reader: rtc.TextStreamReader, sender: str) -> None:
        """A message typed in the chat: answered in a task of its own."""
        self._spawn(self._answer_chat(reader, sender))

    async def _answer_chat(self, reader: rtc.TextStreamReader, sender: str) -> None:
        """Read the start of one chat message (up to MAX_CHAT_READ characters) and answer it, if it
        came from the caller, once the greeting has begun (one typed as the agent joined waits for
        the call to be set up); the rest is left unread."""
        if self.caller is None:  # typed as the agent joined: from the caller, once they are found
            try:
                await asyncio.shield(self._caller_found)
            except BaseException:  # the call ended first
                reader.close()
                raise
        if self.caller is None or sender != self.caller.identity:
            reader.close()
            logger.info("ignoring a chat message from %s, who is not the caller", sender)
            return
        parts: list[str] = []
        read = 0
        try:
            async for chunk in reader:
                parts.append(chunk)
                read += len(chunk)
                if read >= MAX_CHAT_READ:
                    break
        except Exception as exc:  # a cut-off message is dropped; it must not end the call
            logger.warning("could not read a chat message from %s: %s", sender, exc)
            return
        finally:
            reader.close()  # one left before its end would stay subscribed for the process's life
        text = "".join(parts)[:MAX_CHAT_READ]
        cut = " read" if read >= MAX_CHAT_READ else ""
        logger.info("chat from %s: %d characters%s", sender, len(text), cut)
        await self._greeting_begun.wait()
        if self._conversation is not None:
            await self._conversation.answer_chat(text)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run `coro` for the life of the call; a crash in it ends the call."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            """Let the task go; log a crash and end the call, so a bug never leaves a silent agent."""
            self._tasks.discard(finished)
            if not finished.cancelled() and (exc := finished.exception()) is not None:
                logger.error("call task failed", exc_info=exc)
                self.stop(f"internal error: {exc}")

        task.add_done_callback(done)
        return task

    def _on_participant_connected(self, participant: rtc.RemoteParticipant) -> None:
        """Take the first non-agent participant as the caller; the caller again, back after a
        lost connection."""
        if is_caller(participant) and not self._caller_found.done():
            logger.info("caller %s joined", participant.identity)
            self._caller_found.set_result(participant)
            self._take_tracks(participant)
        elif self.caller is not None and participant.identity == self.caller.identity:
            logger.info("caller %s joined again", participant.identity)
            if self._away is not None:
                self._away.cancel()
                self._away = None
            self._take_tracks(participant)

    def _take_tracks(self, participant: rtc.RemoteParticipant) -> None:
        """The participant's tracks already subscribed, as if each had just been."""
        for publication in participant.track_publications.values():
            if publication.track is not None:
                self._on_track_subscribed(publication.track, publication, participant)

    def _on_participant_disconnected(self, participant: rtc.RemoteParticipant) -> None:
        """End the call when the caller hangs up, or is not back `REJOIN_WAIT_S` after a lost
        connection (a browser's full reconnect joins again under the same identity)."""
        if self.caller is None or participant.identity != self.caller.identity:
            return
        now = self._room.remote_participants.get(participant.identity)
        if now is not None and now.sid != participant.sid:  # a newer connection of theirs took over
            return
        reason = participant.disconnect_reason
        if reason in HUNG_UP:
            self.stop(f"caller {participant.identity} left")
            return
        if self._listening is not None:  # its track is gone: the next connection's is heard
            self._listening.cancel()
            self._listening_to = None
        why = rtc.DisconnectReason.Name(reason or rtc.DisconnectReason.UNKNOWN_REASON)
        logger.info("caller %s lost (%s): waiting %.0f s for them", participant.identity, why, REJOIN_WAIT_S)
        if self._away is None:
            gone = f"caller {participant.identity} left (lost, not back in {REJOIN_WAIT_S:.0f} s)"
            self._away = asyncio.get_running_loop().call_later(REJOIN_WAIT_S, self.stop, gone)

    def _on_track_subscribed(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        """Listen to the caller's audio track (one at a time; a replacement is picked up).

        A caller's camera or screen is watched (counted) until it goes.
        """
        source = video_source_name(publication)
        if source and self._status and self.caller and participant.identity == self.caller.identity:
            if publication.sid in self._watching:
                return
            task = asyncio.create_task(watch_video(track, source, self._status))
            self._watching[publication.sid] = task
            task.add_done_callback(lambda _: self._watching.pop(publication.sid, None))
            return
        if (
            self._listener is None
            or self._listening_to is not None
            or track.kind != rtc.TrackKind.KIND_AUDIO
            or self.caller is None
            or participant.identity != self.caller.identity
        ):
            return
        logger.info("listening to %s's audio track %s", participant.identity, publication.sid)
        self._listening_to = publication.sid
        self._caller_audio.set()
        # livekit-client marks a track whose first audio was recorded before we joined
        announced = PRECONNECT_FEATURE in publication.audio_features
        preconnect = self._preconnect.buffer_for(publication.sid) if announced else None
        self._listening = self._spawn(
            self._listen(self._listener, track, publication.sid, participant, preconnect)
        )

    def _on_track_unsubscribed(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        """A caller video that went away (a stopped screen share): stop watching it."""
        watching = self._watching.get(publication.sid)
        if watching is not None:
            watching.cancel()

    async def _listen(
        self,
        listener: CallerListener,
        track: rtc.Track,
        track_sid: str,
        participant: rtc.RemoteParticipant,
        preconnect: asyncio.Future[PreconnectAudio] | None,
    ) -> None:
        """Hear `track` until it ends, then let another caller track take its place: one of a
        connection of the caller's that joined again meanwhile, if one is there already."""
        try:
            await listener.listen(track, track_sid, participant.identity, preconnect)
        finally:
            if self._listening_to == track_sid:
                self._listening_to = None
            again = self._room.remote_participants.get(participant.identity)
            if again is not None and again.sid != participant.sid and not self._ended.is_set():
                self._take_tracks(again)
