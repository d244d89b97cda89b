"""Production gunicorn settings (read by the Procfile). Every value can be overridden by env."""

import multiprocessing
import os

bind = os.environ.get("WEBCALL_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# Provider calls wait on the network: threads keep a slow provider from starving the server.
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
access_log_format = '%(h)s %(p)s "%(r)s" %(s)s %(b)s %(M)sms'  # %(p)s is <pid>: which worker answered
errorlog = "-"
# Webhook URLs carry a secret in their path: this logger masks it in the access and error logs.
logger_class = "webapp.ops.access_log.AccessLogger"
