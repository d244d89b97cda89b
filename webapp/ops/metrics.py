"""``GET /metrics``: Prometheus' text format, for a scraper holding ``WEBCALL_METRICS_TOKEN``.

Off unless the token is set (the numbers name agents and say how busy the service is).
Under gunicorn with several workers each one writes its values to ``PROMETHEUS_MULTIPROC_DIR``
and any worker answers for all of them. ``webcall_calls_in_progress`` (and, with events on,
``webcall_events_pending``) is read from the call log at each scrape, so it counts every
worker's and every host's calls.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..errors import MetricsTokenRequired
from ..history.store import CallLogError, now
from ..settings import Settings, same_secret
from ..state import app_state

bp = Blueprint("metrics", __name__)
# The call log's reads in a scrape give up after this long, rather than hold the whole scrape (and
# every other metric with it) for the database's 10 s, past a scraper's usual 10 s timeout.
SCRAPE_READ_S = 2.0


@bp.get("/metrics")
def metrics() -> Response:
    """Every metric of every worker."""
    token = app_state().settings.metrics_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    expected = token.get_secret_value() if token else ""
    matches = same_secret(given.strip(), expected)
    if not expected or scheme.lower() != "bearer" or not matches:
        raise MetricsTokenRequired()
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    response = Response(generate_latest(registry) + generate_latest(LIVE), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


class LiveCalls(Collector):
    """Calls under way (created or started, not ended), as the admin view counts them; with
    events on, those waiting to be sent."""

    def collect(self) -> Iterator[Metric]:
        """The counts, or no sample while the call log cannot say in time (rather than a wrong 0;
        once it could not, the events' counts are not asked for, so a scrape waits once at most)."""
        state = app_state()
        try:
            count = state.history.count_live(within_s=SCRAPE_READ_S)
        except CallLogError:
            return
        yield GaugeMetricFamily(
            "webcall_calls_in_progress",
            "Calls under way: created or started, not ended (the call log).",
            count,
        )
        if not state.settings.events_url:
            return
        try:
            pending, oldest = state.history.pending_events(within_s=SCRAPE_READ_S)
        except CallLogError:
            return
        yield GaugeMetricFamily(
            "webcall_events_pending",
            "Events waiting to be sent to WEBCALL_EVENTS_URL: due, or failed and to be tried again.",
            pending,
        )
        age_s = (now() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "webcall_events_oldest_pending_seconds",
            "How long ago the oldest event still waiting happened (0: none waits).",
            max(0.0, age_s),
        )


# Apart from the workers' registry: read from the call log, it is the same whichever answers.
LIVE = CollectorRegistry(auto_describe=False)
LIVE.register(LiveCalls())


def init_app(app: Flask, settings: Settings) -> None:
    """Serve /metrics only when a token is configured."""
    if settings.metrics_token is not None:
        app.register_blueprint(bp)
