"""The embedded default: ``python -m webapp.dev`` runs LiveKit, the demo agent and the app.

No account anywhere: a local ``livekit-server --dev`` on 127.0.0.1, our demo agent
dispatched by name, and the app (under gunicorn, as in production) with one agent,
``demo``, on the livekit provider. LiveKit sends its room webhooks to the app, so the call
log sees each call end. Ctrl-C stops all three, and the temporary folder goes with them.
They run in that folder, so a ``.env`` in the checkout (a one-agent quick start's provider, a
public URL, a database) does not reach the demo; the real environment still does.

A demo agent that dies after it has run a while (livekit's native library can take its process
down) is started again, so the demo keeps answering; one that dies at start-up (a bad setting)
stops the demo, as LiveKit or the app dying does.
"""

from __future__ import annotations

import argparse
import json
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
from dataclasses import dataclass, field
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
TCP_OFFSET, UDP_OFFSET = 1, 2  # LiveKit's media ports beside its HTTP port (7881 and 7882 by default)
LOG_TAIL_LINES = 20
RESTART_AFTER_S = 10.0  # a demo agent that ran this long before it died is started again


@dataclass
class Child:
    """A process we started; ``log_path`` is where its output goes (None: our terminal)."""

    name: str
    command: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None
    restartable: bool = False  # started again when it dies after RESTART_AFTER_S
    started_at: float = field(default_factory=time.monotonic)

    def exit_report(self) -> str:
        """That it exited, and how its log ends (the reason, usually)."""
        report = f"{self.name} exited with status {self.popen.poll()}"
        if self.log_path is None:
            return report + "; see its output above"
        return f"{report}; the end of its log ({self.log_path}):\n{log_tail(self.log_path)}"


def demo_agents(allowed_origins: list[str]) -> str:
    """The demo's catalogue: its one agent, embeddable on ``allowed_origins`` (the app checks them)."""
    if not allowed_origins:
        return DEMO_AGENTS
    return DEMO_AGENTS + f"allowed_origins = {json.dumps(allowed_origins)}\n"  # a JSON list is TOML


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file (empty when there is none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def find_livekit_server() -> str:
    """The livekit-server binary: $LIVEKIT_SERVER_BIN, scripts/bootstrap's, or one on PATH."""
    explicit = os.environ.get("LIVEKIT_SERVER_BIN")
    for candidate in (explicit, ROOT / ".venv/bin/livekit-server", shutil.which("livekit-server")):
        if candidate and Path(candidate).is_file():
            return str(Path(candidate).resolve())  # the server runs in a folder of its own
    sys.exit("livekit-server is not installed: run scripts/demo (it installs it)")


def port_number(text: str) -> int:
    """A TCP port, 1 to 65535 (argparse's type: a ``ValueError`` is its clear message)."""
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(text)
    return port


def livekit_port(text: str) -> int:
    """LiveKit's port, the next two free for ICE/TCP and ICE/UDP."""
    port = port_number(text)
    port_number(str(port + max(TCP_OFFSET, UDP_OFFSET)))
    return port


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def udp_port_is_free(port: int) -> bool:
    """True when no socket holds UDP ``port`` on any address (LiveKit binds each interface's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def livekit_command(binary: str, livekit_port: int, app_port: int, api_key: str) -> list[str]:
    """``livekit-server --dev`` on 127.0.0.1 with media ports of its own, sending webhooks to the app.

    ``--dev`` alone takes TCP 7881 and UDP 7882 whatever ``--port`` says, so a second demo on
    another port failed; these come from the LiveKit port instead. The webhooks are signed
    with ``api_key``'s secret, which reaches the server only through ``LIVEKIT_KEYS``.
    """
    config = (
        f"port: {livekit_port}\n"
        f"rtc:\n  tcp_port: {livekit_port + TCP_OFFSET}\n"
        f"webhook:\n  api_key: {api_key}\n  urls:\n    - http://127.0.0.1:{app_port}/webhooks/livekit\n"
    )
    return [binary, "--dev", "--bind", "127.0.0.1", "--node-ip", "127.0.0.1",
            "--udp-port", str(livekit_port + UDP_OFFSET), "--config-body", config]  # fmt: skip


def wait_http(url: str, timeout_s: float, children: list[Child]) -> None:
    """Wait until ``url`` answers, failing early (with its log's end) when a child has died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in children:
            if child.popen.poll() is not None:
                raise SystemExit(f"{child.exit_report()}\nStopped during start-up.")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout_s:.0f} s")


def main(argv: list[str] | None = None) -> None:
    """Start the three processes, print the URL, and supervise until Ctrl-C (or SIGTERM)."""
    # A shell that starts us in the background leaves SIGINT ignored: Ctrl-C and kill -INT
    # would do nothing at all.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the same clean stop, folder removed
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=port_number, default=os.environ.get("PORT") or "8000")
    parser.add_argument(
        "--livekit-port", type=livekit_port, default=7880, help="and the next two (ICE/TCP, ICE/UDP)"
    )
    parser.add_argument(
        "--allow-origin", action="append", default=[], metavar="ORIGIN",
        help="a site that may embed the demo agent, e.g. http://localhost:3000 (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    for port in (args.port, args.livekit_port, args.livekit_port + TCP_OFFSET):
        if not port_is_free(port):
            sys.exit(f"port {port} is in use; stop what uses it or pass --port/--livekit-port")
    if not udp_port_is_free(args.livekit_port + UDP_OFFSET):
        sys.exit(
            f"UDP port {args.livekit_port + UDP_OFFSET} is in use; stop what uses it or pass --livekit-port"
        )
    livekit_server = find_livekit_server()
    api_key, api_secret = "devkey", secrets.token_urlsafe(32)  # a fresh strong secret per run
    livekit_url = f"ws://127.0.0.1:{args.livekit_port}"
    workdir = Path(tempfile.mkdtemp(prefix="webcall-"))
    agents_file = workdir / "agents.toml"
    livekit_log = workdir / "livekit-server.log"
    agents_file.write_text(demo_agents(args.allow_origin))
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
        livekit_command(livekit_server, args.livekit_port, args.port, api_key),
        [sys.executable, "-m", "webapp.demo_agent"],
        [str(bin_dir / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{args.port}", "--workers", "1", "webapp:create_app()"],
    ]  # fmt: skip
    children: list[Child] = []

    # Each child in a session of its own: Ctrl-C reaches only us, and we stop each one once
    # (SIGTERM, below). A gunicorn worker that got the terminal's SIGINT and its master's
    # SIGQUIT together could deadlock in its own signal handler and outlive us on the port.
    def launch(command: list[str], output: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
        """Start `command` in a session of its own."""
        return subprocess.Popen(
            command, env=env, cwd=workdir, stdout=output, stderr=output, start_new_session=True
        )

    def start(
        name: str, command: list[str], output: IO[bytes] | None = None, restartable: bool = False
    ) -> None:
        """Start `command`; it is stopped in `finally`."""
        children.append(
            Child(name, command, launch(command, output), Path(output.name) if output else None, restartable)
        )

    try:
        with open(livekit_log, "wb") as log:  # its debug output would drown the others'
            start("livekit-server", commands[0], log)
        wait_http(f"http://127.0.0.1:{args.livekit_port}/", 20, children)
        start("the demo agent", commands[1], restartable=True)
        start("gunicorn", commands[2])
        wait_http(f"http://127.0.0.1:{args.port}/healthz", 20, children)
        print(
            f"\n  webcall is ready: open http://127.0.0.1:{args.port}/ and click Talk."
            f"\n  LiveKit's log: {livekit_log} (removed on exit). Ctrl-C stops everything.\n",
            flush=True,
        )
        while True:
            time.sleep(0.5)
            if not (gone := [c for c in children if c.popen.poll() is not None]):
                continue
            child, ran_s = gone[0], time.monotonic() - gone[0].started_at
            if not (child.restartable and ran_s >= RESTART_AFTER_S):
                sys.exit(f"{child.exit_report()}\nStopping the others.")
            print(f"{child.exit_report()}\nIt had run {ran_s:.0f} s: starting it again.", flush=True)
            child.popen, child.started_at = launch(child.command), time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        for child in reversed(children):
            child.popen.terminate()
        for child in children:
            try:
                child.popen.wait(10)
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
