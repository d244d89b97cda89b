"""Real services from Debian packages, started by the tests themselves on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

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
