"""gunicorn under gunicorn.conf.py: JSON access lines without secrets, a light master, a frozen worker,
no shared control socket."""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import re
import secrets
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from gunicorn.config import Config
from gunicorn.ctl.client import ControlClient

from tests.support.apps import offline_livekit_env
from tests.support.logs import access_lines
from tests.support.processes import free_port, wait_until
from tests.support.stack import start_app_server
from webapp.ops.gunicorn_logging import JsonLogger, public_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        ("/webhooks/ravan/wh-LEAKCHECK-secret-token", "/webhooks/ravan/***"),
        ("/webhooks/ravan/wh-secret?x=1", "/webhooks/ravan/***"),
        ("/webhooks//ravan/wh-secret", "/webhooks//ravan/***"),
        ("/webhooks/ravan//wh-secret?x=1", "/webhooks/ravan//***"),
        ("/demo/sales?t=eyJzaWduZWQiOiJsaW5rIn0.sig", "/demo/sales"),
        ("/api/calls", "/api/calls"),
    ],
)
def test_paths_are_logged_without_secrets(raw: str, logged: str) -> None:
    assert public_path(raw) == logged


def test_an_access_line_is_one_json_object(caplog: pytest.LogCaptureFixture) -> None:
    config = Config()
    config.set("accesslog", "-")
    logger = JsonLogger(config)
    logger.access_log.propagate = True
    response = SimpleNamespace(status="404 NOT FOUND", sent=57, headers=[("X-Request-ID", "abc12345")])
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/webhooks/ravan/wh-secret?q=1",
        "REMOTE_ADDR": "10.0.0.9",
    }
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logger.access(response, None, environ, datetime.timedelta(milliseconds=12.5))
    line = json.loads(caplog.records[-1].getMessage())
    assert line["path"] == "/webhooks/ravan/***" and "wh-secret" not in caplog.text
    assert (line["status"], line["method"], line["request_id"], line["bytes"]) == (
        404,
        "POST",
        "abc12345",
        57,
    )
    assert line["duration_ms"] == 12.5 and line["logger"] == "gunicorn.access"


def test_gunicorns_own_error_line_quotes_no_demo_link_token(caplog: pytest.LogCaptureFixture) -> None:
    """gunicorn logs "Error handling request <URI>" with the query (a request it could not finish):
    a demo link's token, which places calls for whoever reads it, went into the log whole."""
    logger = JsonLogger(Config())
    logger.error_log.propagate = True
    token = "eyJhIjoic2FsZXMifQ.c2lnbmF0dXJl"
    with caplog.at_level(logging.ERROR, logger="gunicorn.error"):
        logger.error("Error handling request %s", f"/demo/sales?t={token}&lang=de")
        logger.error("Error handling request %s", f"/demo/sales?lang=de&t={token}")
    assert token not in caplog.text
    assert {record.getMessage() for record in caplog.records} == {
        "Error handling request /demo/sales?t=***&lang=de",
        "Error handling request /demo/sales?lang=de&t=***",
    }


def test_for_a_terminal_an_access_line_is_text(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``WEBCALL_LOG_FORMAT=text`` (scripts/demo) makes gunicorn's lines plain, like the app's."""
    monkeypatch.setenv("WEBCALL_LOG_FORMAT", "text")
    config = Config()
    config.set("accesslog", "-")
    logger = JsonLogger(config)
    logger.access_log.propagate = True
    response = SimpleNamespace(status="201 CREATED", sent=512, headers=[("X-Request-ID", "abc12345")])
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/webhooks/ravan/wh-secret", "REMOTE_ADDR": "10.0.0.9"}
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logger.access(response, None, environ, datetime.timedelta(milliseconds=3.25))
    assert caplog.records[-1].getMessage() == "POST /webhooks/ravan/*** 201 512 B 3.2 ms (request abc12345)"
    assert "wh-secret" not in caplog.text
    handlers = logger.error_log.handlers + logger.access_log.handlers
    formats = {getattr(handler.formatter, "_fmt", None) for handler in handlers}
    assert formats == {"%(asctime)s %(levelname)s %(name)s: %(message)s"}


def test_the_webhook_token_never_reaches_the_access_log(tmp_path: Path) -> None:
    """The app under gunicorn: /webhooks//ravan/<token> and /webhooks/ravan//<token> (which werkzeug
    would answer with a 308 to the merged path) are JSON 404s, and their access lines, which once
    printed the token, mask it. The configured token is masked in any other path too."""
    token = f"whk_{secrets.token_urlsafe(32)}"
    env = {
        **offline_livekit_env(),
        "WEBCALL_WEBHOOK_TOKEN": token,
        "WEBCALL_SECRET_KEY": secrets.token_hex(32),
    }
    local = '[agents.local]\nprovider = "livekit"\nagent_id = "webcall-demo"\n'
    server = start_app_server(env, tmp_path / "logs", agents_toml=local, workers=1)
    paths = [
        f"/webhooks//ravan/{token}", f"/webhooks/ravan//{token}", f"/webhooks///ravan///{token}?retry=1",
        f"/api/calls/{token}", f"/%77ebhooks/ravan/{token}",
    ]  # fmt: skip
    try:
        answers = [httpx.post(server.url + path, json={}, timeout=10) for path in paths]
    finally:
        server.process.stop()
    assert [answer.status_code for answer in answers] == [404] * 5
    assert all(answer.json()["error"]["code"] == "not_found" for answer in answers)
    log = server.process.log()
    assert [line["path"] for line in access_lines(log) if line["method"] == "POST"] == [
        "/webhooks//ravan/***", "/webhooks/ravan//***", "/webhooks///ravan///***", "/api/calls/***",
        "/%77ebhooks/ravan/***",
    ]  # fmt: skip
    assert token not in log


def test_a_worker_replaced_while_the_call_log_is_down_leaves_the_server_up(tmp_path: Path) -> None:
    """A worker dies (killed, out of memory) while its database is down: its replacement cannot
    open the call log. It exited with the status that tells gunicorn a worker can never boot, and
    the master shut the whole server down for good. Now it exits 1, after a pause, and the master
    tries again until the database is back."""
    local = '[agents.local]\nprovider = "livekit"\nagent_id = "webcall-demo"\n'
    server = start_app_server(offline_livekit_env(), tmp_path / "logs", agents_toml=local, workers=1)
    database = Path(server.database_url.removeprefix("sqlite:///"))
    master = server.process.popen.pid
    try:
        (first,) = workers_of(master)
        database.rename(database.with_name("away.db"))
        database.mkdir()  # a directory where the database was: it cannot be opened
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: "cannot open its call log" in server.process.log(), timeout_s=30,
                   what="the replacement to fail")  # fmt: skip
        wait_until(lambda: server.process.log().count("cannot open its call log") >= 2, timeout_s=30,
                   what="another replacement")  # fmt: skip
        assert server.process.popen.poll() is None, server.process.log()[-3000:]
        database.rmdir()
        database.with_name("away.db").rename(database)
        wait_until(lambda: httpx.get(server.url + "/healthz", timeout=5).status_code == 200, timeout_s=30,
                   what="a worker to serve again")  # fmt: skip
        assert server.process.popen.poll() is None
    finally:
        server.process.stop()


def test_the_master_imports_no_part_of_the_app() -> None:
    """gunicorn's master imports the log format before it forks: the app's modules (and the
    SSL, HTTP and database libraries under them) must first be imported in the worker, after
    gevent has patched the standard library, and anew on each reload."""
    probe = "import sys, gunicorn.config, webapp.ops.gunicorn_logging; print(' '.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = set(run.stdout.split())
    ours = {name for name in loaded if name.startswith("webapp")}
    assert ours == {"webapp", "webapp.ops", "webapp.ops.gunicorn_logging", "webapp.ops.logging",
                    "webapp.tracing"}  # fmt: skip
    assert not loaded & {"httpx", "sqlalchemy", "psycopg", "redis", "livekit", "aiohttp", "webapp.app"}


@contextmanager
def probe_server(tmp_path: Path, **env: str) -> Iterator[int]:
    """gunicorn under gunicorn.conf.py serving ``gc_probe`` (with ``env`` on top of ours), its
    stderr in ``tmp_path/gunicorn.log``; yields its port once it answers, and stops it (SIGTERM,
    as a deploy or Ctrl-C does) after."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         "tests.support.gc_probe:app"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(tmp_path / "gunicorn.log").open("w"),
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), **env},
    )  # fmt: skip
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/").status_code == 200,
                   timeout_s=20, what="gunicorn to answer")  # fmt: skip
        yield port
    finally:
        server.terminate()
        server.wait(20)


def print_config(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``gunicorn --print-config`` under gunicorn.conf.py, run in ``cwd`` (where .env is read)."""
    config = str(ROOT / "gunicorn.conf.py")
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", config, "--print-config", "x:y"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_worker_freezes_what_it_holds_once_the_app_is_loaded(tmp_path: Path) -> None:
    """gunicorn.conf.py's ``post_worker_init``: start-up's objects leave the collector's walks."""
    with probe_server(tmp_path) as port:
        frozen, tracked = map(int, httpx.get(f"http://127.0.0.1:{port}/").text.split())
    assert frozen > 10_000 and frozen > 2 * tracked  # gevent, gunicorn and the app's modules


def test_a_worker_stops_with_json_lines_only(tmp_path: Path) -> None:
    """Stopping gunicorn (Ctrl-C in ``scripts/demo``, a deploy in production) writes JSON lines
    only: no traceback from logging's last clean-up in a gevent worker (gevent issue #2148)."""
    with probe_server(tmp_path):
        pass
    lines = [line for line in (tmp_path / "gunicorn.log").read_text().splitlines() if line.strip()]
    messages = [json.loads(line)["message"] for line in lines]  # each line one JSON object
    assert any(message.startswith("Worker exiting") for message in messages)
    assert messages[-1] == "Shutting down: Master"


def test_a_metrics_folder_it_made_goes_when_it_stops(tmp_path: Path) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR, gunicorn.conf.py makes a folder per start: each run of
    scripts/demo left one behind in /tmp. One it was given is the operator's, and stays."""
    made = tmp_path / "tmp"
    made.mkdir()
    with probe_server(tmp_path, PROMETHEUS_MULTIPROC_DIR="", TMPDIR=str(made)):
        assert [path.name[:16] for path in made.iterdir()] == ["webcall-metrics-"]
    assert list(made.iterdir()) == []
    given = tmp_path / "given"
    given.mkdir()
    with probe_server(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(given)):
        pass
    assert given.is_dir()


def test_no_control_socket_opens_unless_given_a_path(tmp_path: Path) -> None:
    """gunicorn's default control socket is one path for every gunicorn of the user: a second
    server took it from the first, and the first to stop deleted the other's."""
    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir(), runtime.mkdir()
    with probe_server(tmp_path, HOME=str(home), XDG_RUNTIME_DIR=str(runtime)):
        opened = [*home.rglob("*"), *runtime.rglob("*")]
    assert opened == []
    assert "Control socket" not in (tmp_path / "gunicorn.log").read_text()


def test_a_control_socket_opens_at_the_path_given(tmp_path: Path) -> None:
    """``WEBCALL_CONTROL_SOCKET`` turns gunicornc on, for this server alone, its owner only."""
    path = tmp_path / "webcall.ctl"
    with probe_server(tmp_path, WEBCALL_CONTROL_SOCKET=str(path)):
        # The arbiter opens it in a thread of its own once the workers are forked, so a worker
        # may answer first: it is there once gunicorn says so (bound, then given its mode).
        log = tmp_path / "gunicorn.log"
        wait_until(lambda: "Control socket listening at" in log.read_text(), timeout_s=20,
                   what="the control socket to listen")  # fmt: skip
        with ControlClient(str(path), timeout=10) as client:
            workers = client.send_command("show workers")
        mode = stat.S_IMODE(path.stat().st_mode)
    assert len(workers["workers"]) == 1 and mode == 0o600
    assert not path.exists()  # removed as the server stopped


def test_gunicorn_reads_dotenv_as_the_app_does(tmp_path: Path) -> None:
    """.env.example lists gunicorn's variables (workers, worker class) for .env; gunicorn.conf.py
    read only the real environment, which still wins."""
    (tmp_path / ".env").write_text(
        "WEB_CONCURRENCY=3\nWEBCALL_WORKER_CLASS=gthread\nWEBCALL_THREADS=8\n"
        "WEBCALL_RATELIMIT_STORAGE_URI=redis://127.0.0.1:1/0\n"  # more than one worker needs shared limits
    )
    names = ("WEB_CONCURRENCY", "WEBCALL_WORKER_CLASS", "WEBCALL_RATELIMIT_STORAGE_URI")
    env = {k: v for k, v in os.environ.items() if k not in names}
    env |= {
        "WEBCALL_THREADS": "16",
        "WEBCALL_METRICS_DIR_READY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--print-config",
            "webapp:create_app()",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout  # fmt: skip  (then the app fails to load here, with no catalogue: printed first)
    config = {name: value for name, value in re.findall(r"^(\w+)\s+= (.*)$", printed, re.MULTILINE)}
    assert (config["workers"], config["worker_class"], config["threads"]) == ("3", "gthread", "16")


def test_a_variable_set_empty_counts_as_unset_for_gunicorn_as_for_the_app(tmp_path: Path) -> None:
    """An empty variable in the real environment hid .env's value from gunicorn (the app read
    .env's): with WEBCALL_BIND empty gunicorn listened on nothing at all, without a word."""
    (tmp_path / ".env").write_text("WEBCALL_BIND=127.0.0.1:18433\nWEBCALL_WORKER_CLASS=gthread\n")
    env = {**os.environ, "WEBCALL_METRICS_DIR_READY": "1", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env |= {"WEBCALL_BIND": "", "WEBCALL_WORKER_CLASS": "", "PORT": ""}
    config = dict(re.findall(r"^(\w+)\s+= (.*)$", print_config(tmp_path, env).stdout, re.MULTILINE))
    assert (config["bind"], config["worker_class"]) == ("['127.0.0.1:18433']", "gthread")
    (tmp_path / ".env").unlink()  # and without .env, gunicorn's default address
    config = dict(re.findall(r"^(\w+)\s+= (.*)$", print_config(tmp_path, env).stdout, re.MULTILINE))
    assert config["bind"] == "['0.0.0.0:8000']"


def test_more_than_one_worker_needs_shared_limits(tmp_path: Path) -> None:
    """In-memory limits, budgets and replays are one process's: WEB_CONCURRENCY=3 (which a PaaS
    may set by itself) ran three workers, each counting alone (a retry's Idempotency-Key could
    reach another and create a second call). One worker runs, and gunicorn says why."""
    env = {k: v for k, v in os.environ.items() if k != "WEBCALL_RATELIMIT_STORAGE_URI"}
    env |= {"WEB_CONCURRENCY": "3", "WEBCALL_METRICS_DIR_READY": "1"}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    printed = print_config(tmp_path, env)
    assert re.search(r"^workers\s+= 1$", printed.stdout, re.MULTILINE), printed.stdout
    assert "WEB_CONCURRENCY=3 ignored, 1 worker runs" in printed.stderr
    assert "WEBCALL_RATELIMIT_STORAGE_URI=redis://" in printed.stderr


def test_check_config_leaves_a_running_servers_metrics_alone(tmp_path: Path) -> None:
    """`gunicorn --check-config` reads gunicorn.conf.py too: it emptied the metrics folder of the
    server running with the same environment (every counter gone from /metrics until its workers
    restarted), and made a folder of its own it never removed."""
    given, made = tmp_path / "given", tmp_path / "tmp"
    given.mkdir(), made.mkdir()
    with probe_server(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(given)):
        counted = given / "counter_4242.db"  # as a worker's values are kept
        counted.write_bytes(b"values")
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(given), "WEBCALL_METRICS_DIR_READY": ""}
        argv = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--check-config",
                "tests.support.gc_probe:app"]  # fmt: skip
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=60, check=True)
        assert counted.read_bytes() == b"values"
        env |= {"PROMETHEUS_MULTIPROC_DIR": "", "TMPDIR": str(made)}
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=60, check=True)
        assert list(made.iterdir()) == []


def test_a_new_master_after_usr2_leaves_the_old_workers_metrics_alone(tmp_path: Path) -> None:
    """USR2 starts a new master beside the old one (an upgrade without dropping a connection):
    it emptied the metrics folder the old master's workers still write in (their counts gone,
    their next ones written to deleted files). gunicorn starts it with the environment the old
    one started with, so the old one's note that the folder was ready never reached it."""
    given, pidfile, port = tmp_path / "metrics", tmp_path / "gunicorn.pid", free_port()  # (USR2 needs one)
    given.mkdir()
    log = tmp_path / "gunicorn.log"
    # The console script, as the Procfile runs it: `python -m gunicorn` is re-executed as
    # `python …/gunicorn/__main__.py`, whose folder's `http` package hides the standard library's.
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--config", "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--pid", str(pidfile), "tests.support.gc_probe:app"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("w"),
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(given), "WEBCALL_METRICS_DIR_READY": ""},
    )  # fmt: skip
    new_master = 0
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/").status_code == 200,
                   timeout_s=20, what="gunicorn to answer")  # fmt: skip
        counted = given / "counter_4242.db"  # as a worker's values are kept
        counted.write_bytes(b"values")
        server.send_signal(signal.SIGUSR2)
        wait_until(lambda: log.read_text().count("Booting worker") >= 2, timeout_s=30,
                   what="the new master's worker")  # after its when_ready  # fmt: skip
        masters = [int(pid) for pid in re.findall(r"Listening at: \S+ \((\d+)\)", log.read_text())]
        new_master = masters[-1]
        assert len(masters) == 2 and new_master != server.pid, masters
        assert counted.read_bytes() == b"values", log.read_text()[-2000:]
    finally:
        server.terminate()
        server.wait(20)
        if new_master:  # not our child; once its worker answers (one starting waits out a signal)
            with contextlib.suppress(RuntimeError):
                wait_until(lambda: answers(port), timeout_s=20, what="the new master's worker")
            os.kill(new_master, signal.SIGQUIT)
            wait_until(lambda: not pid_alive(new_master), timeout_s=20, what="the new master to quit")


def answers(port: int) -> bool:
    """Whether something answers HTTP on ``port``."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` is still there."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_reload_reads_dotenv_again(tmp_path: Path) -> None:
    """A token rotated in .env is the only one taken once gunicorn is reloaded (SIGHUP): the
    old value, which gunicorn.conf.py had exported on start, kept working, as the environment
    wins over .env."""
    agents = tmp_path / "agents.toml"
    agents.write_text('[agents.local]\nprovider = "livekit"\nagent_id = "webcall-demo"\n')
    old, new = "old-token-" + secrets.token_hex(12), "new-token-" + secrets.token_hex(12)
    settings = {
        "WEBCALL_AGENTS_FILE": str(agents),
        "WEBCALL_DATABASE_URL": f"sqlite:///{tmp_path / 'calls.db'}",
        **offline_livekit_env(),
    }
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    with dotenv.open("a") as file:
        file.write(f"WEBCALL_METRICS_TOKEN={old}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBCALL_", "LIVEKIT_"))}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"), "--pythonpath",
         str(ROOT), "--bind", f"127.0.0.1:{port}", "webapp:create_app()"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "gunicorn.log").open("w"),
    )  # fmt: skip

    def scraped_with(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers).status_code

    try:
        wait_until(lambda: scraped_with(old) == 200, timeout_s=30, what="gunicorn to serve")
        first_workers = workers_of(server.pid)
        dotenv.write_text(dotenv.read_text().replace(old, new))
        server.send_signal(signal.SIGHUP)
        wait_until(lambda: scraped_with(new) == 200, timeout_s=30, what="the reloaded workers")
        # gunicorn stops the old workers gracefully once the new ones run: until they are gone,
        # either may answer.
        wait_until(lambda: not workers_of(server.pid) & first_workers, timeout_s=30, what="the old workers")
        assert (scraped_with(old), scraped_with(new)) == (401, 200)
    finally:
        server.terminate()
        server.wait(20)


def workers_of(master: int) -> set[int]:
    """The process ids of a gunicorn master's workers (its children)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text()
    return {int(pid) for pid in children.split()}


def test_a_dotenv_that_is_not_utf8_is_named_in_one_line(tmp_path: Path) -> None:
    """A .env saved in Latin-1 stopped gunicorn with a traceback."""
    (tmp_path / ".env").write_bytes("WEBCALL_AGENT_TITLE=Caf\xe9\n".encode("latin-1"))
    printed = print_config(tmp_path, dict(os.environ))
    assert printed.returncode != 0
    assert printed.stderr.strip() == "webcall: .env is not UTF-8 text (byte 23): save it as UTF-8"


GRACE = [("", "", "20"), ("10", "60", "75"), ("2.5", "0.5", "20"), ("x", "inf", "20")]


@pytest.mark.parametrize(("connect", "read", "grace"), GRACE)
def test_a_stop_waits_as_long_as_a_provider_may(tmp_path: Path, connect: str, read: str, grace: str) -> None:
    """graceful_timeout was 20 s whatever WEBCALL_READ_TIMEOUT_S allowed a provider (up to an hour):
    a deploy cut off calls still waiting on a slower one."""
    env = {**os.environ, "WEBCALL_CONNECT_TIMEOUT_S": connect, "WEBCALL_READ_TIMEOUT_S": read}
    printed = print_config(tmp_path, env)
    assert re.search(rf"^graceful_timeout\s+= {grace}$", printed.stdout, re.MULTILINE), printed.stdout
