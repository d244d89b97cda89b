"""In-process moving windows for the limits: what ``memory://`` means to webcall.

limits' own ``MemoryStorage`` keeps each window as a list of objects, newest first, inserted
at the front (a copy of the list per call) and trimmed by a timer thread it starts again
every 10 ms while calls come in: a thread start and a copy of every window, per call, on the
request path. Here a window is a deque of timestamps, oldest first: a call appends one,
expired ones leave from the front when the window is next read, and windows nobody reads
any more are dropped by an occasional sweep on the calling thread. Same answers (the
moving window is exact), no thread, O(1) per call.

The table is bounded: a flood of clients (an IPv6 /48 holds 65,536 /64s, each counted on its own)
would otherwise grow it by about 1 kB a window until the windows aged out, an hour for the
hourly limits. Past ``MAX_WINDOWS`` the idle windows are swept at once and, if that is not
enough, the oldest of the windows counted per client are dropped (such a client starts afresh;
the all-clients ceiling, the agents' budgets, the numbers' cooldowns and the demo links' calls
being started are never dropped).

A phone number's cooldown is a record of its newest calls instead (:meth:`MemoryWindows.take_turn`),
one for every agent's cooldown, as the Redis script in :mod:`.limits` keeps it.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Collection

from limits.storage import MovingWindowSupport, Storage

SCHEME = "webcall-memory"
SWEEP_EVERY_S = 60.0  # windows idle for longer than their length are dropped this often
MAX_WINDOWS = 100_000  # about 100 MB: a window is about 1 kB
KEY_NAMESPACE = "LIMITER"  # the start of every key limits makes for an item (its default namespace)
KEEP_WHEN_FULL = 0.9  # dropping per-client windows makes room for a tenth of the table at once

log = logging.getLogger(__name__)


class MemoryWindows(Storage, MovingWindowSupport):
    """Moving-window counts in this process (the only strategy webcall's limiter uses)."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.windows: dict[str, tuple[float, deque[float]]] = {}  # key -> (length in s, call times)
        self.lock = threading.Lock()  # a check and its count are one step
        self.next_sweep = time.time() + SWEEP_EVERY_S
        self.max_windows = MAX_WINDOWS
        # The scopes counted per client, whose windows may be dropped when the table is full (set
        # by the limits that use this storage; none: no window is ever dropped).
        self.per_client_scopes: Collection[str] = ()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """Nothing here fails the way a remote storage does."""
        return ValueError

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Count ``amount`` calls now unless that would take the window over ``limit``."""
        if amount > limit:
            return False
        now = time.time()
        with self.lock:
            if now >= self.next_sweep:
                self._sweep(now)
            window = self._current(key, expiry, now)
            if len(window) + amount > limit:
                return False
            window.extend([now] * amount)
            return True

    def take_turn(self, key: str, cooldown_s: float, keep_s: float) -> float | None:
        """Count a call now unless ``key``'s newest call is within ``cooldown_s``; else the
        seconds to wait.

        One record whatever the caller's cooldown, kept ``keep_s`` (the longest any caller has),
        so a caller with a long cooldown sees the calls of one with a short one. Its newest two
        are kept: giving one back leaves the call before it in force.
        """
        now = time.time()
        with self.lock:
            if now >= self.next_sweep:
                self._sweep(now)
            calls = self._current(key, keep_s, now)
            if calls and calls[-1] + cooldown_s > now:
                return calls[-1] + cooldown_s - now
            calls.append(now)
            if len(calls) > 2:
                calls.popleft()
            return None

    def give_back(self, key: str) -> None:
        """Uncount the newest call in ``key``'s window (the request it was counted for was refused)."""
        with self.lock:
            entry = self.windows.get(key)
            if entry is not None and entry[1]:
                entry[1].pop()

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """When the oldest of the newest ``limit`` calls in the window was counted, and how many
        those are (as Redis answers: a window that larger limits share may hold more)."""
        now = time.time()
        with self.lock:
            window = self._current(key, expiry, now)
            count = min(len(window), limit)
            return (window[-count], count) if count else (now, 0)

    def _current(self, key: str, expiry: float, now: float) -> deque[float]:
        """``key``'s window with the calls older than ``expiry`` seconds gone."""
        entry = self.windows.get(key)
        if entry is None:
            if len(self.windows) >= self.max_windows:
                self._make_room(now)
            entry = self.windows[key] = (expiry, deque())
        window, cutoff = entry[1], now - expiry
        while window and window[0] < cutoff:
            window.popleft()
        return window

    def _sweep(self, now: float) -> None:
        """Drop every window whose newest call has left it (a client that never came back)."""
        idle = [k for k, (expiry, window) in self.windows.items() if not window or window[-1] < now - expiry]
        for key in idle:
            del self.windows[key]
        self.next_sweep = now + SWEEP_EVERY_S

    def _make_room(self, now: float) -> None:
        """The table is full: sweep it now and, if every window is still in use, drop the oldest
        per-client windows (the first in the table) down to ``KEEP_WHEN_FULL`` of it."""
        self._sweep(now)
        excess = len(self.windows) - int(self.max_windows * KEEP_WHEN_FULL)
        prefixes = tuple(f"{KEY_NAMESPACE}/{scope}/" for scope in self.per_client_scopes)
        if excess <= 0 or not prefixes:
            return
        per_client = (key for key in self.windows if key.startswith(prefixes))
        oldest = list(itertools.islice(per_client, excess))
        for key in oldest:
            del self.windows[key]
        log.warning(
            "limits: %d windows in memory, the most kept: dropped the %d oldest per-client windows "
            "(those clients' counts start again)",
            self.max_windows,
            len(oldest),
        )

    # The rest of limits' storage interface: the fixed-window counters webcall does not use.
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Not used by the moving window."""
        raise NotImplementedError("webcall's limits use the moving window only")

    def get(self, key: str) -> int:
        """Calls in ``key``'s window as last read (the moving window reads it with its length)."""
        entry = self.windows.get(key)
        return len(entry[1]) if entry else 0

    def get_expiry(self, key: str) -> float:
        """When ``key``'s newest call leaves its window."""
        entry = self.windows.get(key)
        return entry[1][-1] + entry[0] if entry and entry[1] else time.time()

    def check(self) -> bool:
        """Always reachable: it is this process."""
        return True

    def reset(self) -> int | None:
        """Forget every window; how many there were."""
        with self.lock:
            count = len(self.windows)
            self.windows.clear()
        return count

    def clear(self, key: str) -> None:
        """Forget ``key``'s window."""
        with self.lock:
            self.windows.pop(key, None)
