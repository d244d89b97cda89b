"""The worker process: register with LiveKit under the agent name and take calls.

Built and run directly (production mode), not through livekit-agents' CLI, so no argv
parsing, no dev-mode reloader, and our own logging and signal handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from livekit import agents
from livekit.rtc._ffi_client import FfiClient

from .job import run_call, stop_all_calls
from .settings import AgentSettings, SettingsError

logger = logging.getLogger("webapp.demo_agent")

# On SIGTERM, calls get this long to leave their rooms (a caller being talked with hears goodbye
# first: call.SIGN_OFF_S).
DRAIN_TIMEOUT_S = 10
# Then the worker closes: livekit-agents gives each job runner 5 s to acknowledge, and this a
# little more, for when the close itself hangs.
CLOSE_TIMEOUT_S = 7
LAUNCH_TURN_WAIT_S = 1.0  # at most this long a call waits for its turn to be launched (`in_turn`)
# livekit-agents' job runner otherwise loads its local VAD and end-of-turn model (~250 MB)
# on start-up; this agent creates the small VAD itself (turns.py) and needs no end-of-turn model
SKIP_LOCAL_MODELS = {"LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0"}
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class OneLineFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value…` on one line, with the API secret scrubbed."""

    def __init__(self, secret: str) -> None:
        """Scrub `secret` from every line, wherever a library might have put it."""
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._secret = secret

    def format(self, record: logging.LogRecord) -> str:
        """Format `record`, append its structured extras, and fold it onto one line."""
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        line = line.replace("\r", "").replace("\n", " | ")
        return line.replace(self._secret, "[redacted]") if self._secret else line


def configure_logging(settings: AgentSettings) -> None:
    """Send all logs to stderr, one line each, at the configured level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(settings.api_secret))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # livekit's Rust core is chatty at INFO; keep the agents framework's own lines
    logging.getLogger("livekit").setLevel(logging.WARNING)
    logging.getLogger("livekit.agents").setLevel(settings.log_level)


def start_rtc_runtime() -> None:
    """Create livekit.rtc's FFI client now, on the main thread, before any job's thread can.

    The SDK creates its one client on first use, without a lock, and our jobs run on threads:
    calls that connected at the same instant each created one, and the FFI's callback hands
    events only to the last one made. A room that subscribed to another heard nothing: either
    its connect never returned, so it never told the FFI it was ready for room events and 15 s
    later the FFI panicked (the SDK answers a panic by SIGTERMing its own process, ending every
    call in the worker), or it connected and never heard from its room again.
    """
    FfiClient.instance  # noqa: B018 - reading the property creates the client


@contextlib.asynccontextmanager
async def in_turn(lock: asyncio.Lock, wait_s: float, room: str) -> AsyncIterator[bool]:
    """Run the body holding `lock`, or without it if the lock has not come within `wait_s`
    (yields whether it is held).

    Accepted calls are launched in turn: livekit-agents' pool makes a job runner for each call
    that finds none warm, but hands each runner to whichever call asks first, and a call that
    lost every runner in flight retries without waiting and gives up ("failed to acquire
    process"), leaving its room without the agent (four calls dispatched together to a fresh
    worker, once in a full test run). In turn, the runner made for a call is its own; a turn
    lasts the server's assignment round trip and the launch, milliseconds beside the worker's
    own LiveKit. But an assignment that never comes (lost with a dropped connection) holds a
    turn for the SDK's 7.5 s, while LiveKit gives up on a call not answered in about 3 s (its job
    request's RPC timeout), so every call queued behind it would be lost: a call waits `wait_s`
    at most, then goes ahead out of turn.
    """
    held: bool = False
    try:
        async with asyncio.timeout(wait_s):
            held = await lock.acquire()
    except TimeoutError:
        logger.warning("the call before is still being launched; launching room %s alongside it", room)
    try:
        yield held
    finally:
        if held:
            lock.release()


def build_server(settings: AgentSettings) -> agents.AgentServer:
    """Create the agent server: explicit dispatch by name, jobs on threads."""
    server = agents.AgentServer(
        ws_url=settings.url,
        api_key=settings.api_key,
        api_secret=settings.api_secret,
        # threads: a job starts in milliseconds and shares one interpreter's memory
        job_executor_type=agents.JobExecutorType.THREAD,
        num_idle_processes=1,
        # capacity is enforced by count in `accept_if_room`, not by machine CPU load
        load_threshold=math.inf,
        host="127.0.0.1",
        port=settings.health_port,
        shutdown_process_timeout=5.0,
        drain_timeout=DRAIN_TIMEOUT_S,
    )

    # Calls accepted and not started yet: `accept` waits for LiveKit's assignment and the job's
    # launch, and a job is among `active_jobs` only once launched, so requests that come
    # together would otherwise all see room for themselves.
    starting: set[str] = set()
    # Accepted calls are launched one at a time (see `in_turn`).
    launching = asyncio.Lock()

    def load() -> float:
        """Report busyness to LiveKit as the share of `max_calls` in use."""
        return (len(server.active_jobs) + len(starting)) / settings.max_calls

    async def accept_if_room(request: agents.JobRequest) -> None:
        """Accept a call unless this worker already has `max_calls`, started or starting."""
        if len(server.active_jobs) + len(starting) >= settings.max_calls:
            logger.warning("at capacity (%d calls); declining room %s", settings.max_calls, request.room.name)
            await request.reject(terminate=False)
            return
        starting.add(request.id)
        try:
            async with in_turn(launching, LAUNCH_TURN_WAIT_S, request.room.name):
                await request.accept(name="Webcall demo agent")
        finally:  # started (now an active job) or failed to start
            starting.discard(request.id)

    def registered(worker_id: str, server_info: Any) -> None:
        """Say that calls can reach us now (again, after a reconnect)."""
        logger.info(
            "registered with LiveKit at %s as worker %s, agent name %r",
            settings.url,
            worker_id,
            settings.agent_name,
        )

    server.load_fnc = load
    server.rtc_session(run_call, agent_name=settings.agent_name, on_request=accept_if_room)
    server.on("worker_registered", registered)
    return server


async def serve(settings: AgentSettings) -> int:
    """Run the worker until SIGTERM/SIGINT (exit 0) or a fatal error (exit 1)."""
    start_rtc_runtime()  # before the server starts any job's thread
    server = build_server(settings)
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()

    def on_signal(signum: signal.Signals) -> None:
        """First signal: shut down gracefully. Second: give up at once."""
        if received.done():
            logger.warning("second %s; exiting immediately", signum.name)
            os._exit(1)
        received.set_result(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    running = asyncio.create_task(server.run(devmode=False))
    waiters: set[asyncio.Future[Any]] = {running, received}
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        logger.error("worker stopped unexpectedly: %s", running.exception() or "no error")
        await server.aclose()
        return 1

    ended = stop_all_calls(f"agent shutting down ({received.result().name})")
    logger.info("received %s; ending %d call(s) and shutting down", received.result().name, ended)
    try:
        await server.drain(timeout=DRAIN_TIMEOUT_S)
    except TimeoutError:
        logger.warning("calls did not end within %d s; closing anyway", DRAIN_TIMEOUT_S)
    try:
        await asyncio.wait_for(close(server, running), CLOSE_TIMEOUT_S)
    except TimeoutError:
        # livekit-agents 1.8 can wait for good on a job runner still starting as it closes (seen
        # once in CI: "job did not ack shutdown in time", then nothing until a second SIGTERM).
        # Every call has ended: leave, rather than hold a deploy until the process is killed.
        logger.warning("the worker did not close within %d s; exiting", CLOSE_TIMEOUT_S)
        logging.shutdown()
        os._exit(0)
    logger.info("demo agent stopped cleanly")
    return 0


async def close(server: agents.AgentServer, running: asyncio.Task[Any]) -> None:
    """Close the worker's server, then wait for its run to end."""
    await server.aclose()
    await asyncio.gather(running, return_exceptions=True)


def main() -> int:
    """Read settings from the environment and run the worker, then exit with its status (2, returned,
    when the settings are refused)."""
    try:
        settings = AgentSettings.from_env()
    except SettingsError as exc:
        print(f"webapp.demo_agent: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    for name, value in SKIP_LOCAL_MODELS.items():
        os.environ.setdefault(name, value)
    logger.info("starting demo agent %r for %s", settings.agent_name, settings.url)
    status = asyncio.run(serve(settings))
    # Out now, not through the interpreter's finalization: livekit's FFI runtime, its threads
    # still there, can panic as Python tears down ("panic in a function that cannot unwind", seen
    # once in CI after "stopped cleanly"), and a clean stop then exits by SIGABRT.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
