"""Production gunicorn settings (read by the Procfile). Every value can be overridden by env."""

import glob
import math
import multiprocessing
import os
import sys
import tempfile

from dotenv import dotenv_values

DOTENV_KEYS = "WEBCALL_DOTENV_KEYS"  # what this file exported from .env, for the next reload


def _export_dotenv(path: str = ".env") -> None:
    """.env as the app reads it (webapp/settings.py): the real environment wins over it, but for
    a variable set empty there, which counts as unset (as it does for the app). Exported
    here too, so that what it says of gunicorn (workers, worker class, the log format) applies,
    and the workers inherit it.

    A reload (SIGHUP) reads this file again in the same process: what .env now says replaces what
    it said (a rotated token, a password removed to turn /admin off), which a plain export would
    have kept, as the environment it had exported would then have won over the file.
    """
    exported = set(filter(None, os.environ.get(DOTENV_KEYS, "").split(",")))
    try:
        values = dotenv_values(path, encoding="utf-8") if os.path.isfile(path) else {}
    except UnicodeDecodeError as error:
        sys.exit(f"webcall: {path} is not UTF-8 text (byte {error.start}): save it as UTF-8")
    for name in exported - values.keys():
        os.environ.pop(name, None)
    ours = set()
    for name, value in values.items():
        if value is not None and (name in exported or not os.environ.get(name)):
            os.environ[name] = value
            ours.add(name)
    os.environ[DOTENV_KEYS] = ",".join(sorted(ours))


_export_dotenv()


def _count(name: str, default: int) -> int:
    """A positive whole number from the variable ``name`` (unset or empty: ``default``); anything
    else stops gunicorn with one line, as the app's own settings do. (A ``WEB_CONCURRENCY`` that
    is not a number at all stops gunicorn before this file is read: its own default reads it.)"""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        sys.exit(f"webcall: {name} must be a whole number of at least 1, got {text!r}")
    return int(text)


bind = os.environ.get("WEBCALL_BIND", "").strip() or f"0.0.0.0:{os.environ.get('PORT', '').strip() or '8000'}"
# A call mostly waits on its provider: gevent's worker waits on any number of them in one
# thread (it patches the standard library as the worker starts, before the app is imported).
# Measured in a burst of 200 calls to a 300 ms provider (bench/README.md, latest run): gevent
# spent the least CPU per call (0.73 ms against 1.05-1.10 ms for threads) and finished in
# 1.37x the provider's latency (the provider fake alone: 1.24x); 64 threads need four waves
# (4.1x); 256 threads took 1.44x there and swung to 8.7x in other runs as they contended for
# the GIL.
# WEBCALL_WORKER_CLASS=gthread (with WEBCALL_THREADS threads) is the thread-per-call model.
worker_class = os.environ.get("WEBCALL_WORKER_CLASS", "gevent").strip() or "gevent"
if worker_class not in ("gevent", "gthread"):  # gunicorn's own answer to a typo is a traceback
    sys.exit(f"webcall: WEBCALL_WORKER_CLASS must be gevent or gthread, got {worker_class!r}")
worker_connections = _count("WEBCALL_WORKER_CONNECTIONS", 1000)
threads = _count("WEBCALL_THREADS", 64)
# Rate limits, budgets and idempotent replays are counted in one place: in memory that is one
# process, so several workers need WEBCALL_RATELIMIT_STORAGE_URI=redis://… (see README).
_shared_storage = os.environ.get("WEBCALL_RATELIMIT_STORAGE_URI", "memory://").startswith("redis")
_default_workers = min(4, multiprocessing.cpu_count()) if _shared_storage else 1
workers = _count("WEB_CONCURRENCY", _default_workers)
if workers > 1 and not _shared_storage:
    # Counted per process, every limit would be multiplied, a retry's Idempotency-Key could create
    # a second (billed) call in another process, and admin sign-ins would hold in one. A PaaS may
    # set WEB_CONCURRENCY itself (Heroku's Python buildpack does): one worker, and say so.
    print(
        f"webcall: WEB_CONCURRENCY={workers} ignored, 1 worker runs: limits, budgets and replays are "
        "counted in memory, per process; set WEBCALL_RATELIMIT_STORAGE_URI=redis://… for more",
        file=sys.stderr,
    )
    workers = 1


def _seconds(name: str, default: float) -> float:
    """Seconds from the variable ``name``; unset or unusable: ``default`` (the app refuses what is
    unusable with its own message)."""
    try:
        value = float(os.environ.get(name, "").strip() or default)
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


timeout = 30
# A stop or a deploy waits for the calls in flight: at least as long as a provider may take
# (the app's deadline: connect + read timeouts, 3 + 10 s by default), with a margin.
_provider_deadline_s = _seconds("WEBCALL_CONNECT_TIMEOUT_S", 3.0) + _seconds("WEBCALL_READ_TIMEOUT_S", 10.0)
graceful_timeout = max(20, math.ceil(_provider_deadline_s) + 5)
keepalive = 5
# Forwarded headers are the app's to believe (WEBCALL_TRUSTED_PROXIES): gunicorn's own default
# took X-Forwarded-Proto from 127.0.0.1, so a local proxy with none of webcall's settings made
# calls work while every visitor counted as the proxy's address (one allowance for all).
forwarded_allow_ips = ""
# gunicorn's control socket (gunicornc: worker status, scaling, reloads) is off unless given a
# path of its own: its default, $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl, is one
# path for every gunicorn of the user, so a second server took the first's socket and the first
# to stop deleted the other's.
if os.environ.get("WEBCALL_CONTROL_SOCKET"):
    control_socket = os.environ["WEBCALL_CONTROL_SOCKET"]  # mode 0600: its owner only
else:
    control_socket_disable = True
accesslog = "-"
errorlog = "-"
# One JSON object per line, the access log included (with the worker's pid and the request id).
logger_class = "webapp.ops.gunicorn_logging.JsonLogger"


def when_ready(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """The server has its port and forks its workers next: their Prometheus metrics go to one
    folder (each writes its values there, /metrics adds them up), emptied once per server start
    (a reload keeps counting): stale files would count forever.

    Here, not as this file is read: `gunicorn --check-config` (or a second start that cannot
    bind) read it too, and emptied the running server's folder under its workers."""
    if os.environ.get("WEBCALL_METRICS_DIR_READY"):
        return  # a reload (SIGHUP): the folder is this server's already
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not metrics_dir:
        metrics_dir = tempfile.mkdtemp(prefix="webcall-metrics-")
        os.environ["WEBCALL_METRICS_DIR_MADE"] = "1"  # ours to remove when the server stops
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.makedirs(metrics_dir, exist_ok=True)
    # A new master after USR2 is started with the environment the old one started with, and
    # GUNICORN_PID (gunicorn's reexec): the old master's workers still write in this folder.
    if not os.environ.get("GUNICORN_PID"):
        for stale in glob.glob(os.path.join(metrics_dir, "*.db")):
            os.remove(stale)
    os.environ["WEBCALL_METRICS_DIR_READY"] = "1"


def post_fork(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """In a new worker, before the app loads: one that replaces another (a worker that died, a
    reload's) is no first start. A configuration or call log it cannot use then makes it exit 1
    after a pause, for the master to start another (until the database is back, or a reload reads
    a mended .env), not with the "can never boot" status (3) that stops the whole server: a
    database restarting as a worker was replaced stopped the server for good (webapp/app.py)."""
    if worker.age > server.num_workers:
        os.environ["WEBCALL_WORKER_REPLACES"] = "1"


def post_worker_init(worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """The app is loaded: what it holds now lives as long as the worker, so the garbage collector
    stops walking it (gc.freeze). A full collection walked all of it (about 155,000 objects,
    25,000 once frozen) and held the worker for 75-90 ms, calls in flight included. In bursts
    of 200 calls (bench/README.md; 5 runs frozen, 11 not, interleaved): 1.25 against 1.40 ms
    of worker CPU per call and a p99 of 589 against 614 ms, medians. New objects are
    collected as before.

    Requests gunicorn itself refuses (not HTTP, over its limits) are answered in the API's JSON
    from now on, not as its HTML page (webapp.ops.gunicorn_errors)."""
    import gc

    from webapp.ops import gunicorn_errors

    gunicorn_errors.install()
    gc.collect()  # start-up's own garbage is not kept forever
    gc.freeze()


def worker_exit(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """The worker is about to exit: logging gets the standard library's own lock back.

    gevent's patching swapped logging's module lock for one that asks gevent which greenlet is
    running. After the interpreter has torn gevent's modules down, logging's last clean-up (a
    weak-reference callback per handler) still takes that lock, found None where gevent's
    function was and printed a traceback, not a JSON line, on every worker's exit: Ctrl-C in
    scripts/demo, every deploy (gevent issue #2148, open)."""
    import logging

    from gevent.monkey import get_original, is_module_patched

    if is_module_patched("threading"):
        logging._lock = get_original("_thread", "RLock")()  # type: ignore[attr-defined]


def on_exit(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """The server stops: a metrics folder it made for itself goes with it (one per start, in /tmp)."""
    if os.environ.get("WEBCALL_METRICS_DIR_MADE"):
        import shutil

        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def child_exit(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """A worker is gone: its live gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
