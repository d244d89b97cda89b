"""Several workers or hosts: limits, budgets and replays counted once, in Redis; proxies trusted as told."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from flask import Flask

from tests.conftest import OfflineLiveKit, build_app
from tests.support.processes import free_port, wait_until
from tests.support.stack import start_app_server

CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
calls_per_minute = 3
"""


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on loopback, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is needed: run scripts/bootstrap --test")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    wait_until(lambda: bool(client.ping()), timeout_s=10, what="redis-server")
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def build(tmp_path: Path, **env: str) -> Flask:
    """An app instance: several of them stand for several gunicorn workers or hosts."""
    return build_app(tmp_path, CATALOGUE, **env)


def post(app: Flask, headers: dict[str, str] | None = None, **environ: Any) -> Any:
    """POST a call for the only agent."""
    return app.test_client().post("/api/calls", json={}, headers=headers or {}, environ_base=environ)


def test_limits_and_replays_hold_across_gunicorn_workers(tmp_path: Path, redis_url: str) -> None:
    """Two gunicorn workers share one count and one replay store through Redis."""
    env = {
        "WEBCALL_RATELIMIT_STORAGE_URI": redis_url,
        "WEB_CONCURRENCY": "2",
        "LIVEKIT_URL": OfflineLiveKit.url,
        "LIVEKIT_API_KEY": OfflineLiveKit.api_key,
        "LIVEKIT_API_SECRET": OfflineLiveKit.api_secret,
    }
    app = start_app_server(env, tmp_path, agents_toml=CATALOGUE)
    try:
        workers = _worker_pids(app.process.popen.pid)
        assert len(workers) == 2
        with httpx.Client(base_url=app.url) as client:
            # A new connection per request, so both workers take some.
            statuses = [httpx.post(f"{app.url}/api/calls", json={}).status_code for _ in range(4)]
            assert statuses == [201, 201, 201, 429]  # the agent's cap of 3 a minute, counted once
            redis.Redis.from_url(redis_url).flushdb()
            answers = [
                httpx.post(f"{app.url}/api/calls", json={}, headers={"Idempotency-Key": "k1"}).json()
                for _ in range(6)
            ]
            assert all(answer == answers[0] for answer in answers)
            assert client.get("/healthz").status_code == 200
    finally:
        app.process.stop()


def _worker_pids(master: int) -> list[int]:
    """The gunicorn master's worker processes."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def test_forwarded_for_is_believed_only_behind_trusted_proxies(tmp_path: Path) -> None:
    spoofed = {"X-Forwarded-For": "203.0.113.7"}
    direct = build(tmp_path, WEBCALL_RATE_LIMITS="1/minute")
    assert post(direct, spoofed, REMOTE_ADDR="127.0.0.9").status_code == 201
    # A new X-Forwarded-For does not buy a new allowance when no proxy is trusted.
    assert post(direct, {"X-Forwarded-For": "203.0.113.8"}, REMOTE_ADDR="127.0.0.9").status_code == 429
    proxied = build(tmp_path, WEBCALL_RATE_LIMITS="1/minute", WEBCALL_TRUSTED_PROXIES="1")
    assert post(proxied, spoofed, REMOTE_ADDR="127.0.0.9").status_code == 201
    assert post(proxied, {"X-Forwarded-For": "203.0.113.8"}, REMOTE_ADDR="127.0.0.9").status_code == 201
    assert post(proxied, spoofed, REMOTE_ADDR="127.0.0.10").status_code == 429


def test_pages_send_strict_headers(tmp_path: Path) -> None:
    client = build(tmp_path).test_client()
    page = client.get("/talk/local")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp and "'unsafe-inline'" not in csp
    nonce = csp.split("'nonce-", 1)[1].split("'", 1)[0]
    html = page.get_data(as_text=True)
    for tag in html.split("<script")[1:]:
        assert f'nonce="{nonce}"' in tag.split(">", 1)[0] or "application/json" in tag.split(">", 1)[0]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "microphone=(self)" in page.headers["Permissions-Policy"]
    missing = client.get("/talk/nobody")
    assert missing.status_code == 404 and "microphone=()" in missing.headers["Permissions-Policy"]
    assert client.get("/talk/local").headers["Content-Security-Policy"] != csp  # a fresh nonce each time
