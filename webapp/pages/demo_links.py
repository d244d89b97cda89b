"""Signed, expiring sales-demo links: ``/demo/<slug>?t=<token>``.

The token carries the agent slug, preset prompt variables and an expiry, signed
with the app's secret key (itsdangerous, which Flask already depends on), so a
sales person personalises a demo without a code change and the link stops
working when it expires. ``flask --app webapp demo-link`` prints one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from ..errors import ExpiredDemoLink, InvalidDemoLink

SALT = "webcall.demo-link.v1"
_DURATION_RE = re.compile(r"^(\d+)([smhdw])$")
_DATE_RE = re.compile(r"^\d{4}-?\d{2}-?\d{2}$")  # a day without a time (2026-12-31, 20261231)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class DemoLink:
    """What a valid link grants: one agent, preset variables, until an expiry."""

    agent: str
    variables: dict[str, str]
    expires_at: int


def _serializer(secret_key: str) -> URLSafeSerializer:
    """The signer for demo links (its own salt: a link is no other kind of token)."""
    return URLSafeSerializer(secret_key, salt=SALT)


def sign_demo_link(secret_key: str, agent: str, variables: dict[str, str], expires_at: int) -> str:
    """The token for a link to ``agent`` with ``variables``, valid until ``expires_at`` (epoch s)."""
    return str(_serializer(secret_key).dumps({"a": agent, "v": variables, "e": expires_at}))


def read_demo_link(secret_key: str, token: str, *, now: float | None = None) -> DemoLink:
    """Verify the signature, then the expiry; raise ``InvalidDemoLink`` or ``ExpiredDemoLink``."""
    try:
        data: Any = _serializer(secret_key).loads(token)
    except BadSignature as exc:
        raise InvalidDemoLink() from exc
    if not (
        isinstance(data, dict)
        and isinstance(data.get("a"), str)
        and isinstance(data.get("e"), int)
        and isinstance(data.get("v"), dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in data["v"].items())
    ):
        raise InvalidDemoLink()
    if data["e"] <= (time.time() if now is None else now):
        raise ExpiredDemoLink()
    return DemoLink(agent=data["a"], variables=dict(data["v"]), expires_at=data["e"])


def parse_expiry(text: str, *, now: float) -> int:
    """When a link expires (epoch s): a duration (``90s``, ``30m``, ``12h``, ``7d``, ``2w``) or an
    ISO 8601 date or time (``2026-12-31``: through that day; ``2026-12-31T18:00:00+01:00``; UTC
    when no zone)."""
    match = _DURATION_RE.match(text.strip())
    if match and int(match.group(1)) > 0:
        return int(now) + int(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("use a duration (30m, 12h, 7d, 2w) or a date (2026-12-31)") from None
    if _DATE_RE.match(text.strip()):  # a day: the link works through it
        moment += timedelta(days=1)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
