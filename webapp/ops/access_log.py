"""gunicorn's logger with webhook secrets masked (``logger_class`` in gunicorn.conf.py).

gunicorn writes the request line (with its path) to the access log, and some failures'
paths to the error log: both go through :class:`~webapp.ops.logging.MaskSecretPaths`.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from .logging import mask_in


class AccessLogger(Logger):
    """gunicorn's own logger; its access and error lines never show a webhook's secret."""

    def setup(self, cfg: Any) -> None:
        """Set up gunicorn's handlers, then mask on both of its loggers."""
        super().setup(cfg)
        mask_in(self.error_log, self.access_log)
