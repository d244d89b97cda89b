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


def test_reads_only_the_newest_calls_a_smaller_limit_counts() -> None:
    """Limits of several sizes may share a window (a number's daily cap): each reads it as Redis does."""
    storage = MemoryWindows()
    for _ in range(3):
        assert storage.acquire_entry("number", 3, 60)
        time.sleep(0.01)
    newest = storage.windows["number"][1][-1]
    assert storage.get_moving_window("number", 1, 60) == (newest, 1)
    assert storage.get_moving_window("number", 5, 60)[1] == 3


def test_a_turn_is_one_record_whatever_the_callers_cooldown() -> None:
    storage = MemoryWindows()
    assert storage.take_turn("number", 600, 3600) is None
    assert 299 < (storage.take_turn("number", 300, 3600) or 0) <= 300  # a shorter cooldown waits too
    assert 599 < (storage.take_turn("number", 600, 3600) or 0) <= 600  # and its refusal left the call
    time.sleep(0.1)
    assert storage.take_turn("number", 0.05, 3600) is None  # past this one's cooldown: its call now
    assert 599.99 < (storage.take_turn("number", 600, 3600) or 0) <= 600  # the newest call counts
    storage.give_back("number")  # that call was never placed: the one before is the last again
    assert 599.8 < (storage.take_turn("number", 600, 3600) or 0) < 599.95
    assert storage.take_turn("number", 0.05, 3600) is None


def test_a_turn_is_kept_for_the_longest_cooldown_past_the_sweep() -> None:
    storage = MemoryWindows()
    assert storage.take_turn("number", 0.05, 60) is None
    time.sleep(0.1)  # past the caller's cooldown, well within the 60 s it is kept
    storage.next_sweep = 0.0  # the sweep is due
    assert storage.take_turn("other", 0.05, 60) is None
    assert 59 < (storage.take_turn("number", 60, 60) or 0) < 60
