"""What every request handler needs, built once per app, and the typed way to reach it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import httpx
from flask import Flask, current_app

from .catalogue import Agent
from .errors import UnknownAgent
from .providers import Provider, ProviderSpec, registry
from .settings import Settings

if TYPE_CHECKING:
    from .guards.botcheck import BotVerifier
    from .guards.idempotency import Replay
    from .guards.limits import Limits
    from .history.store import CallStore
    from .pages.assets import Assets

EXTENSION = "webcall"


@dataclass(frozen=True)
class AppState:
    """The settings, the provider adapters and the shared services of one app."""

    settings: Settings
    providers: Mapping[str, Provider]  # adapters of the configured providers, by name
    replay: Replay
    limits: Limits  # the counts behind rate limits and budgets
    bot_verifier: BotVerifier | None
    http: httpx.Client
    embed_origins: frozenset[str]  # every origin some agent allows: the only ones CORS answers
    assets: Assets  # the browser code's current (hashed) file names
    history: CallStore  # the call log

    def agent(self, slug: str) -> Agent:
        """The agent with this slug, or ``UnknownAgent``."""
        agent = self.settings.agents.get(slug)
        if agent is None:
            raise UnknownAgent()
        return agent

    def provider_for(self, agent: Agent) -> Provider:
        """The adapter that serves ``agent`` (settings guarantee it is configured)."""
        return self.providers[agent.provider]

    def spec_for(self, agent: Agent) -> ProviderSpec:
        """What the registry says about ``agent``'s provider."""
        return registry()[agent.provider]


def init_app(app: Flask, state: AppState) -> None:
    """Store the state on the app."""
    app.extensions[EXTENSION] = state


def app_state_of(app: Flask) -> AppState:
    """An app's state, outside a request."""
    return cast(AppState, app.extensions[EXTENSION])


def app_state() -> AppState:
    """The current app's state (inside a request or an app context)."""
    return cast(AppState, current_app.extensions[EXTENSION])
