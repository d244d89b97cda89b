"""The shared shape of an adapter for a hosted provider (one reached over HTTPS with our key)."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import ProviderContext, ProviderSettings
from .transport import Transport


class HostedProvider:
    """An adapter with one :class:`Transport` to its provider's ``base_url``.

    Subclasses add the capability methods (``create_web_call``, …) and their headers.
    """

    name: ClassVar[str]

    def __init__(self, settings: Any, context: ProviderContext) -> None:
        self.settings: ProviderSettings = settings
        self.base_url: str = settings.base_url
        self.transport = Transport(
            context.http, provider=self.name, secrets=settings.secret_values(), deadline_s=context.deadline_s
        )

    def is_reachable(self, timeout_s: float) -> bool:
        """Any HTTP answer from the API's root means the provider is up (it needs no key for that)."""
        return self.transport.is_reachable(self.base_url + "/", timeout_s=timeout_s)

    def livekit_url_before_call(self) -> str | None:
        """Hosted providers name their LiveKit server only in the call's answer."""
        return None
