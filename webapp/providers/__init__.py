"""The provider registry: every module here with a ``PROVIDER`` spec is a provider.

Adding a provider is one module in this package (its settings model, its pure request
builders and answer parsers, its adapter class and its ``PROVIDER``), a fake in
``tests/fakes/`` and its tests, and its variables documented in ``.env.example``. Settings,
the catalogue, the pages, ``/readyz`` and the OpenAPI document all read this registry, so
nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache

from .base import (
    AGENT_KEY,
    CALL_STATUSES,
    CAPABILITIES,
    CHANNELS,
    FINAL_STATUSES,
    CallPage,
    CallStatus,
    Channel,
    HistoryQuery,
    PhoneCall,
    PhoneCallRequest,
    Provider,
    ProviderCall,
    ProviderContext,
    ProviderSettings,
    ProviderSpec,
    TranscriptLine,
    WebCall,
    WebCallRequest,
)

__all__ = [
    "AGENT_KEY",
    "CALL_STATUSES",
    "CAPABILITIES",
    "CHANNELS",
    "FINAL_STATUSES",
    "CallPage",
    "CallStatus",
    "Channel",
    "HistoryQuery",
    "PhoneCall",
    "PhoneCallRequest",
    "Provider",
    "ProviderCall",
    "ProviderContext",
    "ProviderSettings",
    "ProviderSpec",
    "TranscriptLine",
    "WebCall",
    "WebCallRequest",
    "build_providers",
    "provider_names",
    "registry",
]


@cache
def registry() -> Mapping[str, ProviderSpec]:
    """Every provider, by name, found by scanning this package once."""
    return discover(__name__, list(__path__))


def discover(package: str, path: list[str]) -> dict[str, ProviderSpec]:
    """The ``PROVIDER`` of every module of ``package`` (found at ``path``) that has one."""
    specs: dict[str, ProviderSpec] = {}
    for module_info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{module_info.name}")
        spec = getattr(module, "PROVIDER", None)
        if isinstance(spec, ProviderSpec):
            if spec.name in specs:
                raise RuntimeError(f"two provider modules are named {spec.name!r}")
            specs[spec.name] = spec
    return specs


def provider_names(capability: str | None = None) -> list[str]:
    """Provider names in order; only those with ``capability`` when given."""
    return [name for name, spec in registry().items() if capability is None or spec.supports(capability)]


def build_providers(
    settings: Mapping[str, ProviderSettings], context: ProviderContext
) -> dict[str, Provider]:
    """One adapter per configured provider, all sharing the context's HTTP client."""
    specs = registry()
    return {
        name: specs[name].adapter(provider_settings, context) for name, provider_settings in settings.items()
    }
