"""The worker's entrypoint: one LiveKit job is one call, and SIGTERM can reach them all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from livekit import agents

from .call import Call

logger = logging.getLogger(__name__)

# jobs run on worker threads, each with its own event loop; this lets SIGTERM reach them
_active_calls: dict[Call, asyncio.AbstractEventLoop] = {}
_active_calls_lock = threading.Lock()
# Set by stop_all_calls: a call whose job starts afterwards (accepted, or being launched, as
# SIGTERM came) ends before it connects, instead of greeting a caller while the worker drains.
_stopping: str | None = None


def stop_all_calls(reason: str) -> int:
    """Ask every call in this process to end (a caller being talked with hears goodbye first:
    `Call.wind_down`), and any that starts later to end at once; return how many were asked now."""
    global _stopping
    with _active_calls_lock:
        _stopping = reason
        calls = list(_active_calls.items())
    for call, loop in calls:
        with contextlib.suppress(RuntimeError):  # that call's loop closed as it ended: nothing to stop
            loop.call_soon_threadsafe(call.wind_down, reason)
    return len(calls)


async def run_call(ctx: agents.JobContext) -> None:
    """The worker's entrypoint: handle the call in `ctx.room`, then shut the job down."""
    logger.info("job %s started for room %s", ctx.job.id, ctx.job.room.name)
    call = Call(ctx)
    with _active_calls_lock:
        _active_calls[call] = asyncio.get_running_loop()
        if _stopping is not None:
            call.stop(_stopping)
    try:
        await call.run()
    finally:
        with _active_calls_lock:
            _active_calls.pop(call, None)
        logger.info("job %s for room %s ended: %s", ctx.job.id, ctx.job.room.name, call.end_reason)
        ctx.shutdown(call.end_reason)
