"""A build under a running server: the server serves its own build, whole, until it is reloaded.

In a copy of the app (its own ``static/``), the bundle is built and gunicorn serves it; a change
to the sources is built again while it runs. Its page, the page's files, a lazily loaded chunk and
``/embed.js`` stay the first build's, byte for byte. After a reload (SIGHUP, the documented
deploy) the new build is served, and what a page opened before it loads later still loads.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.apps import offline_livekit_env
from tests.support.processes import ROOT, Process, free_port, http_ok, wait_until
from tests.support.stack import AppServer

CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
"""
# What the app and the build read; node_modules is linked.
COPIED = (
    "webapp", "templates", "static/src", "static/css", "scripts/build-assets.mjs", "package.json",
    "gunicorn.conf.py",
)  # fmt: skip
# The page's code, a chunk it loads lazily (the chat's) and the embed loader change: the statement
# is a side effect, so minifying keeps it.
CHANGED = ("static/src/page.js", "static/src/media/text-only.js", "static/src/embed/loader.js")
CHANGE = "\nglobalThis.webcallRebuilt = true;\n"
UNBROTLI = (
    "process.stdout.write(require('node:zlib').brotliDecompressSync(require('node:fs').readFileSync(0)))"
)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of what the app and the build read, its bundle built once."""
    copy = tmp_path / "webcall"
    for name in COPIED:
        source, target = ROOT / name, copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    (copy / "node_modules").symlink_to(ROOT / "node_modules")
    build(copy)
    return copy


@pytest.fixture
def server(checkout: Path, tmp_path: Path) -> Iterator[AppServer]:
    """gunicorn with two workers as ``start_app_server`` runs it, but in the copy: its webapp, its static/."""
    (tmp_path / "agents.toml").write_text(CATALOGUE)
    env = {
        **os.environ,
        **offline_livekit_env(),
        "WEBCALL_AGENTS_FILE": str(tmp_path / "agents.toml"),
        "WEBCALL_DATABASE_URL": f"sqlite:///{tmp_path / 'calls.db'}",
    }
    port = free_port()
    argv = [
        sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
        "--bind", f"127.0.0.1:{port}", "--workers", "2", "webapp:create_app()",
    ]  # fmt: skip
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(argv, cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)
    app = AppServer(f"http://127.0.0.1:{port}", Process("gunicorn", popen, log_path))
    try:
        wait_until(http_ok(f"{app.url}/healthz"), timeout_s=20, what="gunicorn to serve", process=app.process)
        yield app
    finally:
        app.process.stop()


def build(copy: Path) -> None:
    """``node scripts/build-assets.mjs`` in the copy, as a deploy runs it."""
    result = subprocess.run(
        ["node", "scripts/build-assets.mjs"], cwd=copy, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr


def built_files(copy: Path) -> dict[str, bytes]:
    """The current build's files (not their compressed copies or maps), by URL."""
    dist = copy / "static" / "dist"
    return {
        f"/static/dist/{path.relative_to(dist).as_posix()}": path.read_bytes()
        for path in dist.rglob("*")
        if path.is_file() and path.suffix not in (".br", ".gz", ".map")
    }


def page_files(app: AppServer) -> list[str]:
    """The scripts, preloads and stylesheets the call page names."""
    html = httpx.get(f"{app.url}/talk/local", timeout=5).text
    return re.findall(r'(?:src|href)="(/static/dist/[^"]+)"', html)


def fetch(app: AppServer, path: str) -> bytes:
    """``path`` as a browser taking brotli gets it, decoded: a truncated body fails to decode."""
    with httpx.stream("GET", app.url + path, headers={"Accept-Encoding": "br"}, timeout=5) as response:
        assert response.status_code == 200, path
        raw = b"".join(response.iter_raw())
        if response.headers.get("Content-Encoding") != "br":
            return raw
    result = subprocess.run(["node", "-e", UNBROTLI], input=raw, capture_output=True, timeout=30)
    assert result.returncode == 0, f"{path}: {result.stderr.decode()}"
    return result.stdout


def assert_served(app: AppServer, files: dict[str, bytes], urls: list[str]) -> None:
    """Each of ``urls`` arrives whole, as ``files`` has it."""
    for url in urls:
        assert fetch(app, url) == files[url], url


def worker_pids(app: AppServer) -> set[int]:
    """gunicorn's workers: its master's children."""
    master = app.process.popen.pid
    return {int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()}


def test_a_build_changes_nothing_a_running_server_serves_until_it_is_reloaded(
    checkout: Path, server: AppServer
) -> None:
    first = built_files(checkout)
    page = page_files(server)
    assert page and set(page) <= set(first), page  # the copy's own build
    [lazy] = [url for url in first if re.search(r"/chunks/text-only-\w+\.js$", url)]
    own = [*page, lazy, "/static/dist/manifest.json"]
    assert_served(server, first, own)
    assert fetch(server, "/embed.js") == first["/static/dist/loader/embed.js"]

    for name in CHANGED:
        with (checkout / name).open("a") as source:
            source.write(CHANGE)
    build(checkout)
    second = built_files(checkout)
    assert lazy not in second and not set(page) <= set(second)  # new names for what changed
    assert second["/static/dist/loader/embed.js"] != first["/static/dist/loader/embed.js"]

    # Not reloaded: the first build's page, files, manifest and loader, whole.
    assert page_files(server) == page
    assert_served(server, first, own)
    assert fetch(server, "/embed.js") == first["/static/dist/loader/embed.js"]

    old_workers = worker_pids(server)
    os.kill(server.process.popen.pid, signal.SIGHUP)
    wait_until(
        lambda: not worker_pids(server) & old_workers, timeout_s=30, what="the reload", process=server.process
    )
    new_page = page_files(server)
    assert new_page != page and set(new_page) <= set(second), new_page
    assert_served(server, second, [*new_page, "/static/dist/manifest.json"])
    assert fetch(server, "/embed.js") == second["/static/dist/loader/embed.js"]
    # A page opened before the deploy still loads its files, the lazy chunk among them.
    assert_served(server, first, [*page, lazy])
    assert "Traceback" not in server.process.log()
