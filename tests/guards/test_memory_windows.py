"""The in-process moving windows behind ``memory://``: exact counts, no thread, idle windows dropped."""

from __future__ import annotations

import threading
import time

from limits import RateLimitItemPerSecond
from limits.strategies import MovingWindowRateLimiter

from webapp.guards.memory_windows import MemoryWindows


def test_counts_a_moving_window_exactly() -> None:
    storage = MemoryWindows()
    limiter = MovingWindowRateLimiter(storage)
    two_a_second = RateLimitItemPerSecond(2, 1)
    assert [limiter.hit(two_a_second, "client") for _ in range(3)] == [True, True, False]
    assert limiter.hit(two_a_second, "someone-else")  # each key counts on its own
    stats = limiter.get_window_stats(two_a_second, "client")
    assert stats.remaining == 0 and time.time() < stats.reset_time <= time.time() + 1
    time.sleep(1.05)  # both calls leave the window
    assert limiter.hit(two_a_second, "client")
    assert limiter.get_window_stats(two_a_second, "client").remaining == 1


def test_starts_no_thread_and_sweeps_idle_windows() -> None:
    threads = threading.active_count()
    storage = MemoryWindows()
    limiter = MovingWindowRateLimiter(storage)
    one_a_second = RateLimitItemPerSecond(1, 1)
    for client in ("a", "b", "c"):
        limiter.hit(one_a_second, client)
    assert threading.active_count() == threads
    time.sleep(1.05)
    storage.next_sweep = 0.0  # the sweep is due
    limiter.hit(one_a_second, "d")
    assert list(storage.windows) == [next(k for k in storage.windows if k.endswith("d"))]
