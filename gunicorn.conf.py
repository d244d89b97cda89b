"""Production gunicorn settings (read by the Procfile). Every value can be overridden by env."""

import multiprocessing
import os

bind = os.environ.get("WEBCALL_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# Provider calls wait on the network: threads keep a slow provider from starving the server.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count())))
threads = int(os.environ.get("WEBCALL_THREADS", "32"))
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
