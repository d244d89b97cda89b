"""The shared shape of an adapter for a hosted provider (one reached over HTTPS with our key)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ProviderError
from .base import CallPage, ProviderContext, ProviderSettings
from .breaker import CircuitBreaker
from .transport import Transport, is_outage


class HostedProvider:
    """An adapter with :class:`Transport` s to its provider's ``base_url``.

    Subclasses add the capability methods (``create_web_call``, ``list_calls``, …) and
    their headers. Calls go through ``transport``; reading the provider's history goes
    through ``history``, whose circuit is its own: a broken list endpoint must never make
    callers' calls fail fast.
    """

    name: ClassVar[str]
    # False where the provider's call list cannot be cut to one agent (Convoi's is the account's):
    # the history sync then lists it once for all the provider's agents.
    filters_by_agent: ClassVar[bool] = True
    # True where a list cursor stays good between runs (a call id: Convoi's ``starting_after``):
    # a sync that stopped half-way keeps it, and the next run goes on from there.
    lasting_cursors: ClassVar[bool] = False

    def __init__(self, settings: Any, context: ProviderContext) -> None:
        self.settings: ProviderSettings = settings
        self.base_url: str = settings.base_url
        self.transport = self.new_transport(context)
        self.history = self.new_transport(context)

    def new_transport(self, context: ProviderContext) -> Transport:
        """A :class:`Transport` to this provider with a circuit breaker of its own."""
        return Transport(
            context.http,
            provider=self.name,
            secrets=self.settings.secret_values(),
            deadline_s=context.deadline_s,
            breaker=CircuitBreaker(),
        )

    def is_reachable(self, timeout_s: float) -> bool:
        """An answer from the API's root that is no server error means the provider is up (it
        needs no key for that: a 401 or 404 will do)."""
        return self.transport.is_reachable(self.base_url + "/", timeout_s=timeout_s)

    def livekit_url_before_call(self) -> str | None:
        """Hosted providers name their LiveKit server only in the call's answer."""
        return None


def broken_page(error: ProviderError, *, next_cursor: str | None) -> CallPage:
    """A page the provider failed to give; numbered pages step over outages, nothing else."""
    return CallPage(error=error, next_cursor=next_cursor if is_outage(error) else None)
