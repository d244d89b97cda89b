"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import httpx
from flask import Blueprint, Response, current_app, jsonify

bp = Blueprint("health", __name__)
PROBE_DEADLINE_S = 2.0
CACHE_S = 5.0  # /readyz is public: probe the providers at most this often per process
_CACHE_KEY = "webcall.readyz"
_cache_lock = threading.Lock()


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and serving requests."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Configuration valid, every agent's provider reachable in time and not failing fast."""
    webcall = current_app.extensions["webcall"]
    checks: dict[str, str] = {"config": "ok", **_provider_checks(webcall)}
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503


def _provider_checks(webcall: Any) -> dict[str, str]:
    """``ok``, ``unreachable``, ``circuit_open`` or ``not_configured`` per provider in use (cached)."""
    with _cache_lock:
        cached = current_app.extensions.get(_CACHE_KEY)
        if cached and time.monotonic() - cached[0] < CACHE_S:
            return dict(cached[1])
    used = sorted({agent.provider for agent in webcall.settings.agents.values()})
    checks = {name: "not_configured" for name in used if name not in webcall.providers}
    pool = ThreadPoolExecutor(max_workers=max(1, len(used)))
    futures = {
        name: pool.submit(_reachable, webcall.http, webcall.settings.providers[name].base_url, name)
        for name in used
        if name in webcall.providers
    }
    wait(futures.values(), timeout=PROBE_DEADLINE_S)
    pool.shutdown(wait=False, cancel_futures=True)
    for name, future in futures.items():
        breaker = getattr(getattr(webcall.providers[name], "transport", None), "breaker", None)
        if breaker is not None and breaker.state == "open":
            checks[name] = "circuit_open"
        elif future.done() and future.result():
            checks[name] = "ok"
        else:
            checks[name] = "unreachable"
    result = {f"provider:{name}": value for name, value in checks.items()}
    with _cache_lock:
        current_app.extensions[_CACHE_KEY] = (time.monotonic(), result)
    return result


def _reachable(client: httpx.Client, base_url: str, provider: str) -> bool:
    """Any HTTP answer means a hosted provider is reachable; LiveKit must answer 200 on ``/``."""
    try:
        response = client.get(base_url + "/", timeout=PROBE_DEADLINE_S)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 if provider == "livekit" else True
