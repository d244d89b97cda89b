"""Several workers or hosts: limits, budgets and replays counted once, in Redis; proxies trusted as told."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
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


def test_with_two_proxies_the_nearest_ones_scheme_and_host_count(tmp_path: Path) -> None:
    """A CDN in front of docs/nginx.conf: X-Forwarded-For has both hops, but nginx sets (not adds
    to) X-Forwarded-Proto and -Host, so they hold one value: the app's page from https is its own."""
    app = build(tmp_path, WEBCALL_RATE_LIMITS="1/minute", WEBCALL_TRUSTED_PROXIES="2")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "calls.example.com",
                 "Origin": "https://calls.example.com"}  # fmt: skip

    def via_cdn(visitor: str, cdn: str) -> int:
        headers = {**forwarded, "X-Forwarded-For": f"{visitor}, {cdn}"}
        return post(app, headers, REMOTE_ADDR="127.0.0.9").status_code

    assert via_cdn("203.0.113.9", "198.51.100.2") == 201
    assert via_cdn("203.0.113.10", "198.51.100.2") == 201  # another visitor: its own allowance
    assert via_cdn("203.0.113.9", "198.51.100.3") == 429  # the first again, through another edge


def test_a_forwarded_client_with_no_proxy_trusted_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A proxy left out of WEBCALL_TRUSTED_PROXIES makes every visitor its address: the log says so."""
    app = build(tmp_path)
    with caplog.at_level(logging.WARNING, logger="webapp.guards"):
        for visitor in ("203.0.113.7", "203.0.113.8"):
            assert post(app, {"X-Forwarded-For": visitor}, REMOTE_ADDR="127.0.0.9").status_code == 201
    said = [r for r in caplog.records if r.name == "webapp.guards" and "TRUSTED_PROXIES is 0" in r.message]
    assert len(said) == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="webapp.guards"):
        trusted = build(tmp_path, WEBCALL_TRUSTED_PROXIES="1")
        assert post(trusted, {"X-Forwarded-For": "203.0.113.7"}, REMOTE_ADDR="127.0.0.9").status_code == 201
    assert not [r for r in caplog.records if r.name == "webapp.guards"]


def test_gunicorn_believes_no_forwarded_scheme_itself(tmp_path: Path) -> None:
    """Only WEBCALL_TRUSTED_PROXIES decides: gunicorn's own default believed X-Forwarded-Proto from
    127.0.0.1, so a local proxy with no setting worked while all its visitors shared one allowance."""
    app = start_app_server(offline_livekit_env(), tmp_path, agents_toml=CATALOGUE, workers=1)
    try:
        host = app.url.removeprefix("http://")
        headers = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "203.0.113.7",
            "Origin": f"https://{host}",
        }
        answer = httpx.post(f"{app.url}/api/calls", json={}, headers=headers)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "origin_not_allowed"
        assert httpx.post(f"{app.url}/api/calls", json={}, headers={"Origin": app.url}).status_code == 201
    finally:
        app.process.stop()
