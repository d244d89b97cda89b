"""The embedded default: ``python -m webapp.dev`` runs LiveKit, the demo agent and the app.

No account anywhere: a local ``livekit-server --dev`` on 127.0.0.1, our demo agent
dispatched by name, and the app (under gunicorn, as in production) with one agent,
``demo``, on the livekit provider. Ctrl-C stops all three.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
DEMO_AGENTS = """\
[agents.demo]
provider = "livekit"
agent_id = "webcall-demo"
title = "Demo agent"
description = "A local agent that listens: ask what it can do or the time, and say goodbye to end."
greeting = "Hi {{name}}! I'm the webcall demo agent. Ask me what I can do, or say goodbye when you're done."
variables = { name = "there" }
allowed_variables = ["name"]
max_call_s = 600
"""


def find_livekit_server() -> str:
    """The livekit-server binary that scripts/bootstrap installed (or one on PATH)."""
    for candidate in (ROOT / ".venv/bin/livekit-server", shutil.which("livekit-server")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    sys.exit("livekit-server is not installed: run scripts/demo (it installs it)")


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_http(url: str, timeout_s: float, procs: list[subprocess.Popen[bytes]]) -> None:
    """Wait until ``url`` answers, failing early when a child has died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise SystemExit("a process exited during start-up; see its output above")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout_s:.0f} s")


def main() -> None:
    """Start the three processes, print the URL, and supervise until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--livekit-port", type=int, default=7880)
    args = parser.parse_args()
    for port in (args.port, args.livekit_port, args.livekit_port + 1):
        if not port_is_free(port):
            sys.exit(f"port {port} is in use; stop what uses it or pass --port/--livekit-port")
    api_key, api_secret = "devkey", secrets.token_urlsafe(32)  # a fresh strong secret per run
    livekit_url = f"ws://127.0.0.1:{args.livekit_port}"
    workdir = Path(tempfile.mkdtemp(prefix="webcall-"))
    agents_file = workdir / "agents.toml"
    livekit_log = workdir / "livekit-server.log"
    agents_file.write_text(DEMO_AGENTS)
    env = {
        **os.environ,
        "LIVEKIT_KEYS": f"{api_key}: {api_secret}",
        "LIVEKIT_URL": livekit_url,
        "LIVEKIT_API_KEY": api_key,
        "LIVEKIT_API_SECRET": api_secret,
        "WEBCALL_AGENTS_FILE": str(agents_file),
        "WEBCALL_DEMO_AGENT_NAME": "webcall-demo",
        "WEBCALL_LOG_FORMAT": os.environ.get("WEBCALL_LOG_FORMAT", "text"),  # a terminal, not a collector
    }
    env.pop("WEBCALL_PROVIDER", None)
    env.pop("WEBCALL_AGENT_ID", None)
    bin_dir = Path(sys.executable).parent
    commands = [
        [find_livekit_server(), "--dev", "--bind", "127.0.0.1", "--port", str(args.livekit_port),
         "--node-ip", "127.0.0.1"],
        [sys.executable, "-m", "webapp.demo_agent"],
        [str(bin_dir / "gunicorn"), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{args.port}",
         "--workers", "1", "webapp:create_app()"],
    ]  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []

    # Each child in a session of its own: Ctrl-C reaches only us, and we stop each one once
    # (SIGTERM, below). A gunicorn worker that got the terminal's SIGINT and its master's
    # SIGQUIT together could deadlock in its own signal handler and outlive us on the port.
    def start(command: list[str], output: IO[bytes] | None = None) -> None:
        """Start `command` in a session of its own; it is stopped in `finally`."""
        procs.append(
            subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=output, start_new_session=True)
        )

    try:
        with open(livekit_log, "wb") as log:  # its debug output would drown the others'
            start(commands[0], log)
        wait_http(f"http://127.0.0.1:{args.livekit_port}/", 20, procs)
        start(commands[1])
        start(commands[2])
        wait_http(f"http://127.0.0.1:{args.port}/healthz", 20, procs)
        print(
            f"\n  webcall is ready: open http://127.0.0.1:{args.port}/ and click Talk."
            f"\n  LiveKit's log: {livekit_log}. Ctrl-C stops everything.\n",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        sys.exit("a process exited; stopping the others")
    except KeyboardInterrupt:
        pass
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
