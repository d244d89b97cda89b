"""Checks on request fields shared by the fakes; each raises FakeError with the given status."""

from __future__ import annotations

import datetime
import re
from collections.abc import Collection
from typing import Any

from .hooks import FakeError

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def is_e164(value: Any) -> bool:
    """Whether `value` is a string like +14157774444."""
    return isinstance(value, str) and bool(_E164.match(value))


def optional_string(body: dict[str, Any], name: str, *, status: int = 400) -> str | None:
    """`body[name]` as a non-empty string, or None when it is absent."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise FakeError(status, f"{name} must be a non-empty string", "invalid_type")
    return value


def required_string(body: dict[str, Any], name: str, *, status: int = 400) -> str:
    """`body[name]` as a non-empty string; a missing field is a 400."""
    value = optional_string(body, name, status=status)
    if value is None:
        raise FakeError(400, f"{name} is required", "missing_field")
    return value


def object_field(body: dict[str, Any], name: str, *, status: int = 400) -> dict[str, Any] | None:
    """`body[name]` as an optional JSON object."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FakeError(status, f"{name} must be an object", "invalid_type")
    return value


def enum_field(
    body: dict[str, Any],
    name: str,
    allowed: Collection[str],
    *,
    required: bool,
    status: int = 400,
) -> str | None:
    """`body[name]` as one of `allowed` (case-sensitive, as the pages list them)."""
    if required:
        value: str | None = required_string(body, name, status=status)
    else:
        value = optional_string(body, name, status=status)
    if value is not None and value not in allowed:
        options = ", ".join(sorted(allowed))
        raise FakeError(status, f"{name} must be one of: {options}", "invalid_enum")
    return value


def now_iso() -> str:
    """The current UTC time as ISO 8601 with a Z."""
    now = datetime.datetime.now(datetime.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
