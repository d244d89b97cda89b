"""Log lines: one JSON object per line on stderr (gunicorn collects them), never a secret.

Every line written while serving a request carries its ``request_id``. ``WEBCALL_LOG_FORMAT=text``
gives plain lines for a terminal (``scripts/demo`` uses it). Webhook URLs carry a secret in
their path (``/webhooks/<provider>/<token>``), and request paths reach logs from several
places (gunicorn's access and error logs, werkzeug's development server, our own error
handler): :class:`MaskSecretPaths` masks them in every line, however many slashes surround the
provider's name (werkzeug answers ``/webhooks//ravan/<token>`` with a redirect, and that request
is logged too), and the token itself wherever it shows when the logger is given it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from pythonjsonlogger.orjson import OrjsonFormatter

from ..tracing import current_request_id

JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
TEXT_LINE = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What every record has (and what formatting adds): anything else came as a line's `extra` fields.
RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
RENAMED = {"levelname": "level", "name": "logger"}
SECRET_PATH = re.compile(r"(/webhooks/+[^/\s?#\"']+/+)[^/\s?#\"']+")  # any run of slashes
# A demo link's token in a query (``/demo/sales?t=…``): gunicorn's own "Error handling request"
# line quotes the whole URI, and the token places calls for whoever reads it.
LINK_TOKEN = re.compile(r"([?&]t=)[^&\s#\"']+")
# A text line's message and fields with their control characters written out (C0, DEL, C1, and
# Unicode's line and paragraph separators, which Python's splitlines() breaks on): a webhook's
# event or a call id holding a line break would otherwise print a whole forged line of its own.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def mask_secret_paths(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the secret segment of every webhook path, a demo link's token in a query, and
    each of ``secrets`` wherever it appears, replaced by ``***``."""
    if "/webhooks/" in text:
        text = SECRET_PATH.sub(r"\1***", text)
    if "t=" in text:
        text = LINK_TOKEN.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class MaskSecretPaths(logging.Filter):
    """Rewrites a record whose message holds a webhook path (or one of ``secrets``), so no handler
    prints the secret."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the formatted message (and drop the arguments that held the path)."""
        message = record.getMessage()
        masked = mask_secret_paths(message, self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_in(*loggers: logging.Logger, secrets: Iterable[str] = ()) -> None:
    """Mask webhook secrets (and ``secrets``) in everything ``loggers`` and their handlers emit
    (once each)."""
    secrets = tuple(secrets)
    for logger in loggers:
        for target in (logger, *logger.handlers):
            if not any(isinstance(f, MaskSecretPaths) for f in target.filters):
                target.addFilter(MaskSecretPaths(secrets))


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to each record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate, never drop."""
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class TextFormatter(logging.Formatter):
    """A plain line for a terminal, then the fields the line was given as ``key=value``: what a
    JSON line carries (the code a call was refused with, its request id), where a reader looks."""

    def __init__(self) -> None:
        super().__init__(TEXT_LINE)

    def formatMessage(self, record: logging.LogRecord) -> str:
        """TEXT_LINE, then the record's own fields (a traceback, if any, comes after them)."""
        fields = [
            f"{name}={text_value(value)}"
            for name, value in record.__dict__.items()
            if name not in RECORD_ATTRIBUTES and value is not None
        ]
        return " ".join([escaped(super().formatMessage(record)), *fields])


def text_value(value: object) -> str:
    """A field's value as a text line shows it: quoted when empty or holding a space (``repr``
    writes out its control characters), else with them written out, on one line either way."""
    text = str(value)
    return repr(text) if not text or " " in text else escaped(text)


def escaped(text: str) -> str:
    """``text`` on one line: each control character written out (``\\n``, ``\\r``, ``\\t``,
    ``\\x1b``, ``\\u2028``), everything else (non-ASCII letters included) as it is."""
    if not CONTROL.search(text):
        return text
    return CONTROL.sub(lambda match: repr(match[0])[1:-1], text)  # repr's own spelling of each


def json_formatter() -> logging.Formatter:
    """The JSON formatter every line goes through (the access log too, see gunicorn_logging).

    orjson's: 13 us a line instead of the standard library encoder's 21 us, the same fields."""
    return OrjsonFormatter(JSON_FIELDS, rename_fields=RENAMED, timestamp="time")


def configure_logging(level: str, log_format: str = "json") -> None:
    """One line per event on stderr; never reconfigure a host's logging (tests, embedding apps)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        if log_format == "json":
            handler.setFormatter(json_formatter())
        else:
            handler.setFormatter(TextFormatter())
        root.addHandler(handler)
        root.setLevel(level)
    for existing in root.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in existing.filters):
            existing.addFilter(RequestIdFilter())
    logging.getLogger("webapp").setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full URLs
    # Root's handlers see every record that propagates; werkzeug (flask run) logs each request line.
    mask_in(root, logging.getLogger("werkzeug"))
