"""gunicorn's own lines as JSON too: the access log and the master's and workers' messages.

``gunicorn.conf.py`` names :class:`JsonLogger` as gunicorn's ``logger_class``. Access lines
carry the worker's pid and the request id the app answered with; paths are logged without
their query (demo-link tokens live there) and secret path segments (webhook tokens) are masked,
as is ``WEBCALL_WEBHOOK_TOKEN`` itself wherever a path carries it (gunicorn runs before the app's
settings exist, so it reads the variable as ``gunicorn.conf.py`` left it, ``.env`` included).
With ``WEBCALL_LOG_FORMAT=text`` (``scripts/demo``'s terminal) they are plain lines like the app's.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Sequence
from typing import Any

import orjson
from gunicorn.glogging import Logger

from .logging import TEXT_LINE, RequestIdFilter, json_formatter, mask_in, mask_secret_paths


def public_path(path: str, secrets: Sequence[str] = ()) -> str:
    """A request path fit for a log line: no query, no secret segment, none of ``secrets``."""
    return mask_secret_paths(path.split("?", 1)[0], secrets)


class JsonLogger(Logger):
    """gunicorn's logger, writing one JSON object per line (or, for a terminal, a text line)."""

    def setup(self, cfg: Any) -> None:
        """gunicorn's handlers, with our formatter (JSON, or text) on the error log."""
        super().setup(cfg)
        self.text = os.environ.get("WEBCALL_LOG_FORMAT") == "text"
        self.secrets = tuple(filter(None, [os.environ.get("WEBCALL_WEBHOOK_TOKEN", "").strip()]))
        for handler in self.error_log.handlers:
            handler.setFormatter(logging.Formatter(TEXT_LINE) if self.text else json_formatter())
            handler.addFilter(RequestIdFilter())
        for handler in self.access_log.handlers:
            handler.setFormatter(logging.Formatter(TEXT_LINE if self.text else "%(message)s"))
        mask_in(self.error_log, self.access_log, secrets=self.secrets)  # its messages can quote a path

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: datetime.timedelta) -> None:
        """One line per request."""
        if not self.access_log_enabled:
            return
        headers = {name.lower(): value for name, value in getattr(resp, "headers", [])}
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        line = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "remote": environ.get("REMOTE_ADDR", "-"),
            "pid": os.getpid(),
            "method": environ.get("REQUEST_METHOD"),
            "path": public_path(environ.get("RAW_URI") or environ.get("PATH_INFO") or "", self.secrets),
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "request_id": headers.get("x-request-id"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        if self.text:
            self.access_log.info(
                "%(method)s %(path)s %(status)s %(bytes)s B %(duration_ms)s ms (request %(request)s)",
                {**line, "request": line["request_id"] or "-"},
            )
        else:
            self.access_log.info(orjson.dumps(line).decode())
