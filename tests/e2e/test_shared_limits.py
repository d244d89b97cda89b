"""Several workers or hosts: limits, budgets and replays counted once, in Redis; proxies trusted as told."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis
from flask import Flask

from tests.support.apps import build_app, offline_livekit_env
from tests.support.logs import access_lines
from tests.support.stack import AppServer, start_app_server

CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
calls_per_minute = 3
"""


def build(tmp_path: Path, **env: str) -> Flask:
    """An app instance: several of them stand for several gunicorn workers or hosts."""
    return build_app(tmp_path, CATALOGUE, **env)


def post(app: Flask, headers: dict[str, str] | None = None, **environ: Any) -> Any:
    """POST a call for the only agent."""
    return app.test_client().post("/api/calls", json={}, headers=headers or {}, environ_base=environ)


def test_limits_and_replays_hold_across_gunicorn_workers(tmp_path: Path, redis_url: str) -> None:
    """Two gunicorn workers share one count and one replay store through Redis, and both serve."""
    env = {"WEBCALL_RATELIMIT_STORAGE_URI": redis_url, "WEB_CONCURRENCY": "2", **offline_livekit_env()}
    app = start_app_server(env, tmp_path, agents_toml=CATALOGUE)
    try:
        workers = _worker_pids(app.process.popen.pid)
        assert len(workers) == 2

        def call(headers: dict[str, str]) -> httpx.Response:
            # A new connection per request, so either worker may accept it.
            return httpx.post(f"{app.url}/api/calls", json={}, headers=headers)

        capped = _until_both_served(app, workers, lambda: call({}))
        statuses = [r.status_code for r in capped]
        # The agent's cap of 3 a minute, counted once for both workers.
        assert statuses[:3] == [201, 201, 201] and set(statuses[3:]) == {429}
        redis.Redis.from_url(redis_url).flushdb()
        replays = _until_both_served(app, workers, lambda: call({"Idempotency-Key": "k1"}))
        assert {r.status_code for r in replays} == {201}
        assert all(r.json() == replays[0].json() for r in replays)  # one call, whoever answered
    finally:
        app.process.stop()


def _until_both_served(app: AppServer, workers: list[int], send: Callable[[], httpx.Response]) -> list[Any]:
    """Send requests until the access log shows each worker answered one; return the answers."""
    answers: list[Any] = []
    mark = len(app.process.log())
    while len(answers) < 100:
        answers.append(send())
        served = {line["pid"] for line in access_lines(app.process.log()[mark:], "/api/calls")}
        if len(answers) >= 4 and served >= set(workers):
            return answers
    raise AssertionError(f"one worker served all {len(answers)} requests: {served}")


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
