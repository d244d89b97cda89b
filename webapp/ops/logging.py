"""Log lines: one per event on stderr (gunicorn collects them), never a secret.

Webhook URLs carry a secret in their path (``/webhooks/<provider>/<token>``), and request
paths reach logs from several places (gunicorn's access and error logs, werkzeug's development
server, our own error handler): :class:`MaskSecretPaths` masks them in every line.
"""

from __future__ import annotations

import logging
import re

SECRET_PATH = re.compile(r"(/webhooks/[^/\s?#\"']+/)[^/\s?#\"']+")


def mask_secret_paths(text: str) -> str:
    """``text`` with the secret segment of every webhook path replaced by ``***``."""
    return SECRET_PATH.sub(r"\1***", text) if "/webhooks/" in text else text


class MaskSecretPaths(logging.Filter):
    """Rewrites a record whose message holds a webhook path, so no handler prints the secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the formatted message (and drop the arguments that held the path)."""
        message = record.getMessage()
        masked = mask_secret_paths(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_in(*loggers: logging.Logger) -> None:
    """Mask webhook secrets in everything ``loggers`` and their handlers emit (once each)."""
    for logger in loggers:
        for target in (logger, *logger.handlers):
            if not any(isinstance(f, MaskSecretPaths) for f in target.filters):
                target.addFilter(MaskSecretPaths())


def configure_logging(level: str) -> None:
    """One-line logs; never reconfigure a host's logging (tests, embedding apps)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("webapp").setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full URLs
    # Root's handlers see every record that propagates; werkzeug (flask run) logs each request line.
    mask_in(root, logging.getLogger("werkzeug"))
