"""Real services from Debian packages, started by the tests themselves on loopback."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
import redis

from .processes import free_port, wait_until


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server on a free loopback port, without persistence; its process and URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is needed: run scripts/bootstrap --test")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    wait_until(lambda: bool(client.ping()), timeout_s=10, what="redis-server")
    return process, f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the whole run."""
    process, url = start_redis(str(tmp_path_factory.mktemp("redis")))
    yield url
    process.terminate()
    process.wait(10)
