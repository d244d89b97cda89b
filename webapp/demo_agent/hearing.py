"""The agent's side of the recogniser: a child process per call, spoken to over pipes.

`recognizer.py` runs as `python recognizer.py` (see its docstring for why a process);
this class starts it, streams an utterance's audio to it, and hands back interim texts
as they come and the final words at the end. Nothing here blocks the event loop.

A process that dies mid-call (a crash, the OOM killer) is replaced by a fresh one, a few
times a call at most: the utterances it was hearing get no words, later ones are heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import recognizer
from .intents import domain_corpus
from .recognizer import Recognition, Word

logger = logging.getLogger(__name__)

RECOGNIZER_SCRIPT = Path(recognizer.__file__)
START_TIMEOUT_S = 30.0  # loading two acoustic models on a busy 2-core machine
FINAL_TIMEOUT_S = 10.0  # of silence from the recogniser: one still at work on a backlog is waited for
MAX_RESTARTS = 3  # a recogniser that dies more often in one call is given up on
RESTART_BACKOFF_S = 0.5  # the wait before the first restart; doubled before each next one


class RecognizerError(RuntimeError):
    """The recogniser process is gone or did not answer in time."""


class Hearing:
    """A recogniser process for a call: `start()`, then per utterance `begin`, `feed`…, `finish`."""

    def __init__(self, on_partial: Callable[[int, str], None]) -> None:
        """`on_partial(utterance, text)` runs for every interim result."""
        self._on_partial = on_partial
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = self._new_ready()
        self._finals: dict[int, asyncio.Future[Recognition]] = {}
        self._next_id = 0
        self._first_id = 1  # the first utterance the running process heard begin
        self._closing = False
        self._answered_at = 0.0  # the event loop's time of the process's last answer of any kind
        self.unknown_words: list[str] = []

    async def start(self) -> None:
        """Start the process; until `aclose`, one that dies is replaced (see `_keep_running`)."""
        await self._spawn()
        self._reader = asyncio.create_task(self._keep_running())

    async def _spawn(self) -> None:
        """Start a process and send it the domain sentences (it answers when loaded)."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(RECOGNIZER_SCRIPT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self._first_id = self._next_id + 1
        self._send(recognizer.START, json.dumps({"corpus": domain_corpus()}).encode())

    async def wait_ready(self) -> None:
        """Wait until the models are loaded."""
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT_S)
        except TimeoutError as exc:
            raise RecognizerError(f"the recogniser did not start within {START_TIMEOUT_S:.0f} s") from exc

    def begin(self) -> int:
        """Start an utterance; return its number (for `finish` and interim results)."""
        self._next_id += 1
        self._send(recognizer.START, json.dumps({"id": self._next_id}).encode())
        return self._next_id

    def feed(self, pcm: bytes) -> None:
        """Send 16 kHz mono int16 audio of the utterance in progress."""
        self._send(recognizer.AUDIO, pcm)

    def cancel(self) -> None:
        """Abandon the utterance in progress."""
        self._send(recognizer.CANCEL)

    def end(self, utterance: int) -> asyncio.Future[Recognition]:
        """End the utterance in progress (number `utterance`) now; its words come in the future.

        At once, not in a task: the next utterance may begin right after (two turns in one
        chunk of audio), and its START must follow this END.
        """
        if utterance < self._first_id:  # its START went to a process that died since
            raise RecognizerError("the recogniser was restarted during this utterance")
        final = self._finals[utterance] = asyncio.get_running_loop().create_future()
        # Read even when nobody awaits it (a call ending first): no "exception never retrieved".
        final.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            self._send(recognizer.END)
        except RecognizerError:
            self._finals.pop(utterance, None)
            raise
        return final

    async def words(self, utterance: int, final: asyncio.Future[Recognition]) -> Recognition:
        """Wait for the words of an utterance `end` ended.

        As long as the process keeps answering (interim results as it works through audio sent
        faster than it hears it: a loaded machine, a long turn sent at once); it is given up on
        after FINAL_TIMEOUT_S without a word from it.
        """
        loop = asyncio.get_running_loop()
        try:
            if not final.done():  # (one whose process died has failed: no wait for the next)
                await self.wait_ready()  # a turn can end before the models are loaded (pre-connect audio)
            waiting_since = loop.time()
            while True:
                deadline = max(waiting_since, self._answered_at) + FINAL_TIMEOUT_S
                if (left_s := deadline - loop.time()) <= 0:
                    raise RecognizerError("the recogniser did not answer in time")
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(final), left_s)
        finally:
            self._finals.pop(utterance, None)
            final.cancel()  # (a no-op once it has its words)

    async def finish(self, utterance: int) -> Recognition:
        """End the utterance in progress and wait for its words."""
        return await self.words(utterance, self.end(utterance))

    async def aclose(self) -> None:
        """Stop the process, and start no other."""
        self._closing = True
        process = self._process
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 2)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail_waiting(RecognizerError("the recogniser was stopped"))

    def _send(self, kind: bytes, payload: bytes = b"") -> None:
        """Write one message; the pipe buffers it, so this never waits."""
        process = self._process
        stdin = process.stdin if process is not None and process.returncode is None else None
        if stdin is None or stdin.is_closing():  # (closing: it died, and a write found out first)
            raise RecognizerError("the recogniser is not running")
        stdin.write(recognizer.encode_message(kind, payload))

    def _new_ready(self) -> asyncio.Future[None]:
        """A future for the next process's models being loaded."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Read even when nobody waits on it (a call ending first): no "exception never retrieved".
        ready.add_done_callback(lambda done: done.cancelled() or done.exception())
        return ready

    def _fail_waiting(self, error: RecognizerError) -> None:
        """Wake whoever waits for the models or for words with `error`."""
        waiting_ones: list[asyncio.Future[Any]] = [self._ready, *self._finals.values()]
        for waiting in waiting_ones:
            if not waiting.done():
                waiting.set_exception(error)

    async def _keep_running(self) -> None:
        """Read the process's answers; when it dies, start a fresh one (MAX_RESTARTS at most).

        Until the fresh one runs, `begin` and `feed` raise RecognizerError; once they are used
        up the call goes on unheard (its turns get no words), rather than ending.
        """
        restarts = 0
        while True:
            status = await self._read()
            if self._closing:
                logger.info("recogniser exited with status %s", status)
                return
            if restarts == MAX_RESTARTS:
                logger.error("the recogniser died (exit status %s), after %d restarts", status, restarts)
                break
            restarts += 1
            logger.warning(
                "the recogniser died (exit status %s); starting a fresh one (%d of %d)",
                status,
                restarts,
                MAX_RESTARTS,
            )
            await asyncio.sleep(RESTART_BACKOFF_S * 2 ** (restarts - 1))
            if self._ready.done():
                self._ready = self._new_ready()
            try:
                await self._spawn()
            except (OSError, RecognizerError) as exc:
                logger.error("could not start a fresh recogniser: %s", exc)
                break
        logger.error("the rest of this call goes unheard: its turns get no words")
        self._fail_waiting(RecognizerError("the recogniser died"))

    async def _read(self) -> int:
        """Dispatch the process's answers until it exits; return its exit status."""
        process = self._process
        assert process is not None and process.stdout is not None
        while (line := await process.stdout.readline()).endswith(b"\n"):  # (not a line cut by its death)
            self._answered_at = asyncio.get_running_loop().time()
            message = json.loads(line)
            if "ready" in message:
                self.unknown_words = list(message.get("unknown_words", []))
                if not self._ready.done():
                    self._ready.set_result(None)
            elif "partial" in message:
                self._on_partial(int(message["id"]), str(message["partial"]))
            elif "final" in message and (waiting := self._finals.get(int(message["id"]))) is not None:
                final = message["final"]
                words = [Word(**word) for word in final.pop("words")]
                if not waiting.done():
                    waiting.set_result(Recognition(words=words, **final))
        gone = RecognizerError("the recogniser exited")
        for final in self._finals.values():  # (the models' readiness waits for a fresh process)
            if not final.done():
                final.set_exception(gone)
        return await process.wait()
