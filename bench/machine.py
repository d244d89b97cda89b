"""The machine and the versions the numbers were measured with."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tests.support.processes import ROOT, find_livekit_server

CHROMIUM = "/usr/bin/chromium"


def _first_line(argv: list[str]) -> str:
    """The first line a program prints, or why it printed none."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"n/a ({type(exc).__name__})"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "n/a"


def _package(name: str) -> str:
    """An installed Python distribution's version."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    """Total memory from /proc/meminfo."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _livekit_server() -> str:
    """``livekit-server --version``."""
    try:
        return _first_line([find_livekit_server(), "--version"])
    except RuntimeError:
        return "not installed"


def _livekit_client() -> str:
    """The bundled livekit-client's version, from node_modules."""
    try:
        package = json.loads((ROOT / "node_modules" / "livekit-client" / "package.json").read_text())
    except (OSError, ValueError):
        return "not installed"
    return str(package.get("version", "unknown"))


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every number."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


def describe() -> dict[str, str]:
    """Machine (CPU model, cores, memory, OS) and versions, as label → text."""
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": _memory_gib(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "gunicorn": _package("gunicorn"),
        "Flask": _package("flask"),
        "httpx": _package("httpx"),
        "playwright": _package("playwright"),
        "livekit-server": _livekit_server(),
        "Chromium": _first_line([CHROMIUM, "--version"]),
        "livekit-client": _livekit_client(),
    }
