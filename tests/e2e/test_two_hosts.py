"""Two hosts behind one nginx (round robin), sharing Redis and PostgreSQL, as the README lays out.

Each "host" is its own gunicorn on its own port; nothing ties them together but the
shared Redis (limits, budgets, idempotent replays) and the shared PostgreSQL (the call
log). nginx hands requests to them in turn, as it would to two machines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.apps import offline_livekit_env
from tests.support.logs import access_lines
from tests.support.processes import free_port
from tests.support.services import PostgresServer, start_nginx
from tests.support.stack import AppServer, start_app_server

pytestmark = pytest.mark.e2e
CAP = 5  # the agent's calls a minute: both hosts together may start exactly this many
ADMIN_TOKEN = "adm_" + "t" * 40
CATALOGUE = f"""
[agents.capped]
provider = "livekit"
agent_id = "webcall-demo"
calls_per_minute = {CAP}

[agents.open]
provider = "livekit"
agent_id = "webcall-demo"
"""


@pytest.fixture
def two_hosts(
    tmp_path: Path, redis_url: str, postgres: PostgresServer
) -> Iterator[tuple[str, list[AppServer]]]:
    """Two app processes sharing Redis and one PostgreSQL database, behind nginx round robin."""
    env = {
        **offline_livekit_env(),
        "WEBCALL_RATELIMIT_STORAGE_URI": redis_url,
        "WEBCALL_DATABASE_URL": postgres.create_database(),
        "WEBCALL_ADMIN_TOKEN": ADMIN_TOKEN,
        "WEBCALL_TRUSTED_PROXIES": "1",
        "WEBCALL_SECRET_KEY": "s" * 40,  # the same on every host (client references, demo links)
        "WEB_CONCURRENCY": "1",
    }
    hosts = [start_app_server(env, tmp_path / f"host-{n}", agents_toml=CATALOGUE) for n in (1, 2)]
    port = free_port()
    upstreams = "".join(f"    server {host.url.removeprefix('http://')};\n" for host in hosts)
    servers = (
        f"upstream webcall {{\n{upstreams}}}\n"
        f"server {{\n  listen 127.0.0.1:{port};\n  location / {{\n    proxy_pass http://webcall;\n"
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "    proxy_set_header X-Forwarded-Proto $scheme;\n    proxy_set_header Host $host;\n  }\n}\n"
    )
    nginx = start_nginx(tmp_path / "nginx", servers, tmp_path / "nginx-logs")
    yield f"http://127.0.0.1:{port}", hosts
    nginx.stop()
    for host in hosts:
        host.process.stop()


def served_by(hosts: list[AppServer], path: str) -> list[int]:
    """How many requests for ``path`` each host answered, from its own access log."""
    return [len(access_lines(host.process.log(), path)) for host in hosts]


def test_limits_replays_and_the_call_log_are_shared(two_hosts: tuple[str, list[AppServer]]) -> None:
    url, hosts = two_hosts
    with httpx.Client(base_url=url, timeout=10) as client:
        answers = [client.post("/api/calls", json={"agent": "capped"}) for _ in range(CAP + 4)]
        statuses = [a.status_code for a in answers]
        assert statuses.count(201) == CAP and set(statuses[CAP:]) == {429}  # exactly N, across both
        assert all(n > 0 for n in served_by(hosts, "/api/calls"))  # both hosts took calls

        before = served_by(hosts, "/api/calls")
        replays = [client.post("/api/calls", json={"agent": "open"}, headers={"Idempotency-Key": "k-1"})
                   for _ in range(4)]  # fmt: skip
        after = served_by(hosts, "/api/calls")
        assert all(b > a for a, b in zip(before, after, strict=True))  # both answered a replay
        assert {r.status_code for r in replays} == {201}
        assert len({r.json()["call_id"] for r in replays}) == 1  # one call, whichever host answered

        listing = client.get("/api/admin/calls", params={"page_size": 100},
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})  # fmt: skip
        assert listing.status_code == 200
        calls: list[dict[str, Any]] = listing.json()["calls"]
        created = {a.json()["call_id"] for a in answers if a.status_code == 201}
        created.add(replays[0].json()["call_id"])
        assert {c["provider_call_id"] for c in calls if c["outcome"] == "created"} == created
        assert sum(c["outcome"] == "agent_busy" for c in calls) == 4
        request_ids = {c["request_id"] for c in calls}
        assert {a.headers["X-Request-ID"] for a in answers} <= request_ids  # every host wrote its own
