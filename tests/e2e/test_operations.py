"""Operating the service under gunicorn: JSON logs, metrics across workers, graceful deploys.

Two gunicorn workers share Redis (limits, budgets, replays) and write their metrics to one
multiprocess folder; a Ravan fake answers after a delay, so calls are in flight when the
server is reloaded (SIGHUP) or stopped (SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import FakeServer, FakeState, create_ravan_app
from tests.support.apps import FAKE_AGENT_IDS, FAKE_KEYS, OfflineLiveKit, fake_state, offline_livekit_env
from tests.support.logs import access_lines, json_lines
from tests.support.processes import wait_until
from tests.support.stack import AppServer, start_app_server

pytestmark = pytest.mark.e2e
TOKEN = "metrics-token-0123456789abcdef"
CATALOGUE = f"""
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"

[agents.ravan]
provider = "ravan"
agent_id = "{FAKE_AGENT_IDS["ravan"]}"
"""


@pytest.fixture
def ravan_fake() -> Iterator[tuple[FakeServer, FakeState]]:
    """A Ravan fake that takes a second to answer: calls stay in flight long enough to signal."""
    state = fake_state(OfflineLiveKit(), api_key=FAKE_KEYS["ravan"], agents={FAKE_AGENT_IDS["ravan"]: {}})
    state.latency_s = 1.0
    with FakeServer(create_ravan_app(state)) as server:
        yield server, state


def start(tmp_path: Path, redis_url: str, fake: FakeServer, **extra: str) -> AppServer:
    """gunicorn with two workers, Redis, the metrics token and the Ravan fake."""
    env = {
        "WEBCALL_RATELIMIT_STORAGE_URI": redis_url,
        "WEB_CONCURRENCY": "2",
        "WEBCALL_METRICS_TOKEN": TOKEN,
        "RAVAN_API_KEY": FAKE_KEYS["ravan"],
        "RAVAN_BASE_URL": fake.url,
        "WEBCALL_AGENT_CALLS_PER_MINUTE": "1000",
        **offline_livekit_env(),
        **extra,
    }
    return start_app_server(env, tmp_path / "logs", agents_toml=CATALOGUE)


def burst(url: str, count: int, agent: str) -> list[Any]:
    """``count`` calls started together, each on its own connection; answers or exceptions."""
    answers: list[Any] = [None] * count

    def call(index: int) -> None:
        try:
            answers[index] = httpx.post(f"{url}/api/calls", json={"agent": agent}, timeout=30)
        except httpx.HTTPError as exc:
            answers[index] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    return [threads, answers]


def finish(started: list[Any]) -> list[Any]:
    """Wait for a burst's calls to end."""
    threads, answers = started
    for thread in threads:
        thread.join(40)
    return list(answers)


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics, parsed: every sample by name and labels."""
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_logs_are_json_and_metrics_add_up_across_workers(
    tmp_path: Path, redis_url: str, ravan_fake: tuple[FakeServer, FakeState]
) -> None:
    app = start(tmp_path, redis_url, ravan_fake[0])
    try:
        ravan_fake[1].latency_s = 0.1
        # Calls arrive together, in rounds, until both workers have served some: which worker
        # accepts a connection is the kernel's choice, and a fast worker can win every one.
        answers: list[Any] = []
        sent = {"local": 0, "ravan": 0}
        for _ in range(10):
            rounds = [burst(app.url, 6, "local"), burst(app.url, 2, "ravan")]
            answers += finish(rounds[0]) + finish(rounds[1])
            sent["local"], sent["ravan"] = sent["local"] + 6, sent["ravan"] + 2
            wait_for_access_lines(app, len(answers))
            if {line["pid"] for line in served(app)} == set(worker_pids(app)):
                break
        refused = httpx.post(f"{app.url}/api/calls", json={"agent": "nobody"})
        assert [getattr(a, "status_code", a) for a in answers] == [201] * len(answers)
        assert refused.status_code == 404
        wait_for_access_lines(app, len(answers) + 1)
        log = app.process.log()
        # Every line gunicorn and the app wrote is one JSON object.
        lines = [line for line in log.splitlines() if line.strip()]
        assert lines and len(json_lines(log)) == len(lines), [line for line in lines if line[0] != "{"][:3]
        calls = access_lines(log, "/api/calls")
        assert {line["pid"] for line in calls} == set(worker_pids(app))  # both workers served
        request_id = refused.json()["error"]["request_id"]
        assert any(line["request_id"] == request_id and line["status"] == 404 for line in calls)
        created = [line for line in json_lines(log) if line.get("message") == "call created"]
        assert {line["request_id"] for line in created} == {a.headers["X-Request-ID"] for a in answers}

        metrics = scrape(app.url)
        total = "webcall_calls_total"
        assert metrics[(total, (("agent", "local"), ("channel", "web"), ("code", ""), ("outcome", "created"),
                                ("provider", "livekit")))] == sent["local"]  # fmt: skip
        histogram = ("webcall_provider_request_seconds_count",
                     (("operation", "create_call"), ("outcome", "ok"), ("provider", "ravan")))  # fmt: skip
        assert metrics[histogram] == sent["ravan"]
    finally:
        app.process.stop()


def served(app: AppServer) -> list[dict[str, Any]]:
    """The access log's lines for ``/api/calls`` so far."""
    return access_lines(app.process.log(), "/api/calls")


def wait_for_access_lines(app: AppServer, count: int) -> None:
    """Wait until gunicorn has logged ``count`` requests to ``/api/calls`` (it logs after answering)."""
    wait_until(lambda: len(served(app)) >= count, timeout_s=5, what=f"{count} access lines")


def worker_pids(app: AppServer) -> list[int]:
    """The gunicorn master's worker processes."""
    master = app.process.popen.pid
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["reload", "stop"])
def test_a_deploy_loses_no_call_in_flight(
    tmp_path: Path, redis_url: str, ravan_fake: tuple[FakeServer, FakeState], sig: signal.Signals
) -> None:
    """Calls waiting on the provider when gunicorn is reloaded or stopped still get their answer."""
    database = tmp_path / "calls.db"
    app = start(tmp_path, redis_url, ravan_fake[0], WEBCALL_DATABASE_URL=f"sqlite:///{database}")
    state = ravan_fake[1]
    try:
        started = burst(app.url, 16, "ravan")
        wait_until(lambda: len(state.requests) == 16, timeout_s=10, what="every call to reach the provider")
        os.kill(app.process.popen.pid, sig)
        answers = finish(started)
        assert [getattr(a, "status_code", a) for a in answers] == [201] * 16
        # Each call the provider made reached its caller, and is in the call log: none lost.
        assert {a.json()["call_id"] for a in answers} == set(state.calls) and len(state.calls) == 16
        with sqlite3.connect(database) as log:
            recorded = {
                row[0] for row in log.execute("SELECT provider_call_id FROM calls WHERE outcome = 'created'")
            }
        assert recorded == set(state.calls)
        if sig == signal.SIGHUP:  # reloaded: new workers answer the next call
            wait_until(lambda: httpx.get(f"{app.url}/healthz").status_code == 200, timeout_s=20,
                       what="the reloaded workers")  # fmt: skip
            assert httpx.post(f"{app.url}/api/calls", json={"agent": "local"}).status_code == 201
        else:  # stopped, after answering everyone
            app.process.popen.wait(25)
            assert app.process.popen.returncode == 0
    finally:
        app.process.stop()
