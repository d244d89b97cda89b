"""Double clicks and retries never create two calls.

The page sends an ``Idempotency-Key``; the first request with a key does the work,
and any other with the same key (for the same agent and client) within the window
gets the same answer; a call's answer only while its token still works (``token_bound``: until
shortly before its ``expires_at``), after which a retry does the work anew (a dead token
replayed would fail the join it was retried for).
A request that arrives while the first is still running waits for it. The same key on a
request that asks for something else (another number, other variables: its fingerprint
differs) is refused (409), never answered with the first one's call. Failed attempts are
forgotten, so a retry after an error tries again, and so does a request that was waiting for
it. Memory by default; Redis (the rate limits' storage) when several processes serve: if
Redis cannot be reached before the work, the request is refused (503 ``limits_unavailable``);
once the work is done, its answer is returned even if Redis can no longer keep it (that is
logged).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from flask import g

from ..errors import CallInProgress, IdempotencyKeyReused, InvalidIdempotencyKey
from .limits import REDIS_TIMEOUTS, REPLAYED, storage_unavailable

KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
KEY_RE = re.compile(KEY_PATTERN)
WAIT_FOR_FIRST_S = 20.0
# What a create may take beyond the provider's deadline (the call log's INSERT, whose statement
# timeout is 10 s on PostgreSQL, and slack): a claim that expired sooner would let a retry
# with the same key create a second call while the first is still being made.
CLAIM_MARGIN_S = 20
# An answer whose token has less life than this left is not replayed: the page could hardly join
# with it (it connects within a second or two of the answer).
MIN_LIFE_LEFT_S = 5.0
Answer = dict[str, Any]
log = logging.getLogger(__name__)


class Replay(Protocol):
    """Runs the work for a key once and replays its answer within the window."""

    def run(
        self, key: str, work: Callable[[], Answer], fingerprint: str = "", token_bound: bool = False
    ) -> Answer:
        """The first answer for ``key``, computing it with ``work`` only once; a request whose
        ``fingerprint`` differs from the first's is refused. ``token_bound``: the answer's
        ``expires_at`` is its token's, and no replay outlives it (:func:`replay_for_s`)."""
        ...


def once_per_key(
    replay: Replay,
    key: str | None,
    work: Callable[[], Answer],
    fingerprint: str,
    *,
    token_bound: bool = False,
) -> Answer:
    """``work``'s answer, computed once per ``key`` (every time without one). An answer replayed
    from an earlier request is marked on ``g``, so the limits this one was counted against give
    it back (:func:`.limits.limited`): a retry is not a second call."""
    if key is None:
        return work()
    ran = False

    def run() -> Answer:
        nonlocal ran
        ran = True
        return work()

    answer = replay.run(key, run, fingerprint, token_bound)
    if not ran:
        setattr(g, REPLAYED, True)
    return answer


def check_key(key: str | None) -> str | None:
    """The header's key when it is well formed; a clear 400 when it is not."""
    if key is None:
        return None
    if not KEY_RE.match(key):
        raise InvalidIdempotencyKey()
    return key


def scoped_key(agent: str, client: str, key: str) -> str:
    """A page's key made ours: the same key from two visitors (or for two agents) is two calls."""
    return f"{agent}|{client}|{key}"


def replay_for_s(answer: Answer, window_s: float, token_bound: bool) -> float:
    """How long ``answer`` may be replayed: the window, or when ``token_bound`` until
    ``MIN_LIFE_LEFT_S`` before its ``expires_at`` (ISO 8601, its token's) if that comes sooner; a
    second at least, for the requests that were waiting on it (a double click gets one answer,
    whatever it holds)."""
    expires = answer.get("expires_at") if token_bound else None
    try:
        ends = datetime.fromisoformat(expires).timestamp() if isinstance(expires, str) else None
    except (ValueError, OverflowError):  # not ours to judge here: the answer's model made it
        ends = None
    return window_s if ends is None else max(1.0, min(window_s, ends - time.time() - MIN_LIFE_LEFT_S))


def fingerprint(*what: Any) -> str:
    """What a request asks for, in 32 hex digits: equal for a retry, different for another call."""
    text = json.dumps(what, sort_keys=True, separators=(",", ":"), default=str)  # ASCII: any str encodes
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass
class _Entry:
    fingerprint: str
    done: threading.Event = field(default_factory=threading.Event)
    answer: Answer | None = None
    expires_at: float = 0.0


class MemoryReplay:
    """Replays within one process (gunicorn with one worker and threads)."""

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self.lock = threading.Lock()
        self.entries: dict[str, _Entry] = {}
        # Answered keys by when they expire (a heap: an answer's token may end before the window),
        # so forgetting old ones costs only the expired ones, not a pass over every answer.
        self.expiries: list[tuple[float, str]] = []

    def _forget_expired(self, now: float) -> None:
        """Drop answers whose window has passed (call with the lock held)."""
        while self.expiries and self.expiries[0][0] <= now:
            expires_at, key = heapq.heappop(self.expiries)
            entry = self.entries.get(key)
            if entry is not None and entry.done.is_set() and entry.expires_at == expires_at:
                del self.entries[key]

    def run(
        self, key: str, work: Callable[[], Answer], fingerprint: str = "", token_bound: bool = False
    ) -> Answer:
        """Return the first answer for ``key``, computing it with ``work`` only once."""
        with self.lock:
            self._forget_expired(time.monotonic())
            entry = self.entries.get(key)
            owner = entry is None
            if owner:
                entry = self.entries[key] = _Entry(fingerprint)
        assert entry is not None
        if not owner:
            if entry.fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            if not entry.done.wait(WAIT_FOR_FIRST_S):
                raise CallInProgress()
            if entry.answer is None:
                return self.run(key, work, fingerprint, token_bound)  # the first attempt failed: try again
            return entry.answer
        try:
            entry.answer = work()
            keep_s = replay_for_s(entry.answer, self.window_s, token_bound)
            with self.lock:
                entry.expires_at = time.monotonic() + keep_s
                heapq.heappush(self.expiries, (entry.expires_at, key))
            return entry.answer
        except BaseException:
            with self.lock:
                self.entries.pop(key, None)
            raise
        finally:
            entry.done.set()


class RedisReplay:
    """Replays across processes and hosts through Redis."""

    PENDING = "pending"

    def __init__(self, url: str, window_s: int, work_s: float = 13.0) -> None:
        """``work_s``: the longest the provider's part of a create may take (its deadline)."""
        import redis  # here, so that a deployment without Redis never loads it

        self.redis = redis.Redis.from_url(url, **REDIS_TIMEOUTS)
        self.redis_errors = redis.RedisError
        self.window_s = window_s
        self.claim_s = max(int(WAIT_FOR_FIRST_S) + 5, math.ceil(work_s) + CLAIM_MARGIN_S)

    def run(
        self, key: str, work: Callable[[], Answer], fingerprint: str = "", token_bound: bool = False
    ) -> Answer:
        """Like :meth:`MemoryReplay.run`, with the claim and the answer kept in Redis: the claim is
        ``pending <fingerprint>``, the answer ``{"fingerprint", "answer"}`` in JSON. (Keys of their
        own since fingerprints: a process of the version before, still serving during a rolling
        deploy, reads neither.)"""
        name = f"webcall:idem2:{key}"
        claim = f"{self.PENDING} {fingerprint}"
        if self._required(self.redis.set, name, claim, nx=True, ex=self.claim_s):
            try:
                answer = work()
            except BaseException:
                self._best_effort("release a failed attempt's key", self.redis.delete, name)
                raise
            kept = json.dumps({"fingerprint": fingerprint, "answer": answer})
            keep_ms = int(replay_for_s(answer, self.window_s, token_bound) * 1000)
            self._best_effort("keep an answer to replay", self.redis.set, name, kept, px=keep_ms)
            return answer
        deadline = time.monotonic() + WAIT_FOR_FIRST_S
        while time.monotonic() < deadline:
            stored = self._required(self.redis.get, name)
            if stored is None:
                return self.run(key, work, fingerprint, token_bound)  # the first attempt failed: try again
            text = stored.decode() if isinstance(stored, bytes) else str(stored)
            if text.startswith(self.PENDING):
                if text != claim:
                    raise IdempotencyKeyReused()
                time.sleep(0.05)
                continue
            kept = json.loads(text)
            if kept["fingerprint"] != fingerprint:
                raise IdempotencyKeyReused()
            return dict(kept["answer"])
        raise CallInProgress()

    def _required(self, command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A Redis command this request cannot go on without: an outage refuses it (503)."""
        try:
            return command(*args, **kwargs)
        except self.redis_errors as problem:
            raise storage_unavailable(problem) from problem

    def _best_effort(self, what: str, command: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """A Redis command after the work: an outage is logged (never the answer, which holds a
        token), and the request's own outcome stands."""
        try:
            command(*args, **kwargs)
        except self.redis_errors as problem:
            log.error("idempotency: could not %s", what, extra={"problem": str(problem)})


def create_replay(storage_uri: str, window_s: int, work_s: float) -> Replay:
    """Use the same backend as the rate limits (``work_s``: see :class:`RedisReplay`; in memory a
    claim lasts as long as its work)."""
    if storage_uri.startswith("redis"):
        return RedisReplay(storage_uri, window_s, work_s)
    return MemoryReplay(window_s)
