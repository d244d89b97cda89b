"""Backend overhead: ``POST /api/calls`` through webcall versus calling the provider directly.

The provider is the Convoi fake in a process of its own, answering after 0 ms or 300 ms.
"webcall" is gunicorn with the production settings (gunicorn.conf.py) in front of that
fake; "direct" posts the body webcall's Convoi adapter would send (built by the adapter's
own ``build_web_call``) straight to the fake. Both sides use keep-alive httpx clients, one
per load thread, warmed up before the clock starts, and take turns (a few rounds each) so
a noisy moment on the machine hits both alike. Each scenario gets a fresh gunicorn (and a
fresh call log: an SQLite file, the default).

What the call log adds to each call is measured on its own too: the one INSERT and commit
``POST /api/calls`` makes before answering (``CallStore.record_created``), timed in process
on the default SQLite file and on a local PostgreSQL, over a log that already holds calls.

The burst: 200 ``POST /api/calls`` fired at the same moment (one asyncio task each, on 200
connections opened by a first, unmeasured burst) against the fake answering in 300 ms, with
the default configuration, once per I/O model (the default first, then the others for
comparison). The floor is one provider round trip.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.services import PostgresServer, postgres_binaries, start_postgres
from webapp.catalogue import Agent
from webapp.history.store import CallAttempt, CallStore, client_reference
from webapp.providers import WebCallRequest, convoi
from webapp.settings import Settings

from .results import Percentiles, Result, percentiles
from .services import (
    FAKE_AGENT_IDS,
    OFFLINE_LIVEKIT,
    UNLIMITED,
    FakeProvider,
    cpu_s,
    fake_provider,
    gunicorn,
    rss_kib,
    worker_pids,
)

NAME = "backend"
PROVIDER = "convoi"
FAKE_AGENT_ID = FAKE_AGENT_IDS[PROVIDER]
TIME_LIMIT_S = 120.0  # for one side of one scenario; far above what it takes
Send = Callable[[httpx.Client], bool]  # one request; True when it succeeded


@dataclass(frozen=True)
class Scenario:
    """One measurement: a fake latency, a concurrency and a request count, on a fresh gunicorn."""

    latency_ms: int
    concurrency: int
    requests: int  # per side; enough for stable medians, small enough for the time budget
    # Calls made through webcall just before measuring, unmeasured: state that builds up
    # with traffic (idempotency replays, rate-limit windows) is then part of the picture.
    preload: int = 0

    @property
    def rounds(self) -> int:
        """Webcall and direct take turns this many times, so a noisy moment hits both alike."""
        return 5 if self.latency_ms == 0 else 2

    @property
    def warmup_per_thread(self) -> int:
        """Unmeasured requests per load thread before each turn (opens and warms its connection)."""
        if self.latency_ms == 0:
            return 30 if self.concurrency == 1 else 4
        return 3 if self.concurrency == 1 else 1

    @property
    def label(self) -> str:
        """E.g. "0 ms fake, c=1" or "0 ms fake, c=1, after 3000 calls"."""
        after = f", after {self.preload} calls" if self.preload else ""
        return f"{self.latency_ms} ms fake, c={self.concurrency}{after}"


# A 300 ms call at concurrency 1 costs 0.3 s per request: 40 of them is 12 s per side.
SCENARIOS = [
    Scenario(0, 1, 500),
    Scenario(0, 50, 2000),
    Scenario(300, 1, 40),
    Scenario(300, 50, 1000),
    Scenario(0, 1, 500, preload=3000),
]


@dataclass
class Sample:
    """What one side of one scenario measured."""

    latencies_s: list[float]
    errors: int
    wall_s: float

    @property
    def stats(self) -> Percentiles:
        """p50/p95/p99 of the latencies."""
        return percentiles(self.latencies_s)

    @property
    def per_s(self) -> float:
        """Requests completed per second."""
        return len(self.latencies_s) / self.wall_s if self.wall_s else 0.0

    def __add__(self, other: Sample) -> Sample:
        """Two turns of the same side as one sample."""
        latencies = self.latencies_s + other.latencies_s
        return Sample(latencies, self.errors + other.errors, self.wall_s + other.wall_s)


def drive(send: Send, concurrency: int, count: int, warmup_per_thread: int = 1) -> Sample:
    """Send ``count`` requests from ``concurrency`` threads, each with its own keep-alive client."""
    per_thread = count // concurrency
    release = threading.Barrier(concurrency + 1)
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    def load(index: int) -> None:
        """Warm up one connection, wait for the others, then send this thread's share."""
        with httpx.Client(timeout=30.0, limits=limits) as client:
            for _ in range(warmup_per_thread):
                send(client)
            release.wait()
            mine = latencies[index]
            for _ in range(per_thread):
                started = time.perf_counter()
                ok = send(client)
                mine.append(time.perf_counter() - started)
                errors[index] += not ok

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    release.wait(timeout=120)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(0.0, started + TIME_LIMIT_S - time.perf_counter()))
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"{count} requests at concurrency {concurrency} took over {TIME_LIMIT_S:.0f} s")
    wall_s = time.perf_counter() - started
    return Sample([d for mine in latencies for d in mine], sum(errors), wall_s)


def via_webcall(app_url: str, slug: str) -> Send:
    """A browser's request: ``POST /api/calls`` with a fresh Idempotency-Key."""
    url = f"{app_url}/api/calls"

    def send(client: httpx.Client) -> bool:
        """One call through webcall."""
        try:
            response = client.post(url, json={"agent": slug}, headers={"Idempotency-Key": str(uuid.uuid4())})
        except httpx.HTTPError:
            return False
        return response.status_code == 201

    return send


def direct(fake: FakeProvider, agent: Agent) -> Send:
    """What webcall's Convoi adapter sends, sent straight to the fake."""
    body = convoi.build_web_call(
        WebCallRequest(agent=agent, variables=dict(agent.variables), metadata={"webcall_agent": agent.slug})
    )
    url = fake.url + convoi.CALLS_PATH
    authorization = f"Bearer {fake.api_key}"

    def send(client: httpx.Client) -> bool:
        """One call to the provider, no webcall in between."""
        headers = {"Authorization": authorization, "Idempotency-Key": str(uuid.uuid4())}
        try:
            response = client.post(url, json=body, headers=headers)
        except httpx.HTTPError:
            return False
        return response.status_code == 201

    return send


def measure(
    scenario: Scenario, to_webcall: Send, to_fake: Send, workers: list[int]
) -> tuple[Sample, Sample, float]:
    """Preload if asked, then let webcall and direct take turns.

    Returns both sides' merged samples and the gunicorn worker's CPU time per webcall
    request in ms (warm-up requests included: they cost the same), which other work on
    the machine hardly changes.
    """
    if scenario.preload:
        drive(to_webcall, 50, scenario.preload)
    ours = theirs = Sample([], 0, 0.0)
    per_turn = scenario.requests // scenario.rounds
    cpu_used_s, sent = 0.0, 0
    for _ in range(scenario.rounds):
        before = cpu_s(workers)
        ours += drive(to_webcall, scenario.concurrency, per_turn, scenario.warmup_per_thread)
        cpu_used_s += cpu_s(workers) - before
        sent += per_turn + scenario.concurrency * scenario.warmup_per_thread
        theirs += drive(to_fake, scenario.concurrency, per_turn, scenario.warmup_per_thread)
    return ours, theirs, cpu_used_s / sent * 1000


# Issue 17's targets with the 0 ms fake at c=1, every guard on: what webcall adds at p50,
# and the worker's CPU per call.
ADDED_TARGET_MS = 1.0
CPU_TARGET_MS = 1.0


def _scenario_rows(scenario: Scenario, ours: Sample, theirs: Sample, cpu_ms: float) -> list[Result]:
    """Five rows per scenario, with the targets that apply to it."""
    label, mine, base = scenario.label, ours.stats, theirs.stats
    ratio, p99_ratio = mine.p50_ms / base.p50_ms, mine.p99_ms / base.p99_ms
    added_ms = mine.p50_ms - base.p50_ms
    slow = scenario.latency_ms >= 300
    fast_single = scenario.latency_ms == 0 and scenario.concurrency == 1  # also after traffic
    many = scenario.concurrency >= 50
    no_errors = ours.errors == 0 and theirs.errors == 0
    added_target, cpu_target = f"<= {ADDED_TARGET_MS:g} ms", f"<= {CPU_TARGET_MS:g} ms"
    load = (
        f"{ours.per_s:.0f} / {theirs.per_s:.0f} req/s; "
        f"errors {ours.errors} / {theirs.errors} of {len(ours.latencies_s)}"
    )
    return [
        Result(NAME, f"{label}: p50/p95/p99 webcall vs direct", f"{mine} vs {base}".replace(" ms vs", " vs")),
        Result(NAME, f"{label}: ratio webcall/direct at p50 (p99)", f"{ratio:.3f} ({p99_ratio:.2f})",
               "< 1.05" if slow else "", ratio < 1.05 if slow else None),
        Result(NAME, f"{label}: added by webcall at p50", f"{added_ms:.2f} ms",
               added_target if fast_single else "", added_ms <= ADDED_TARGET_MS if fast_single else None),
        Result(NAME, f"{label}: throughput webcall / direct; errors", load,
               "0 errors" if many else "", no_errors if many else None),
        Result(NAME, f"{label}: gunicorn worker CPU per webcall request", f"{cpu_ms:.2f} ms",
               cpu_target if fast_single else "", cpu_ms <= CPU_TARGET_MS if fast_single else None),
    ]  # fmt: skip


RECORDS = 3000  # timed; after as many untimed ones, so the log is not empty
RECORD_TARGET_MS = 1.0  # what recording may add to POST /api/calls at p50


def record_calls(store: CallStore, count: int) -> list[float]:
    """Record ``count`` created calls the way ``POST /api/calls`` does; each one's seconds."""
    attempt = CallAttempt(
        agent="convoi-bench", provider="convoi", provider_agent_id=FAKE_AGENT_ID,
        origin="https://shop.example", client_ref=client_reference("bench-key", "203.0.113.9"),
    )  # fmt: skip
    timings = []
    for _ in range(count):
        call_id = f"call_{uuid.uuid4().hex}"
        started = time.perf_counter()
        store.record_created(attempt, call_id, f"room_{call_id}")
        timings.append(time.perf_counter() - started)
    return timings


def call_log_rows(log_dir: Path) -> list[Result]:
    """What recording one call costs, on SQLite (the default) and PostgreSQL, in process."""
    rows = []
    log_dir.mkdir(parents=True, exist_ok=True)
    for stale in log_dir.glob("call-log.db*"):
        stale.unlink()
    databases: list[tuple[str, str, PostgresServer | None]] = [
        ("SQLite file (WAL)", f"sqlite:///{log_dir / 'call-log.db'}", None)
    ]
    try:
        postgres_binaries()
        postgres = start_postgres(durable=True)  # each commit waits for the disk, as in production
        databases.append(("PostgreSQL on loopback", postgres.create_database(), postgres))
    except RuntimeError as exc:
        rows.append(Result(NAME, "call log: one record, PostgreSQL", f"not measured: {exc}"))
    for label, url, server in databases:
        print(f"  backend: call log on {label}, {RECORDS} records", flush=True)
        store = CallStore(url)
        try:
            store.migrate()
            record_calls(store, RECORDS)  # warm up, and a log that already holds calls
            stats = percentiles(record_calls(store, RECORDS))
        finally:
            store.close()
            if server is not None:
                server.stop()
        value = f"{stats.p50_ms:.2f} / {stats.p95_ms:.2f} / {stats.p99_ms:.2f} ms"
        met = stats.p50_ms < RECORD_TARGET_MS
        rows.append(Result(NAME, f"call log: one record, {label}: p50/p95/p99", value,
                           f"< {RECORD_TARGET_MS:g} ms at p50", met))  # fmt: skip
    return rows


BURST_CALLS = 200
BURST_LATENCY_MS = 300
BURSTS = 3  # measured, after one that opens the connections
BURST_TARGET = 2.0  # the burst done, and its p99, within this many provider latencies
# The I/O models compared, the default (gunicorn.conf.py as shipped: gunicorn's gevent
# worker, which patches the standard library as the worker starts) first.
IO_MODELS = {
    "default (gevent, 1000 connections)": {},
    "gthread, 64 threads": {"WEBCALL_WORKER_CLASS": "gthread", "WEBCALL_THREADS": "64"},
    "gthread, 256 threads": {"WEBCALL_WORKER_CLASS": "gthread", "WEBCALL_THREADS": "256"},
}


@dataclass
class Bursts:
    """What the measured bursts on one gunicorn showed."""

    walls_s: list[float]  # each burst, from firing to its last answer
    latencies_s: list[float]  # every call, from the burst being fired to its answer
    errors: int
    cpu_ms: float  # the worker's CPU time per call
    rss_kib: int  # the worker's resident memory after the bursts
    peak_rss_kib: int  # and its peak (VmHWM) since it started


class Caller:
    """One keep-alive connection speaking just enough HTTP/1.1 to POST a JSON body.

    httpx's AsyncClient spent seconds of its own on a burst of 200 (the server's access log
    showed every answer out within about a second), so the burst would have measured the
    load generator; this costs a few microseconds a call.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, url: str) -> Caller:
        """A connection to ``url``'s host and port."""
        parts = httpx.URL(url)
        reader, writer = await asyncio.open_connection(parts.host, parts.port)
        return cls(reader, writer)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` as JSON and read the whole answer; its status."""
        parts = httpx.URL(url)
        lines = [f"POST {parts.raw_path.decode()} HTTP/1.1", f"Host: {parts.netloc.decode()}",
                 "Content-Type: application/json", f"Content-Length: {len(body)}",
                 *(f"{name}: {value}" for name, value in headers.items())]  # fmt: skip
        self.writer.write("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:"))
        await self.reader.readexactly(length)
        return int(head[0].split()[1])

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


async def fire(
    callers: list[Caller], url: str, body: bytes, headers: dict[str, str]
) -> tuple[list[float], int, float]:
    """Every caller posts at the same instant; their latencies, failures and the burst's wall time."""
    fired = time.perf_counter()

    async def click(caller: Caller) -> tuple[float, bool]:
        """One caller's request, with an Idempotency-Key of its own."""
        try:
            status = await caller.post(url, body, {**headers, "Idempotency-Key": str(uuid.uuid4())})
        except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration):
            status = 0
        return time.perf_counter() - fired, status == 201

    answers = await asyncio.gather(*(click(caller) for caller in callers))
    return [d for d, _ in answers], sum(not ok for _, ok in answers), time.perf_counter() - fired


async def bursts(url: str, body: bytes, headers: dict[str, str], workers: list[int]) -> Bursts:
    """One unmeasured burst (connections warm on both sides), then :data:`BURSTS` measured ones."""
    callers = await asyncio.gather(*(Caller.connect(url) for _ in range(BURST_CALLS)))
    walls, latencies, errors = [], [], 0
    try:
        await fire(callers, url, body, headers)
        before = cpu_s(workers)
        for _ in range(BURSTS):
            await asyncio.sleep(0.5)  # the machine settles after the previous burst
            mine, failed, wall_s = await fire(callers, url, body, headers)
            walls.append(wall_s)
            latencies += mine
            errors += failed
        cpu_ms = (cpu_s(workers) - before) / (BURSTS * BURST_CALLS) * 1000
    finally:
        for caller in callers:
            caller.close()
    if not workers:
        return Bursts(walls, latencies, errors, 0.0, 0, 0)
    return Bursts(walls, latencies, errors, cpu_ms, rss_kib(workers[0]), rss_kib(workers[0], "VmHWM"))


def _burst_rows(label: str, result: Bursts, default: bool) -> list[Result]:
    """Three rows per I/O model; the targets apply to the default configuration."""
    name = f"burst of {BURST_CALLS}, {BURST_LATENCY_MS} ms fake, {label}"
    limit_ms = BURST_TARGET * BURST_LATENCY_MS
    wall_ms = statistics.median(result.walls_s) * 1000
    stats = percentiles(result.latencies_s)
    each = " / ".join(f"{w * 1000:.0f}" for w in result.walls_s)
    calls, peak_mib = len(result.latencies_s), result.peak_rss_kib / 1024
    target = f"<= {limit_ms:.0f} ms" if default else ""
    return [
        Result(NAME, f"{name}: burst done, median of {BURSTS} (each); × provider latency",
               f"{wall_ms:.0f} ms ({each}); {wall_ms / BURST_LATENCY_MS:.2f}×",
               target, wall_ms <= limit_ms if default else None),
        Result(NAME, f"{name}: p50/p95/p99 from the burst's start; p99 × provider; errors",
               f"{stats}; {stats.p99_ms / BURST_LATENCY_MS:.2f}×; errors {result.errors} of {calls}",
               target, (stats.p99_ms <= limit_ms and result.errors == 0) if default else None),
        Result(NAME, f"{name}: worker CPU per call; worker RSS after (peak)",
               f"{result.cpu_ms:.2f} ms; {result.rss_kib / 1024:.1f} MiB ({peak_mib:.1f} MiB)"),
    ]  # fmt: skip


def burst_rows(log_dir: Path) -> list[Result]:
    """The burst straight at the fake (the floor), then on each I/O model, a fresh gunicorn each."""
    rows: list[Result] = []
    with fake_provider(PROVIDER, log_dir, latency_ms=BURST_LATENCY_MS) as fake:
        env = {**OFFLINE_LIVEKIT, **UNLIMITED, **fake.env()}
        agent = bench_agent(fake, env, log_dir)
        print(f"  backend: burst of {BURST_CALLS}, straight at the fake", flush=True)
        metadata = {"webcall_agent": agent.slug}
        request = WebCallRequest(agent=agent, variables=dict(agent.variables), metadata=metadata)
        body = convoi.build_web_call(request)
        floor = asyncio.run(bursts(fake.url + convoi.CALLS_PATH, json.dumps(body).encode(),
                                   {"Authorization": f"Bearer {fake.api_key}"}, []))  # fmt: skip
        rows += _burst_rows("direct to the fake", floor, default=False)[:2]
        ours = json.dumps({"agent": agent.slug}).encode()
        for index, (label, model) in enumerate(IO_MODELS.items()):
            print(f"  backend: burst of {BURST_CALLS}, {label}", flush=True)
            name = f"gunicorn-backend-burst-{index}"
            with gunicorn({**env, **model}, log_dir, agents_toml=fake.agents_toml(), name=name) as app:
                result = asyncio.run(bursts(app.url + "/api/calls", ours, {}, worker_pids(app.process)))
            rows += _burst_rows(label, result, default=index == 0)
    return rows


def bench_agent(fake: FakeProvider, env: dict[str, str], log_dir: Path) -> Agent:
    """The catalogue's one agent on ``fake``, as the app reads it."""
    agents_file = log_dir / "backend.agents.toml"
    agents_file.parent.mkdir(parents=True, exist_ok=True)
    agents_file.write_text(fake.agents_toml())
    return Settings.from_mapping({**env, "WEBCALL_AGENTS_FILE": str(agents_file)}).agents[f"{PROVIDER}-bench"]


def run(log_dir: Path) -> list[Result]:
    """Every scenario, webcall and direct in turns; one fake per latency, a fresh gunicorn per scenario."""
    rows: list[Result] = call_log_rows(log_dir) + burst_rows(log_dir)
    for latency_ms in sorted({s.latency_ms for s in SCENARIOS}):
        with fake_provider(PROVIDER, log_dir, latency_ms=latency_ms) as fake:
            env = {**OFFLINE_LIVEKIT, **UNLIMITED, **fake.env()}
            agent = bench_agent(fake, env, log_dir)
            for scenario in (s for s in SCENARIOS if s.latency_ms == latency_ms):
                print(f"  backend: {scenario.label}, {scenario.requests} requests each side", flush=True)
                name = f"gunicorn-backend-{latency_ms}ms-c{scenario.concurrency}-p{scenario.preload}"
                with gunicorn(env, log_dir, agents_toml=fake.agents_toml(), name=name) as app:
                    to_webcall, to_fake = via_webcall(app.url, agent.slug), direct(fake, agent)
                    ours, theirs, cpu_ms = measure(scenario, to_webcall, to_fake, worker_pids(app.process))
                rows += _scenario_rows(scenario, ours, theirs, cpu_ms)
    return rows
