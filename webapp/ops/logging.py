"""Log lines: one JSON object per line on stderr (gunicorn collects them), never a secret.

Every line written while serving a request carries its ``request_id``. ``WEBCALL_LOG_FORMAT=text``
gives plain lines for a terminal (``scripts/demo`` uses it).
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from ..tracing import current_request_id

JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
RENAMED = {"levelname": "level", "name": "logger"}


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to each record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate, never drop."""
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


def json_formatter() -> logging.Formatter:
    """The JSON formatter every line goes through (the access log too, see gunicorn_logging)."""
    return JsonFormatter(JSON_FIELDS, rename_fields=RENAMED, timestamp="time")


def configure_logging(level: str, log_format: str = "json") -> None:
    """One line per event on stderr; never reconfigure a host's logging (tests, embedding apps)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        if log_format == "json":
            handler.setFormatter(json_formatter())
        else:
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level)
    for existing in root.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in existing.filters):
            existing.addFilter(RequestIdFilter())
    logging.getLogger("webapp").setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full URLs
