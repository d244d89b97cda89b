"""What every provider adapter takes and gives back.

An adapter is one class with one job, ``create_web_call``: build the provider's
request (a pure function), send it through :mod:`webapp.providers.transport`
(the only place that does I/O), and parse the answer (a pure function).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import jwt

from ..agents import Agent
from ..errors import ProviderBadResponse


@dataclass(frozen=True)
class WebCallRequest:
    """A validated request for one browser call with one agent."""

    agent: Agent
    variables: Mapping[str, str] = field(default_factory=dict)  # defaults + allowed page values
    metadata: Mapping[str, Any] = field(default_factory=dict)
    participant_name: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class WebCall:
    """What the browser needs to join the call's LiveKit room."""

    call_id: str
    livekit_url: str
    token: str = field(repr=False)
    room: str | None = None
    identity: str | None = None
    expires_at: datetime | None = None


class Provider(Protocol):
    """A backend that turns a :class:`WebCallRequest` into a :class:`WebCall`."""

    name: str

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Ask the provider for a web call; raise a ``ProviderError`` subclass on failure."""
        ...


def complete_from_token(call: WebCall) -> WebCall:
    """Fill room, identity and expiry from the LiveKit token's claims where the provider gave none.

    Providers don't document their tokens' lifetime, so the token itself is the
    source of truth. It is decoded, not verified: we don't hold the provider's key.
    """
    try:
        claims = jwt.decode(call.token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ProviderBadResponse() from exc
    video = first_dict(claims.get("video"))
    exp = claims.get("exp")
    expires_at = call.expires_at
    if expires_at is None and isinstance(exp, int | float):
        expires_at = datetime.fromtimestamp(exp, tz=UTC)
    return WebCall(
        call_id=call.call_id,
        livekit_url=call.livekit_url,
        token=call.token,
        room=call.room or _str(video.get("room")),
        identity=call.identity or _str(claims.get("sub")),
        expires_at=expires_at,
    )


def _str(value: object) -> str | None:
    """``value`` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def require_str(value: object) -> str:
    """Return ``value`` if it is a non-empty string; a provider answer without it is unusable."""
    if not isinstance(value, str) or not value.strip():
        raise ProviderBadResponse()
    return value.strip()


def first_dict(*candidates: object) -> dict[str, Any]:
    """The first candidate that is a dict (providers nest the same fields differently)."""
    for candidate in candidates:
        if isinstance(candidate, dict):
            return candidate
    return {}
