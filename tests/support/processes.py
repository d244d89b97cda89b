"""Start and stop the real pieces (LiveKit server, demo agent, gunicorn) for tests."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return _unused_port(socket.SOCK_STREAM)


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing uses right now."""
    return _unused_port(socket.SOCK_DGRAM)


def _unused_port(kind: socket.SocketKind) -> int:
    """A port below the kernel's ephemeral range, free now and not handed out before.

    A port the kernel picks (bind to 0) comes from the range every outgoing connection and
    every browser's ICE socket draws from, so one may take it before the server it was for
    binds it ("address already in use", seen once in a benchmark's LiveKit). Below the range,
    only another explicit bind can.
    """
    below = _ephemeral_start()
    for _ in range(100):
        # (a kernel whose range starts low leaves no room: then it picks, as before)
        port = _random.randrange(_PORTS_FROM, below) if below > _PORTS_FROM + 1_000 else 0
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = int(sock.getsockname()[1])
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range after 100 tries")


def free_port_run(count: int) -> int:
    """The first of `count` consecutive ports below the kernel's ephemeral range, each free for
    TCP and UDP on every address (a server such as LiveKit binds its ICE ports on all of them)."""
    below = _ephemeral_start()
    for _ in range(200):
        first = _random.randrange(_PORTS_FROM, below - count)
        ports = range(first, first + count)
        if _handed_out.isdisjoint(ports) and all(_bindable(port) for port in ports):
            _handed_out.update(ports)
            return first
    raise RuntimeError(f"no {count} free ports in a row below the ephemeral range after 200 tries")


def _bindable(port: int) -> bool:
    """True when both a TCP and a UDP socket can bind `port` on every address right now."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


def _ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (Linux's default when it cannot say)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORTS_FROM = 10_000
_random = random.Random()  # seeded from the OS: separate processes pick apart
_handed_out: set[int] = set()


def find_livekit_server() -> str:
    """The livekit-server binary: $LIVEKIT_SERVER_BIN, PATH, the venv, or Go's bin folder."""
    candidates = [
        os.environ.get("LIVEKIT_SERVER_BIN"),
        shutil.which("livekit-server"),
        str(ROOT / ".venv" / "bin" / "livekit-server"),
        str(Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin" / "server"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise RuntimeError("livekit-server is not installed: run scripts/bootstrap first")


@dataclass
class Process:
    """A child process with its log file; ``stop()`` ends it (and its children) politely."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the process has printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def start(name: str, argv: list[str], *, env: Mapping[str, str], log_dir: Path) -> Process:
    """Start ``argv`` with its output in ``log_dir/name.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - the child owns it until it exits
    popen = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT
    )
    return Process(name, popen, log_path)


def wait_until(
    check: Callable[[], bool], *, timeout_s: float, what: str, process: Process | None = None
) -> None:
    """Poll ``check`` until it holds; fail with the process's log when it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.popen.poll() is not None:
            raise RuntimeError(
                f"{process.name} exited ({process.popen.returncode}) before {what}:\n{process.log()[-4000:]}"
            )
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    tail = process.log()[-4000:] if process else ""
    raise RuntimeError(f"timed out after {timeout_s}s waiting for {what}\n{tail}")


def http_ok(url: str) -> Callable[[], bool]:
    """A check that ``url`` answers 200."""
    return lambda: httpx.get(url, timeout=1.0).status_code == 200


def python_argv(*args: str) -> list[str]:
    """Run this interpreter (the venv's) with ``args``."""
    return [sys.executable, *args]
