"""``scripts/demo`` (``webapp.dev``): LiveKit's argv, and start-up failures, Ctrl-C and clean-up.

The supervision tests run ``python -m webapp.dev`` with a stand-in for livekit-server (a small
script, through ``LIVEKIT_SERVER_BIN``), so neither LiveKit nor the app nor the agent starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest
import yaml

from tests.support.processes import ROOT, find_livekit_server, free_port, free_port_run, wait_until
from webapp.catalogue import load_catalogue
from webapp.dev import RESTART_AFTER_S, demo_agents, livekit_command
from webapp.dev import find_livekit_server as dev_livekit_server

SECRET_MARK = "not-in-argv"


def test_livekit_gets_media_ports_of_its_own_and_sends_webhooks_to_the_app() -> None:
    argv = livekit_command("livekit-server", 7890, 8100, "devkey")
    assert argv[argv.index("--udp-port") + 1] == "7892"  # not --dev's fixed 7882
    assert yaml.safe_load(argv[argv.index("--config-body") + 1]) == {
        "port": 7890,
        "rtc": {"tcp_port": 7891},  # not --dev's fixed 7881
        "webhook": {"api_key": "devkey", "urls": ["http://127.0.0.1:8100/webhooks/livekit"]},
    }
    assert ("--bind", "127.0.0.1") == tuple(argv[argv.index("--bind") : argv.index("--bind") + 2])
    # The default ports are LiveKit's own defaults.
    default = livekit_command("livekit-server", 7880, 8000, "devkey")
    assert default[default.index("--udp-port") + 1] == "7882"


def test_the_demo_agent_can_be_embedded_on_the_origins_given(tmp_path: Path) -> None:
    """``scripts/demo --allow-origin http://localhost:3000``: a page there may embed the demo
    agent (without it every embed of the demo was refused, the iframe framed by no one)."""
    path, problems = tmp_path / "agents.toml", []
    path.write_text(demo_agents(["http://localhost:3000", "https://shop.example.com"]))
    agents = load_catalogue(path, problems, set())
    assert agents["demo"].allowed_origins == ("http://localhost:3000", "https://shop.example.com")
    path.write_text(demo_agents([]))
    assert load_catalogue(path, problems, set())["demo"].allowed_origins == ()
    assert problems == []


def test_the_real_livekit_server_reads_those_ports() -> None:
    argv = livekit_command(find_livekit_server(), 17890, 18100, "devkey")
    shown = subprocess.run(
        [*argv, "ports"], capture_output=True, text=True, timeout=30, check=True,
        env={**os.environ, "LIVEKIT_KEYS": "devkey: secret-of-at-least-32-characters-xx"},
    ).stdout  # fmt: skip
    assert "17891 - ICE/TCP" in shown and "17892" in shown.split("UDP Ports")[1]


def free_livekit_ports() -> int:
    """A LiveKit port whose next two (its ICE/TCP and ICE/UDP ports) are free too, below the
    kernel's ephemeral range: LiveKit binds its ICE/TCP port on every address, and a port taken at
    random from the whole range was once held by some outgoing connection ("address already in
    use")."""
    return free_port_run(3)


def run_demo(
    tmp_path: Path,
    fake_livekit: str | None = None,
    *,
    ignore_sigint: bool = False,
    output: IO[str] | int = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """``python -m webapp.dev`` with ``fake_livekit`` (Python source) as its livekit-server, or
    the real one when None; its output goes to ``output``."""
    livekit_server = find_livekit_server()
    if fake_livekit is not None:
        binary = tmp_path / "livekit-server"
        binary.write_text(f"#!{sys.executable}\n{fake_livekit}")
        binary.chmod(0o755)
        livekit_server = str(binary)
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "LIVEKIT_SERVER_BIN": livekit_server, "TMPDIR": str(tmp_path / "tmp")}

    def ignore() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell's `cmd &` does

    argv = [sys.executable, "-m", "webapp.dev", "--port", str(free_port()), "--livekit-port",
            str(free_livekit_ports())]  # fmt: skip
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, text=True, stdout=output, stderr=subprocess.STDOUT,
        preexec_fn=ignore if ignore_sigint else None,
    )  # fmt: skip


def leftovers(tmp_path: Path) -> list[str]:
    """The demo's temporary folders still there."""
    return [p.name for p in (tmp_path / "tmp").glob("webcall-*")]


def test_a_process_that_exits_during_start_up_shows_the_end_of_its_log(tmp_path: Path) -> None:
    fake = (
        "import sys\n"
        "print('starting LiveKit server')\n"
        "print('could not listen on udp 127.0.0.1:7892: bind: address already in use', flush=True)\n"
        "sys.exit(1)\n"
    )
    demo = run_demo(tmp_path, fake)
    output, _ = demo.communicate(timeout=30)
    assert demo.returncode != 0
    assert "livekit-server exited with status 1" in output
    assert "bind: address already in use" in output  # its log's end, not only "a process exited"
    assert leftovers(tmp_path) == []


def test_sigint_stops_it_even_when_started_with_sigint_ignored(tmp_path: Path) -> None:
    started = tmp_path / "started"
    fake = f"import pathlib, time\npathlib.Path({str(started)!r}).write_text('yes')\ntime.sleep(60)\n"
    demo = run_demo(tmp_path, fake, ignore_sigint=True)
    try:
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), "the demo never started its livekit-server"
        assert leftovers(tmp_path)  # while it runs, its folder is there
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=8)  # before the 20 s start-up wait would have ended it
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert leftovers(tmp_path) == []


def test_its_processes_run_in_its_own_folder_not_the_checkout(tmp_path: Path) -> None:
    """They ran in the checkout, where the app and gunicorn read ``.env``: a one-agent quick
    start's provider (or a public URL, a database) took the demo's place."""
    where = tmp_path / "where"
    fake = f"import os, pathlib, time\npathlib.Path({str(where)!r}).write_text(os.getcwd())\ntime.sleep(60)\n"
    demo = run_demo(tmp_path, fake)
    try:
        deadline = time.monotonic() + 20
        while not where.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert Path(where.read_text()).name in leftovers(tmp_path)  # the demo's temporary folder
    finally:
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=15)


def test_a_second_ctrl_c_does_not_cut_the_clean_up_short(tmp_path: Path) -> None:
    """Ctrl-C twice: the second interrupted the wait for the children, so a child that had not
    stopped yet was never killed and the temporary folder stayed."""
    started = tmp_path / "started"
    fake = (
        "import pathlib, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stops only when killed\n"
        f"pathlib.Path({str(started)!r}).write_text(str(__import__('os').getpid()))\n"
        "time.sleep(60)\n"
    )
    demo = run_demo(tmp_path, fake)
    try:
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        demo.send_signal(signal.SIGINT)
        time.sleep(0.5)
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=20)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert "Traceback" not in output, output
    assert not Path(f"/proc/{started.read_text()}").exists()  # killed once its 10 s were up
    assert leftovers(tmp_path) == []


def agent_pid(demo: subprocess.Popen[str]) -> int | None:
    """The pid of the demo's agent (a child of ``webapp.dev`` running ``webapp.demo_agent``)."""
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == demo.pid and b"webapp.demo_agent" in cmdline:
            return int(proc.name)
    return None


@pytest.mark.e2e
def test_a_demo_agent_that_dies_is_started_again_unless_it_dies_at_start_up(tmp_path: Path) -> None:
    """The real demo (livekit-server, the demo agent, gunicorn): the agent killed after it had run
    RESTART_AFTER_S is started again and registers with LiveKit again, the rest running on; killed again
    at once (as one that cannot start dies), the demo stops, saying so, and leaves nothing behind.

    Every process stopped the demo: livekit's native library panicking in the agent (a room
    deleted as the agent joined it) left a newcomer with nothing to talk to.
    """
    output_path = tmp_path / "output"
    with open(output_path, "w") as output:
        demo = run_demo(tmp_path, output=output)

    def registered() -> int:
        return output_path.read_text().count("registered worker")

    try:
        wait_until(
            lambda: registered() == 1 or demo.poll() is not None,
            timeout_s=60,
            what="the demo agent to register",
        )
        assert demo.poll() is None, output_path.read_text()
        time.sleep(RESTART_AFTER_S + 0.5)  # from its registration, which comes after its start
        first = agent_pid(demo)
        assert first is not None, output_path.read_text()
        os.kill(first, signal.SIGKILL)
        wait_until(
            lambda: registered() == 2 or demo.poll() is not None,
            timeout_s=60,
            what="the agent to register again",
        )
        text = output_path.read_text()
        assert demo.poll() is None, text  # LiveKit and the app ran on
        assert "the demo agent exited with status -9" in text and "starting it again" in text, text
        second = agent_pid(demo)
        assert second not in (None, first), text
        os.kill(second, signal.SIGKILL)  # well within RESTART_AFTER_S of its start
        demo.wait(30)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    text = output_path.read_text()
    assert demo.returncode != 0 and text.rstrip().endswith("Stopping the others."), text[-2000:]
    assert text.count("starting it again") == 1 and leftovers(tmp_path) == [], text[-2000:]


def test_a_relative_livekit_server_bin_is_found_from_where_the_demo_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scripts/bootstrap takes a path relative to the checkout; the server runs in the demo's own
    folder, where that path named nothing (a FileNotFoundError traceback)."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "livekit-server").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIVEKIT_SERVER_BIN", "bin/livekit-server")
    assert dev_livekit_server() == str(tmp_path / "bin" / "livekit-server")


@pytest.mark.parametrize(
    ("argv", "env", "said"),
    [
        (["--port", "70000"], {}, "argument --port: invalid port_number value: '70000'"),
        (["--livekit-port", "65535"], {}, "argument --livekit-port: invalid livekit_port value: '65535'"),
        ([], {"PORT": "soon"}, "argument --port: invalid port_number value: 'soon'"),
    ],
)
def test_a_port_that_is_none_is_a_usage_error_not_a_traceback(
    argv: list[str], env: dict[str, str], said: str
) -> None:
    run = subprocess.run([sys.executable, "-m", "webapp.dev", *argv], cwd=ROOT, env={**os.environ, **env},
                         capture_output=True, text=True, timeout=30)  # fmt: skip
    assert (run.returncode, run.stderr.strip().splitlines()[-1]) == (2, f"dev.py: error: {said}")


def test_an_empty_port_variable_is_unset() -> None:
    env = {**os.environ, "PORT": ""}
    run = subprocess.run([sys.executable, "-m", "webapp.dev", "--help"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=30)  # fmt: skip
    assert run.returncode == 0 and "usage:" in run.stdout, run.stderr
