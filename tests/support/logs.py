"""Reading the app's log: one JSON object per line (gunicorn's access lines included)."""

from __future__ import annotations

import json
from typing import Any


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line that is a JSON object (others, from other programs sharing the file, are skipped)."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def access_lines(text: str, path: str | None = None) -> list[dict[str, Any]]:
    """gunicorn's access lines (only those for ``path`` when given)."""
    return [
        line for line in json_lines(text)
        if line.get("logger") == "gunicorn.access" and (path is None or line.get("path") == path)
    ]  # fmt: skip
