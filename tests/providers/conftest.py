"""Helpers for the adapters' pure functions: an agent, a request, a real LiveKit token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from livekit import api

from webapp.catalogue import Agent
from webapp.providers import WebCallRequest


def make_agent(provider: str, agent_id: str, **fields: Any) -> Agent:
    """A valid catalogue agent."""
    return Agent.model_validate(
        {"slug": "a", "title": "A", "provider": provider, "agent_id": agent_id, **fields}
    )


def make_request(agent: Agent, **fields: Any) -> WebCallRequest:
    """A web-call request for ``agent``."""
    return WebCallRequest(agent=agent, **fields)


@pytest.fixture(scope="session")
def livekit_token() -> str:
    """A real participant token, as a provider would return it (room ``r-1``, identity ``u-1``)."""
    return (
        api.AccessToken("key", "secret-" + "x" * 32)
        .with_identity("u-1")
        .with_ttl(timedelta(minutes=5))
        .with_grants(api.VideoGrants(room_join=True, room="r-1"))
        .to_jwt()
    )
