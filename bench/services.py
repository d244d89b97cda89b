"""The real processes a benchmark measures: provider fakes, gunicorn, LiveKit and the demo agent.

Built on the test support code (``tests/support``): same process handling, same logs,
same production entry point. Every context manager here stops what it started.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.apps import DEMO_AGENT_NAME, OfflineLiveKit
from tests.support.browser import CHROMIUM_ARGS
from tests.support.livekit_server import LiveKitServer, start_livekit_server
from tests.support.processes import Process, free_port, http_ok, python_argv, start, wait_until
from tests.support.stack import AppServer

from .machine import CHROMIUM

# Abuse limits far above any benchmark's load: a refusal would be measured as an error.
UNLIMITED = {
    "WEBCALL_RATE_LIMITS": "1000000/minute",
    "WEBCALL_GLOBAL_RATE_LIMIT": "1000000/minute",
    "WEBCALL_AGENT_CALLS_PER_MINUTE": "1000000",
    "WEBCALL_AGENT_DAILY_BUDGET": "1000000",
    "CONVOI_CREATES_PER_MINUTE": "1000000",  # the fake has no limit; the real Convoi does
}
OFFLINE_LIVEKIT = {
    "LIVEKIT_URL": OfflineLiveKit.url,
    "LIVEKIT_API_KEY": OfflineLiveKit.api_key,
    "LIVEKIT_API_SECRET": OfflineLiveKit.api_secret,
}
# The keys and agent ids the fakes accept (their own formats), used by the app and by
# the benchmarks that call a fake directly.
FAKE_API_KEYS = {"convoi": "sk_live_bench_4d5e6f", "ravan": "rvn_bench_key_5f1d2c"}
FAKE_AGENT_IDS = {"convoi": "agt_bench0123456789abcdef01234567", "ravan": "bench-ravan-agent"}
DEMO_AGENT_TOML = """\
[agents.demo]
provider = "livekit"
agent_id = "{agent_name}"
title = "Demo agent"
greeting = "Hello! I am the webcall demo agent."
"""
HOSTED_AGENT_TOML = """\
[agents.{provider}-bench]
provider = "{provider}"
agent_id = "{agent_id}"
title = "{provider} agent"
greeting = "Hi, this is the {provider} agent speaking."
"""


@dataclass
class FakeProvider:
    """A provider fake in its own process."""

    provider: str
    url: str
    process: Process

    @property
    def api_key(self) -> str:
        """The key it accepts."""
        return FAKE_API_KEYS[self.provider]

    @property
    def agent_id(self) -> str:
        """The agent it knows."""
        return FAKE_AGENT_IDS[self.provider]

    def env(self) -> dict[str, str]:
        """The app's settings that point the provider at this fake."""
        prefix = self.provider.upper()
        return {f"{prefix}_API_KEY": self.api_key, f"{prefix}_BASE_URL": self.url}

    def agents_toml(self) -> str:
        """A catalogue with one agent on this provider, slug ``<provider>-bench``."""
        return HOSTED_AGENT_TOML.format(provider=self.provider, agent_id=self.agent_id)


@contextmanager
def fake_provider(provider: str, log_dir: Path, *, latency_ms: float = 0.0) -> Iterator[FakeProvider]:
    """``python -m bench.fake_provider`` on a free port, minting tokens for an offline LiveKit."""
    port = free_port()
    argv = python_argv(
        "-m", "bench.fake_provider", provider, "--port", str(port), "--latency-ms", str(latency_ms),
        "--agent", FAKE_AGENT_IDS[provider],
    )  # fmt: skip
    env = {**OFFLINE_LIVEKIT, "FAKE_API_KEY": FAKE_API_KEYS[provider]}
    process = start(f"fake-{provider}-{latency_ms:g}ms", argv, env=env, log_dir=log_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        # Any HTTP answer (a 404 for "/") means it is serving.
        wait_until(lambda: httpx.get(url, timeout=1.0).status_code > 0, timeout_s=20,
                   what=f"the {provider} fake to serve", process=process)  # fmt: skip
        yield FakeProvider(provider, url, process)
    finally:
        process.stop()


@contextmanager
def gunicorn(
    env: dict[str, str],
    log_dir: Path,
    *,
    agents_toml: str,
    workers: int | None = None,
    name: str = "gunicorn",
) -> Iterator[AppServer]:
    """The production entry point (gunicorn.conf.py) on a free loopback port.

    Like ``tests.support.stack.start_app_server``, but the worker count is left to
    gunicorn.conf.py unless ``workers`` is given: the production default is measured.
    """
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    agents_file = log_dir / f"{name}.agents.toml"
    agents_file.write_text(agents_toml)
    argv = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    argv.append("webapp:create_app()")
    database = log_dir / f"{name}.db"  # a fresh call log (SQLite, the default) per run
    for stale in log_dir.glob(f"{name}.db*"):
        stale.unlink()
    defaults = {"WEBCALL_AGENTS_FILE": str(agents_file), "WEBCALL_DATABASE_URL": f"sqlite:///{database}"}
    process = start(name, argv, env={**defaults, **env}, log_dir=log_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(http_ok(url + "/healthz"), timeout_s=30, what="gunicorn to serve", process=process)
        yield AppServer(url, process)
    finally:
        process.stop()


def worker_pids(master: Process) -> list[int]:
    """The gunicorn master's children (its workers), from /proc."""
    children: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master.popen.pid:
            children.append(int(stat.parent.name))
    return sorted(children)


def cpu_s(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far, in seconds, from /proc/<pid>/stat."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of ``pid`` in KiB, from /proc/<pid>/status: now (VmRSS) or its peak (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


@dataclass
class CallStack:
    """Everything a real call needs: LiveKit, the demo agent, and the app."""

    livekit: LiveKitServer
    agent: Process
    app: AppServer


@contextmanager
def call_stack(log_dir: Path) -> Iterator[CallStack]:
    """A real LiveKit server, the demo agent registered with it, and gunicorn minting its tokens."""
    livekit = start_livekit_server(log_dir)
    try:
        env = {**livekit.env(), "WEBCALL_DEMO_AGENT_NAME": DEMO_AGENT_NAME}
        agent = start("demo-agent", python_argv("-m", "webapp.demo_agent"), env=env, log_dir=log_dir)
        try:
            wait_until(lambda: "registered" in agent.log().lower(), timeout_s=60,
                       what="the demo agent to register", process=agent)  # fmt: skip
            toml = DEMO_AGENT_TOML.format(agent_name=DEMO_AGENT_NAME)
            with gunicorn({**livekit.env(), **UNLIMITED}, log_dir, agents_toml=toml) as app:
                yield CallStack(livekit, agent, app)
        finally:
            agent.stop()
    finally:
        livekit.process.stop()


def launch_chromium(playwright: Any) -> Any:
    """Debian's headless Chromium with the test suite's flags (fake microphone, audio not muted)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        ignore_default_args=["--mute-audio"],
    )
