"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from functools import partial
from typing import Literal

from flask import Blueprint, Response, current_app, jsonify
from pydantic import BaseModel, ConfigDict, Field

from ..state import AppState, app_state

bp = Blueprint("health", __name__)
PROBE_DEADLINE_S = 2.0
CACHE_S = 5.0  # /readyz is public: probe the providers (and Redis) at most this often per process
Check = Literal["ok", "unreachable", "circuit_open", "not_configured"]
STORAGE = "storage"  # the check of the limits' and replays' Redis


class Alive(BaseModel):
    """``GET /healthz``."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"]


class Readiness(BaseModel):
    """``GET /readyz``: ready, or not and why."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, Check] = Field(
        description="`config`, `storage` when limits and replays are kept in Redis, and `provider:<name>` "
        "for each provider an agent uses."
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
    return _no_store(jsonify(Alive(status="ok").model_dump()))


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Configuration valid, the limits' Redis answering, every agent's provider reachable in time
    and not failing fast."""
    state = app_state()
    checks: dict[str, Check] = {"config": "ok", **storage_checks(state), **provider_checks(state)}
    ready = all(value == "ok" for value in checks.values())
    answer = Readiness(status="ready" if ready else "not_ready", checks=checks)
    return _no_store(jsonify(answer.model_dump())), 200 if ready else 503


def _no_store(response: Response) -> Response:
    """A probe's answer is of its moment: no cache or CDN between it and the prober may keep it."""
    response.headers["Cache-Control"] = "no-store"
    return response


def storage_checks(state: AppState) -> dict[str, Check]:
    """``storage`` → ``ok`` or ``unreachable`` when limits and replays are kept in Redis (every
    call needs it: without it calls are refused); nothing for ``memory://``."""
    if not state.limits.shared:
        return {}
    return {STORAGE: "ok" if _reachability(state)[STORAGE] else "unreachable"}


def provider_checks(state: AppState) -> dict[str, Check]:
    """``provider:<name>`` → ``ok``, ``unreachable``, ``circuit_open`` or ``not_configured``.

    Only the network probe is cached: a circuit that opened since is reported at once (it is
    what tells a load balancer to stop sending calls this process would refuse anyway).
    """
    used = sorted({agent.provider for agent in state.settings.agents.values()})
    reachable = _reachability(state)
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


def _reachability(state: AppState) -> dict[str, bool]:
    """Whether each configured provider an agent uses, and the limits' Redis, answered its probe
    (probed together, cached for ``CACHE_S``)."""
    cache = current_app.extensions.setdefault("webcall.readyz", _Cache())
    with cache.lock:
        if time.monotonic() - cache.at >= CACHE_S or not cache.reachable:
            cache.reachable = _probe(_probes(state))
            cache.at = time.monotonic()
        return dict(cache.reachable)


def _probes(state: AppState) -> dict[str, Callable[[], bool]]:
    """What to ask over the network, by check: each provider an agent uses, and Redis if used."""
    used = {agent.provider for agent in state.settings.agents.values()}
    probes: dict[str, Callable[[], bool]] = {
        name: partial(adapter.is_reachable, PROBE_DEADLINE_S)
        for name, adapter in state.providers.items()
        if name in used
    }
    if state.limits.shared:
        probes[STORAGE] = state.limits.is_reachable
    return probes


def _probe(probes: dict[str, Callable[[], bool]]) -> dict[str, bool]:
    """Run each probe, in parallel, within the deadline."""
    pool = ThreadPoolExecutor(max_workers=max(1, len(probes)))
    futures = {name: pool.submit(probe) for name, probe in probes.items()}
    wait(futures.values(), timeout=PROBE_DEADLINE_S)
    pool.shutdown(wait=False, cancel_futures=True)
    return {
        name: bool(future.done() and not future.exception() and future.result())
        for name, future in futures.items()
    }
