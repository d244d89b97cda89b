"""Log lines: one per event on stderr (gunicorn collects them), never a secret."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    """One-line logs; never reconfigure a host's logging (tests, embedding apps)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("webapp").setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full URLs
