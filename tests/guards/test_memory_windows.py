"""The in-process moving windows behind ``memory://``: exact counts, no thread, idle windows dropped."""

from __future__ import annotations

import threading
import time

import pytest
from limits import RateLimitItemPerDay, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.strategies import MovingWindowRateLimiter

from webapp.guards.limits import Limits, parsed
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


def test_a_full_table_drops_the_oldest_per_client_windows_and_never_a_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A flood of clients (a /64 each) cannot grow the table past its size: the idle windows go
    first, then the oldest counted per client; the all-clients ceiling and a budget stay."""
    import webapp.calls.api  # noqa: F401  (its views declare the per-client scope)

    limits = Limits("memory://")
    storage = limits.strategy.storage
    assert isinstance(storage, MemoryWindows)
    storage.max_windows = 100
    budget, ceiling, per_client = RateLimitItemPerDay(5), RateLimitItemPerMinute(1000), parsed("3/minute")[0]
    assert limits.hit(budget, "agent-day", "demo") is None
    for n in range(250):
        assert limits.hit(ceiling, "all-clients", "all") is None
        assert limits.hit(per_client, "per-client", f"2001:db8:0:{n:x}::/64") is None
    assert len(storage.windows) <= 100
    clients = [key.split("/")[2] for key in storage.windows if "/per-client/" in key]
    kept = sorted(int(client.split(":")[3], 16) for client in clients)
    assert len(kept) >= 50 and kept == list(range(250 - len(kept), 250))  # the newest clients
    assert budget.key_for("agent-day", "demo") in storage.windows
    assert limits.hit(ceiling, "all-clients", "all") is None  # the ceiling counted all 251
    assert storage.get_moving_window(ceiling.key_for("all-clients", "all"), 1000, 60)[1] == 251
    assert limits.hit(budget, "agent-day", "demo") is None  # the budget kept its first call
    assert storage.get_moving_window(budget.key_for("agent-day", "demo"), 5, 86400)[1] == 2
    newest = "2001:db8:0:f9::/64"  # the last client still has its count
    assert [limits.hit(per_client, "per-client", newest) for _ in range(3)][-1] is not None
    assert "dropped the" in caplog.text and "per-client windows" in caplog.text


def test_a_full_table_of_windows_no_client_owns_is_never_cut() -> None:
    storage = MemoryWindows()
    storage.max_windows = 10
    for n in range(20):
        assert storage.acquire_entry(f"LIMITER/agent-day/agent-{n}/5/1/day", 5, 86400)
    assert len(storage.windows) == 20
