"""Production gunicorn settings (read by the Procfile). Every value can be overridden by env."""

import glob
import multiprocessing
import os
import tempfile

bind = os.environ.get("WEBCALL_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# Provider calls wait on the network: threads keep a slow provider from starving the server.
# 64 threads, measured against 256 threads and gevent in a burst of 200 calls to a 300 ms
# provider (bench/README.md): 64 threads finished every run's burst in 1.3-1.5 s (four
# waves); 256 threads took anywhere from 0.64 to 2.6 s, as all of them fought over the one
# GIL for 2.9-11.8 ms of CPU per call; gevent 0.7-1.5 s, and it monkey-patches everything
# the app runs (psycopg, SQLAlchemy, redis, httpx, prometheus_client) and is not yet proven
# by the test suite under it. Predictable beats sometimes faster until one of them is both.
worker_class = "gthread"
# Rate limits, budgets and idempotent replays are counted in one place: in memory that is one
# process, so several workers need WEBCALL_RATELIMIT_STORAGE_URI=redis://… (see README).
_shared_storage = os.environ.get("WEBCALL_RATELIMIT_STORAGE_URI", "memory://").startswith("redis")
_default_workers = min(4, multiprocessing.cpu_count()) if _shared_storage else 1
workers = int(os.environ.get("WEB_CONCURRENCY", _default_workers))
threads = int(os.environ.get("WEBCALL_THREADS", "64"))
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
# One JSON object per line, the access log included (with the worker's pid and the request id).
logger_class = "webapp.ops.gunicorn_logging.JsonLogger"

# Prometheus metrics from every worker: each writes its values here, /metrics adds them up.
# Emptied once per server start (a reload keeps counting): stale files would count forever.
if not os.environ.get("WEBCALL_METRICS_DIR_READY"):
    _metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="webcall-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
    os.makedirs(_metrics_dir, exist_ok=True)
    for _stale in glob.glob(os.path.join(_metrics_dir, "*.db")):
        os.remove(_stale)
    os.environ["WEBCALL_METRICS_DIR_READY"] = "1"


def child_exit(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """A worker is gone: its live gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
