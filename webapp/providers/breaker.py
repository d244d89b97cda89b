"""A circuit breaker: a provider that keeps failing is not hammered.

After ``threshold`` failures in a row the breaker opens and calls fail fast for
``cooldown_s``; then one trial call goes through (half-open) and its outcome
closes the breaker or opens it again.
"""

from __future__ import annotations

import threading
import time

from ..errors import ProviderUnavailable


class CircuitBreaker:
    """Counts consecutive failures of one provider, per process."""

    def __init__(self, *, threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.open_until = 0.0
        self.trial_running = False
        self.lock = threading.Lock()

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``, for /readyz."""
        if self.failures < self.threshold:
            return "closed"
        return "open" if time.monotonic() < self.open_until else "half-open"

    def before_call(self) -> None:
        """Fail fast while open; let one trial call through once the cool-down is over."""
        with self.lock:
            if self.failures < self.threshold:
                return
            wait_s = self.open_until - time.monotonic()
            if wait_s > 0 or self.trial_running:
                error = ProviderUnavailable(retry_after_s=max(1, round(wait_s)))
                error.never_sent = True
                raise error
            self.trial_running = True

    def record(self, *, ok: bool) -> None:
        """Close on success; count a failure, opening (again) at the threshold."""
        with self.lock:
            self.trial_running = False
            if ok:
                self.failures = 0
                return
            self.failures += 1
            if self.failures >= self.threshold:
                self.open_until = time.monotonic() + self.cooldown_s
