"""LiveKit's agent-starter-react, built and served for the floor to time beside our page.

Issue 17 sets our page's targets by that starter's figures. Timed in the same browser run as
our page, interleaved, the comparison holds on a machine whose speed drifts by the hour, where
a figure taken on another day does not. Its code is not ours to commit and this machine cannot
fetch it, so the floor times it only when ``WEBCALL_BENCH_STARTER`` names a checkout of
https://github.com/livekit-examples/agent-starter-react (its own lockfile and package manager
installed here from npm): built for production into the run's logs, with two changes that touch
no call, each checked to apply: the layout's Google font goes (a build fetches it from Google),
and the token route, which refuses to run outside ``next dev`` (it has no authentication), runs
under ``next start``, since a development server compiles on demand and would time the compiler.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import Process, free_port, http_ok, start, wait_until

ENV = "WEBCALL_BENCH_STARTER"
# Its button once React has hydrated it: clicked before, it does nothing.
HYDRATED = """() => {
  const button = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Start call');
  if (!button || !Object.keys(button).some((key) => key.startsWith('__reactProps'))) return false;
  button.id = 'talk';  // where the floor's observer marks the click
  return true;
}"""
FONT_IMPORT = "import { Public_Sans } from 'next/font/google';\n"
FONT_CALL = re.compile(r"const publicSans = Public_Sans\(\{.*?\}\);\n", re.S)
DEV_ONLY = "if (process.env.NODE_ENV !== 'development') {"


def checkout() -> Path | None:
    """The checkout ``WEBCALL_BENCH_STARTER`` names; None when it is not set."""
    named = os.environ.get(ENV)
    if not named:
        return None
    path = Path(named).resolve()
    if not (path / "package.json").is_file() or not (path / "app" / "api" / "token" / "route.ts").is_file():
        raise RuntimeError(f"{ENV}={named} is not a checkout of livekit-examples/agent-starter-react")
    return path


def build(source: Path, out: Path) -> Path:
    """A copy of ``source`` in ``out``, changed as the module says, installed and built for production."""
    prepare(source, out)
    manager = json.loads((out / "package.json").read_text()).get("packageManager", "pnpm@9")
    pnpm = ["npx", "--yes", manager.split("+")[0]]
    for step in (["install", "--frozen-lockfile"], ["build"]):
        done = subprocess.run(pnpm + step, cwd=out, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "NEXT_TELEMETRY_DISABLED": "1"})  # fmt: skip
        (out.parent / f"starter-{step[0]}.log").write_text(done.stdout + done.stderr)
        if done.returncode:
            raise RuntimeError(f"agent-starter-react: pnpm {step[0]} failed:\n{done.stderr[-2000:]}")
    return out


def prepare(source: Path, out: Path) -> None:
    """A copy of ``source`` in ``out`` with the module's two changes; ``RuntimeError`` when the
    starter has changed so that either no longer applies."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("node_modules", ".next", ".git"))
    layout = out / "app" / "layout.tsx"
    _replace(layout, FONT_IMPORT, "")
    _replace(layout, FONT_CALL, "const publicSans = { variable: '' };\n")
    allowed = "if (process.env.NODE_ENV !== 'development' && !process.env.WEBCALL_BENCH) {"
    _replace(out / "app" / "api" / "token" / "route.ts", DEV_ONLY, allowed)


def _replace(path: Path, old: str | re.Pattern[str], new: str) -> None:
    """``old`` (a text, or a pattern) replaced by ``new`` in ``path``, where it stands exactly once."""
    pattern = re.compile(re.escape(old)) if isinstance(old, str) else old
    text, count = pattern.subn(lambda _: new, path.read_text())
    if count != 1:
        raise RuntimeError(
            f"agent-starter-react changed: {path.name} no longer holds {pattern.pattern[:60]!r}"
        )
    path.write_text(text)


def livekit_client_version(app: Path) -> str:
    """The livekit-client the starter's lockfile installed."""
    found = sorted(app.glob("node_modules/.pnpm/livekit-client@*"))
    return found[0].name.split("@")[1].split("_")[0] if found else "?"


@contextmanager
def serve(app: Path, livekit: dict[str, str], agent_name: str, log_dir: Path, name: str) -> Iterator[str]:
    """``next start`` on ``app``, minting tokens for ``livekit`` (its URL as browsers reach it) that
    send ``agent_name`` into the room, as our page's calls do; yields its URL."""
    port = free_port()
    argv = ["node", str(app / "node_modules" / "next" / "dist" / "bin" / "next"), "start", str(app),
            "--port", str(port), "--hostname", "127.0.0.1"]  # fmt: skip
    env = {**livekit, "AGENT_NAME": agent_name, "WEBCALL_BENCH": "1", "NEXT_TELEMETRY_DISABLED": "1"}
    process: Process = start(name, argv, env=env, log_dir=log_dir)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(http_ok(url), timeout_s=60, what="agent-starter-react", process=process)
        yield url
    finally:
        process.stop()
