"""What the service counts, for Prometheus: defined once here, recorded where things happen.

A leaf like the error tree (it imports nothing of ours), so any layer may record. Under
gunicorn with several workers the values live in ``PROMETHEUS_MULTIPROC_DIR`` (set up by
``gunicorn.conf.py``) and ``/metrics`` adds every worker's up; in one process they are plain
in-memory metrics. Labels are bounded: agent slugs come from the catalogue, codes from the
error tree, providers from the registry.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No ``*_created`` timestamp series beside each counter: in one process they read like counts
# ("webcall_calls_created") and under gunicorn's multiprocess mode they do not exist at all.
disable_created_metrics()

CALLS = Counter(
    "webcall_calls",
    "Calls asked for through webcall, by agent, provider, channel (web, phone) and outcome "
    "(created, or failed with the error code).",
    ["agent", "provider", "channel", "outcome", "code"],
)
FEEDBACK = Counter(
    "webcall_call_feedback",
    "Callers' ratings of their web calls (on agents that ask), by agent and rating (good, bad): "
    "one a call, and one more each time a caller changes their mind.",
    ["agent", "rating"],
)
PROVIDER_SECONDS = Histogram(
    "webcall_provider_request_seconds",
    "How long each provider took, by operation and outcome: a request with all its attempts "
    "(self-hosted LiveKit: the token minted in process).",
    ["provider", "operation", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0),
)
LIMIT_REFUSALS = Counter(
    "webcall_limit_refusals",
    "Requests refused by a limit, by kind (rate_limited, agent_busy, daily_budget_exhausted, ...).",
    ["kind"],
)
CREATES_IN_PROGRESS = Gauge(
    "webcall_call_creates_in_progress",
    "Calls being created right now (waiting on the guards or the provider).",
    ["channel"],
    multiprocess_mode="livesum",
)
WEBHOOKS = Counter(
    "webcall_webhooks", "Provider webhooks received, by provider and outcome.", ["provider", "outcome"]
)
EVENTS = Counter(
    "webcall_events",
    "Attempts to send events to WEBCALL_EVENTS_URL, by type (call.created, call.started, call.ended, "
    "call.rated, demo_link.opened) "
    "and outcome (sent; failed, to be tried again; given_up, after the last attempt).",
    ["type", "outcome"],
)
HISTORY_SYNC = Counter(
    "webcall_history_sync_calls",
    "Calls read from providers' history by the sync, by provider and outcome.",
    ["provider", "outcome"],
)
