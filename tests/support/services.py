"""Real services from Debian packages, started by the tests themselves on loopback."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import redis

from webapp.history.store import CallStore

from .processes import Process, free_port, start, wait_until


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server on a free loopback port, without persistence; its process and URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is needed: run scripts/bootstrap --test")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    wait_until(lambda: bool(client.ping()), timeout_s=10, what="redis-server")
    return process, f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the whole run."""
    process, url = start_redis(str(tmp_path_factory.mktemp("redis")))
    yield url
    process.terminate()
    process.wait(10)


def self_signed_certificate(
    folder: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> tuple[Path, Path]:
    """A throwaway TLS certificate and key for ``hosts`` (openssl), valid for a day."""
    cert, key = folder / "tls.crt", folder / "tls.key"
    names = ",".join(f"IP:{h}" if h.replace(".", "").isdigit() else f"DNS:{h}" for h in hosts)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=webcall-test", "-addext", f"subjectAltName={names}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def start_nginx(folder: Path, servers: str, log_dir: Path) -> Process:
    """Debian's nginx in the foreground with ``servers`` (server blocks) as its whole http config.

    Everything it writes (pid, logs, temp files) stays in ``folder``; nothing of the system
    nginx is used but its binary and mime types.
    """
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is needed: run scripts/bootstrap --test")
    temp = {kind: folder / kind for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    for log in log_dir.glob("nginx-*.log"):  # nginx appends: a run's tests read its own lines only
        log.unlink()
    config = folder / "nginx.conf"
    config.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # workers must read the test's private files
        + f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {log_dir}/nginx-error.log info;\n"
        "events { worker_connections 1024; }\n"
        "http {\n  include /etc/nginx/mime.types;\n"
        f"  access_log {log_dir}/nginx-access.log;\n"
        + "".join(f"  {kind}_temp_path {path};\n" for kind, path in temp.items())
        + servers
        + "\n}\n"
    )
    process = start("nginx", [binary, "-p", str(folder), "-c", str(config), "-g", "daemon off;"], env={},
                    log_dir=log_dir)  # fmt: skip
    wait_until(lambda: (folder / "nginx.pid").exists(), timeout_s=10, what="nginx to start", process=process)
    return process


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster: its server process, folder and superuser URL."""

    process: subprocess.Popen[bytes]
    folder: Path
    port: int
    user: str = "webcall"
    migrated_template: str | None = field(default=None, init=False)  # see create_database

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL for ``database`` (trust authentication on loopback)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, *, migrated: bool = False) -> str:
        """A new database, its URL: empty, or with the call log's tables at the latest revision
        (copied from a database migrated once a run: migrating takes 170 ms, copying no longer
        than creating)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{self._migrated_template()}"' if migrated else ""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"{template}')
        return self.url(name)

    def _migrated_template(self) -> str:
        """The database ``create_database(migrated=True)`` copies (nobody connects to it after)."""
        if self.migrated_template is None:
            url = self.create_database()
            store = CallStore(url)
            store.migrate()
            store.close()
            self.migrated_template = url.rsplit("/", 1)[1]
        return self.migrated_template

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the cluster."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)


def postgres_binaries() -> Path:
    """The newest Debian PostgreSQL's bin folder (``postgresql`` package)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is needed for the storage tests: run scripts/bootstrap --test")
    return Path(found[-1]).parent


def start_postgres(*, durable: bool = False) -> PostgresServer:
    """``initdb`` into a temporary folder and run ``postgres`` on a free loopback port.

    PostgreSQL refuses to run as root: as root, the cluster belongs to the ``postgres``
    user the Debian package creates, and the server runs as that user (``setpriv`` execs
    it, so the process we hold is the server itself). Unless ``durable`` (benchmarks: a
    commit waits for the disk, as in production), durability is off: these databases live
    for one test run.
    """
    binaries = postgres_binaries()
    folder = Path(tempfile.mkdtemp(prefix="webcall-pg-"))
    become: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres", group="postgres")
        become = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
    data = folder / "data"
    subprocess.run(
        [*become, str(binaries / "initdb"), "-D", str(data), "-U", "webcall", "-A", "trust", "-E", "UTF8",
         "--no-sync", "--locale=C.UTF-8"],
        check=True, capture_output=True, cwd=folder,
    )  # fmt: skip
    port = free_port()
    argv = [
        *become, str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
        "-k", str(folder), "-c", "max_connections=200",
    ]  # fmt: skip
    if not durable:
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    log = open(folder / "postgres.log", "wb")  # noqa: SIM115 - the server owns it until it exits
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    server = PostgresServer(process, folder, port)

    def accepting() -> bool:
        try:
            with psycopg.connect(server.url(), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    try:
        wait_until(accepting, timeout_s=30, what="postgres to accept connections")
    except RuntimeError:
        print((folder / "postgres.log").read_text(errors="replace")[-3000:])
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole run."""
    server = start_postgres()
    yield server
    server.stop()
