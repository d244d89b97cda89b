"""Provider adapters behind one interface, built once per app from the settings."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ..config import Settings
from .base import Provider, WebCall, WebCallRequest
from .convoi import ConvoiProvider
from .livekit import LiveKitProvider
from .ravan import RavanProvider
from .room_reaper import RoomReaper
from .transport import Transport
from .zudu import ZuduProvider

__all__ = ["Provider", "WebCall", "WebCallRequest", "build_providers"]

_HOSTED: dict[str, Callable[..., Provider]] = {
    "ravan": RavanProvider,
    "zudu": ZuduProvider,
    "convoi": ConvoiProvider,
}


def build_providers(settings: Settings, client: httpx.Client) -> dict[str, Provider]:
    """One adapter per configured web-call provider, sharing one HTTP client."""
    providers: dict[str, Provider] = {}
    deadline_s = settings.connect_timeout_s + settings.read_timeout_s
    for name, provider_settings in settings.providers.items():
        if name == "livekit":
            credentials = provider_settings.credentials
            reaper = RoomReaper(
                provider_settings.base_url, credentials["api_key"], credentials["api_secret"], client
            )
            providers[name] = LiveKitProvider(
                provider_settings, token_ttl_s=settings.token_ttl_s, reaper=reaper
            )
        elif name in _HOSTED:
            transport = Transport(
                client, provider=name, secrets=provider_settings.credentials.values(), deadline_s=deadline_s
            )
            providers[name] = _HOSTED[name](provider_settings, transport)
    return providers
