"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and serving requests."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """The configuration is valid and every agent's provider is set up."""
    webcall = current_app.extensions["webcall"]
    missing = sorted({a.provider for a in webcall.settings.agents.values()} - set(webcall.providers))
    checks = {"config": "ok", "providers": "ok" if not missing else f"missing: {', '.join(missing)}"}
    ready = not missing
    return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503
