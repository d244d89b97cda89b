"""Validation of the ``POST /api/calls`` body: every rule a browser can break, with its code."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import BadRequest

MAX_ITEMS = 32  # keys in variables or metadata
MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 1000
MAX_NAME_CHARS = 64
MAX_BOT_TOKEN_CHARS = 4096
FIELDS = ("agent", "participant_name", "variables", "metadata", "bot_token", "demo_token")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class CallBody:
    """A valid request body."""

    agent: str | None = None
    participant_name: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str | int | float | bool | None] = field(default_factory=dict)
    bot_token: str | None = None  # from the page's bot-check widget, when one is configured
    demo_token: str | None = None  # a signed sales-demo link's token (preset variables)


def parse_call_body(raw: bytes) -> CallBody:
    """Decode and validate the JSON body, or raise ``BadRequest`` with a stable code."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest("The request body is not valid UTF-8 JSON.", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_body")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise BadRequest(f"Unknown field {unknown[0][:MAX_KEY_CHARS]!r}.", code="unknown_field")
    return CallBody(
        agent=_optional_text(data, "agent", MAX_KEY_CHARS),
        participant_name=_optional_text(data, "participant_name", MAX_NAME_CHARS),
        variables=_string_map(data.get("variables"), "variables", scalar_ok=False),
        metadata=_string_map(data.get("metadata"), "metadata", scalar_ok=True),
        bot_token=_optional_text(data, "bot_token", MAX_BOT_TOKEN_CHARS),
        demo_token=_optional_text(data, "demo_token", MAX_BOT_TOKEN_CHARS),
    )


def _optional_text(data: dict[str, Any], name: str, limit: int) -> str | None:
    """A short single-line string field, or None when absent."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit or _CONTROL.search(value):
        raise BadRequest(
            f"{name} must be a single-line string of 1 to {limit} characters.", code="invalid_field"
        )
    return value.strip()


def _string_map(value: Any, name: str, *, scalar_ok: bool) -> dict[str, Any]:
    """A flat object of short keys to strings (and, where allowed, numbers, booleans, null)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{name} must be a JSON object.", code="invalid_field")
    if len(value) > MAX_ITEMS:
        raise BadRequest(f"{name} may hold at most {MAX_ITEMS} entries.", code="invalid_field")
    for key, item in value.items():
        if not key or len(key) > MAX_KEY_CHARS or _CONTROL.search(key):
            raise BadRequest(f"{name} keys must be 1 to {MAX_KEY_CHARS} characters.", code="invalid_field")
        if isinstance(item, str):
            if len(item) > MAX_VALUE_CHARS:
                raise BadRequest(
                    f"{name} values may be at most {MAX_VALUE_CHARS} characters.", code="invalid_field"
                )
        elif not (scalar_ok and (item is None or isinstance(item, bool | int | float))):
            kinds = "strings, numbers, booleans or null" if scalar_ok else "strings"
            raise BadRequest(f"{name} values must be {kinds}.", code="invalid_field")
    return dict(value)
