"""The worker leaves when livekit-agents' close hangs after SIGTERM (its calls have ended).

livekit-agents 1.8 once waited for good on a job runner still starting as the worker closed
(CI, test_worker_capacity's SIGTERM test: "job did not ack shutdown in time", then nothing for
35 s). This runs ``serve`` with a server that never finishes closing, in a process of its own
(the worker leaves with ``os._exit``), and checks it goes within the bound, as a clean stop.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

RUN_WITH_A_CLOSE_THAT_HANGS = """
import asyncio, logging, sys
from webapp.demo_agent import worker

class Server:
    async def run(self, devmode):  # started once serve() has its signal handlers
        print("serving", flush=True)
        await asyncio.Event().wait()
    async def drain(self, timeout):
        return None
    async def aclose(self):
        await asyncio.Event().wait()  # as livekit-agents did, waiting on a job runner

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
worker.CLOSE_TIMEOUT_S = 1
worker.build_server = lambda settings: Server()
worker.start_rtc_runtime = lambda: None
sys.exit(asyncio.run(worker.serve(None)))
"""


def test_a_close_that_hangs_is_left_after_its_bound() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_WITH_A_CLOSE_THAT_HANGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "serving"
        signalled_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        took = time.monotonic() - signalled_at
    finally:
        process.kill()
    log = process.stderr.read() if process.stderr else ""
    assert process.returncode == 0, log
    assert 1 <= took < 5, (took, log)
    assert "the worker did not close within 1 s; exiting" in log
    assert "stopped cleanly" not in log
