"""A WSGI app that answers with its process's garbage-collector state, to test gunicorn.conf.py."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``frozen tracked``: objects in the permanent generation, and those the collector walks."""
    body = f"{gc.get_freeze_count()} {len(gc.get_objects())}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
