"""Fixtures for the guards' tests: a Redis of a test's own, to kill mid-test."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes import FakeState
from tests.support.processes import wait_until
from tests.support.services import start_redis


@dataclass
class DoomedRedis:
    """A redis-server of one test's own (the session's ``redis_url`` one stays up)."""

    process: subprocess.Popen[bytes]
    url: str

    def kill(self) -> None:
        """SIGKILL it and wait until it is gone, its connections with it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)

    def kill_while_answering(self, provider: FakeState) -> threading.Thread:
        """Kill it as soon as ``provider`` has a request, while it is still answering (give the
        provider some ``latency_s``); join the thread before looking at the outcome."""

        def watch() -> None:
            wait_until(lambda: bool(provider.requests), timeout_s=10, what="the provider to be asked")
            self.kill()

        thread = threading.Thread(target=watch)
        thread.start()
        return thread


@pytest.fixture
def doomed_redis(tmp_path: Path) -> Iterator[DoomedRedis]:
    """A fresh redis-server; killed by the test, or at its end."""
    process, url = start_redis(str(tmp_path))
    redis = DoomedRedis(process, url)
    yield redis
    redis.kill()
