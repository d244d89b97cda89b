"""Memory: resident memory of one gunicorn worker before and after 1,000 calls.

gunicorn runs ``--workers 1`` with the production settings otherwise. Two catalogues:
the self-hosted LiveKit agent (the token is minted in the worker, no network) and a
hosted agent on the Convoi fake (0 ms, in its own process). RSS is read from
``/proc/<worker pid>/status`` after a warm-up (imports and caches loaded), after 1,000
calls and after 2,000, so steady growth and one-off growth can be told apart. A third
run keeps idempotent answers for 1 s instead of 120 s, to show what that cache holds.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.apps import DEMO_AGENT_NAME
from tests.support.stack import AppServer

from .results import Result
from .services import (
    DEMO_AGENT_TOML,
    OFFLINE_LIVEKIT,
    UNLIMITED,
    fake_provider,
    gunicorn,
    rss_kib,
    worker_pids,
)

NAME = "memory"
WARMUP_CALLS = 40  # a multiple of THREADS, as BATCH_CALLS is
BATCH_CALLS = 1000
THREADS = 8
TIME_LIMIT_S = 120.0  # for one batch; far above what it takes


def make_calls(app_url: str, slug: str, count: int) -> int:
    """``count`` calls from a few threads with keep-alive clients; returns how many failed."""
    failures = [0] * THREADS

    def load(index: int) -> None:
        """This thread's share of the calls."""
        with httpx.Client(base_url=app_url, timeout=30.0) as client:
            for _ in range(count // THREADS):
                try:
                    response = client.post(
                        "/api/calls", json={"agent": slug}, headers={"Idempotency-Key": str(uuid.uuid4())}
                    )
                    failures[index] += response.status_code != 201
                except httpx.HTTPError:
                    failures[index] += 1

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + TIME_LIMIT_S
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"{count} calls took over {TIME_LIMIT_S:.0f} s")
    return sum(failures)


@contextmanager
def _livekit_app(log_dir: Path) -> Iterator[tuple[AppServer, str]]:
    """gunicorn minting LiveKit tokens itself (no LiveKit server needed to mint)."""
    toml = DEMO_AGENT_TOML.format(agent_name=DEMO_AGENT_NAME)
    with gunicorn({**OFFLINE_LIVEKIT, **UNLIMITED}, log_dir, agents_toml=toml, workers=1,
                  name="gunicorn-memory-livekit") as app:  # fmt: skip
        yield app, "demo"


@contextmanager
def _livekit_app_short_replay(log_dir: Path) -> Iterator[tuple[AppServer, str]]:
    """The same, remembering idempotent answers for 1 s instead of 120 s: what the replay cache holds."""
    toml = DEMO_AGENT_TOML.format(agent_name=DEMO_AGENT_NAME)
    env = {**OFFLINE_LIVEKIT, **UNLIMITED, "WEBCALL_IDEMPOTENCY_WINDOW_S": "1"}
    with gunicorn(env, log_dir, agents_toml=toml, workers=1, name="gunicorn-memory-livekit-1s") as app:
        yield app, "demo"


@contextmanager
def _hosted_app(log_dir: Path) -> Iterator[tuple[AppServer, str]]:
    """gunicorn in front of the Convoi fake."""
    with fake_provider("convoi", log_dir) as fake:
        env = {**OFFLINE_LIVEKIT, **UNLIMITED, **fake.env()}
        with gunicorn(env, log_dir, agents_toml=fake.agents_toml(), workers=1,
                      name="gunicorn-memory-convoi") as app:  # fmt: skip
            yield app, "convoi-bench"


def _mib(kib: int) -> str:
    """KiB as MiB with one decimal."""
    return f"{kib / 1024:.1f} MiB"


def _batches(label: str, app: AppServer, slug: str) -> list[Result]:
    """Warm up, then read the only worker's RSS around two batches of calls."""
    workers = worker_pids(app.process)
    if len(workers) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {workers}")
    worker = workers[0]
    at_start = rss_kib(worker)
    failed = make_calls(app.url, slug, WARMUP_CALLS)
    before = rss_kib(worker)
    failed += make_calls(app.url, slug, BATCH_CALLS)
    after_1000 = rss_kib(worker)
    failed += make_calls(app.url, slug, BATCH_CALLS)
    after_2000 = rss_kib(worker)
    growth, next_growth = after_1000 - before, after_2000 - after_1000
    steps = " → ".join(_mib(kib).removesuffix(" MiB") for kib in (at_start, before, after_1000, after_2000))
    return [
        Result(NAME, f"{label}: worker RSS at start → after warm-up → after 1,000 → 2,000 calls",
               f"{steps} MiB"),
        Result(NAME, f"{label}: growth over 1,000 calls (over the next 1,000); failed calls",
               f"{_mib(growth)}, {growth / BATCH_CALLS:.1f} KiB/call ({_mib(next_growth)}); {failed} failed"),
    ]  # fmt: skip


def run(log_dir: Path) -> list[Result]:
    """RSS of the only worker around 1,000 calls, for in-process minting and for a hosted fake."""
    rows: list[Result] = []
    variants = (
        ("livekit", _livekit_app),
        ("convoi fake", _hosted_app),
        ("livekit, 1 s replay window", _livekit_app_short_replay),
    )
    for label, start_app in variants:
        with start_app(log_dir) as (app, slug):
            rows += _batches(label, app, slug)
    return rows
