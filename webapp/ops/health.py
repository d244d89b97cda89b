"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Literal

from flask import Blueprint, Response, current_app, jsonify
from pydantic import BaseModel, ConfigDict, Field

from ..state import AppState, app_state

bp = Blueprint("health", __name__)
PROBE_DEADLINE_S = 2.0
CACHE_S = 5.0  # /readyz is public: probe the providers at most this often per process
Check = Literal["ok", "unreachable", "circuit_open", "not_configured"]


class Alive(BaseModel):
    """``GET /healthz``."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"]


class Readiness(BaseModel):
    """``GET /readyz``: ready, or not and why."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, Check] = Field(
        description="`config`, and `provider:<name>` for each provider an agent uses."
    )


class _Cache:
    """The last probe's reachability, per app (a lock, so concurrent probes don't pile up)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at = 0.0
        self.reachable: dict[str, bool] = {}


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and serving requests."""
    return jsonify(Alive(status="ok").model_dump())


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Configuration valid, every agent's provider reachable in time and not failing fast."""
    checks: dict[str, Check] = {"config": "ok", **provider_checks(app_state())}
    ready = all(value == "ok" for value in checks.values())
    answer = Readiness(status="ready" if ready else "not_ready", checks=checks)
    return jsonify(answer.model_dump()), 200 if ready else 503


def provider_checks(state: AppState) -> dict[str, Check]:
    """``provider:<name>`` → ``ok``, ``unreachable``, ``circuit_open`` or ``not_configured``.

    Only the network probe is cached: a circuit that opened since is reported at once (it is
    what tells a load balancer to stop sending calls this process would refuse anyway).
    """
    used = sorted({agent.provider for agent in state.settings.agents.values()})
    reachable = _reachability(state, [name for name in used if name in state.providers])
    checks: dict[str, Check] = {}
    for name in used:
        adapter = state.providers.get(name)
        breaker = getattr(getattr(adapter, "transport", None), "breaker", None)
        if adapter is None:
            checks[name] = "not_configured"
        elif breaker is not None and breaker.state == "open":
            checks[name] = "circuit_open"
        else:
            checks[name] = "ok" if reachable.get(name) else "unreachable"
    return {f"provider:{name}": value for name, value in checks.items()}


def _reachability(state: AppState, names: list[str]) -> dict[str, bool]:
    """Whether each provider answered its probe (cached for ``CACHE_S``)."""
    cache = current_app.extensions.setdefault("webcall.readyz", _Cache())
    with cache.lock:
        if time.monotonic() - cache.at >= CACHE_S or set(names) - set(cache.reachable):
            cache.reachable = _probe(state, names)
            cache.at = time.monotonic()
        return dict(cache.reachable)


def _probe(state: AppState, names: list[str]) -> dict[str, bool]:
    """Probe each named provider, in parallel, within the deadline."""
    adapters = {name: state.providers[name] for name in names}
    pool = ThreadPoolExecutor(max_workers=max(1, len(adapters)))
    futures = {
        name: pool.submit(adapter.is_reachable, PROBE_DEADLINE_S) for name, adapter in adapters.items()
    }
    wait(futures.values(), timeout=PROBE_DEADLINE_S)
    pool.shutdown(wait=False, cancel_futures=True)
    return {
        name: bool(future.done() and not future.exception() and future.result())
        for name, future in futures.items()
    }
