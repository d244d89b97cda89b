"""Fixtures for every test: the artifacts folder and one fake per hosted provider.

The real pieces (LiveKit server, demo agent, gunicorn, Chromium) are in ``tests/e2e/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.fakes import (
    FakeServer,
    FakeState,
    create_convoi_app,
    create_elevenlabs_app,
    create_ravan_app,
    create_retell_app,
    create_unleashx_app,
    create_zudu_app,
)
from tests.support.apps import (
    FAKE_AGENT_IDS,
    FAKE_KEYS,
    OfflineLiveKit,
    build_app,
    fake_state,
    migrated_sqlite_call_log,
    provider_env,
)
from tests.support.processes import ROOT
from tests.support.services import postgres, redis_url  # noqa: F401  (fixtures for every test)

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where logs, screenshots and generated audio go (kept after the run for reviewers)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty call-log database: an SQLite file, then a database on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'calls.db'}"
    return str(request.getfixturevalue("postgres").create_database())


@pytest.fixture(params=["sqlite", "postgresql"])
def call_log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A call log at the latest revision with no calls in it: SQLite, then PostgreSQL (copies
    of one migrated once a run; tests/history/test_migrations.py migrates ``database_url``)."""
    if request.param == "sqlite":
        (tmp_path / "calls.db").write_bytes(migrated_sqlite_call_log())
        return f"sqlite:///{tmp_path / 'calls.db'}"
    return str(request.getfixturevalue("postgres").create_database(migrated=True))


def _provider_fixture(kind: str, create: Any, **state_fields: Any) -> Any:
    """Build a function-scoped fixture for one fake provider: ``(server, state)``, fresh per test."""

    @pytest.fixture
    def fixture() -> Iterator[tuple[FakeServer, FakeState]]:
        state = fake_state(OfflineLiveKit(), **state_fields)  # type: ignore[arg-type]
        server = FakeServer(create(state))
        server.start()
        yield server, state
        server.stop()

    fixture.__name__ = kind
    return fixture


ravan = _provider_fixture(
    "ravan", create_ravan_app, api_key=FAKE_KEYS["ravan"], agents={FAKE_AGENT_IDS["ravan"]: {}}
)
zudu = _provider_fixture(
    "zudu",
    create_zudu_app,
    api_key=FAKE_KEYS["zudu"],
    api_secret=FAKE_KEYS["zudu_secret"],
    agents={FAKE_AGENT_IDS["zudu"]: {}},
)
convoi = _provider_fixture(
    "convoi", create_convoi_app, api_key=FAKE_KEYS["convoi"], agents={FAKE_AGENT_IDS["convoi"]: {}}
)
retell = _provider_fixture(
    "retell", create_retell_app, api_key=FAKE_KEYS["retell"], agents={FAKE_AGENT_IDS["retell"]: {}}
)
elevenlabs = _provider_fixture(
    "elevenlabs",
    create_elevenlabs_app,
    api_key=FAKE_KEYS["elevenlabs"],
    agents={FAKE_AGENT_IDS["elevenlabs"]: {}},
)
unleashx = _provider_fixture(
    "unleashx",
    create_unleashx_app,
    api_key=FAKE_KEYS["unleashx"],
    agents={101: {"active": True, "agent_type": 3, "calling_type": 1}},
)


@pytest.fixture
def make_app(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    ravan: Any,
    zudu: Any,
    convoi: Any,
    retell: Any,
    elevenlabs: Any,
) -> Any:
    """Build the app in process from the test module's ``CATALOGUE``, against this test's fakes.

    Keyword arguments override settings (environment variable names).
    """
    catalogue = request.module.CATALOGUE.format(**FAKE_AGENT_IDS)

    def build(**env: str) -> Flask:
        urls = {"retell_url": retell[0].url, "elevenlabs_url": elevenlabs[0].url}
        defaults = {
            **provider_env(ravan[0].url, zudu[0].url, convoi[0].url, **urls),
            # Long enough for a fake on a busy 2-core CI machine (a 1 s read once timed out
            # there); the tests of timeouts set their own.
            "WEBCALL_READ_TIMEOUT_S": "5",
            "WEBCALL_CONNECT_TIMEOUT_S": "1",
            "WEBCALL_RATE_LIMITS": "1000/minute",
        }
        return build_app(tmp_path, catalogue, **{**defaults, **env})

    return build
