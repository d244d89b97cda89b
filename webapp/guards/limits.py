"""How often: per client, for everyone together, and what one agent may spend.

Counted with Flask-Limiter's storage (memory by default; Redis through
``WEBCALL_RATELIMIT_STORAGE_URI`` so that every worker and host shares one count).
``X-Forwarded-For`` is believed only behind ``WEBCALL_TRUSTED_PROXIES`` proxies
(ProxyFix corrects ``remote_addr`` before we read it).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import request
from flask_limiter import Limiter
from limits import (
    RateLimitItem,
    RateLimitItemPerDay,
    RateLimitItemPerMinute,
    RateLimitItemPerSecond,
    parse_many,
)

from ..catalogue import Agent
from ..errors import AgentBusy, DailyBudgetExhausted, NumberCooldown, NumberDailyCap, RateLimited
from ..settings import Settings
from ..state import app_state


def client_ip() -> str:
    """The caller's address (already corrected by ProxyFix when proxies are trusted)."""
    return request.remote_addr or "unknown"


# The moving window is exact: no burst at a window's edge, and Retry-After says precisely when
# the oldest counted call leaves the window (the sliding-window counter only estimates it).
limiter = Limiter(key_func=client_ip, strategy="moving-window")
F = TypeVar("F", bound=Callable[..., Any])


def limit_calls(view: F) -> F:
    """The per-client and all-clients limits of an endpoint that starts calls.

    Shared limits: every such endpoint (``/api/calls``, ``/api/token``) counts against the same
    allowance, so a second way in is not a second allowance.
    """
    everyone = limiter.shared_limit(
        global_limit, scope="all-clients", key_func=lambda: "all", methods=["POST"]
    )
    per_client = limiter.shared_limit(
        per_client_limits, scope="per-client", key_func=client_ip, methods=["POST"]
    )
    return cast(F, per_client(everyone(view)))


def per_client_limits() -> str:
    """The per-client limit string, read per request so each app can set its own."""
    return app_state().settings.rate_limits


def global_limit() -> str:
    """The ceiling for all clients together: the most calls this deployment will pay for."""
    return app_state().settings.global_rate_limit


def rate_limited_error() -> RateLimited:
    """The 429 for the Flask-Limiter limit just hit, with the seconds until it resets."""
    current = limiter.current_limit
    if current is None:
        return RateLimited(retry_after_s=60)
    window_s = current.limit.get_expiry()
    return RateLimited(retry_after_s=max(1, min(window_s, round(current.reset_at - time.time()))))


def _hit(item: RateLimitItem, *identifiers: str) -> int | None:
    """Count one call; return the seconds to wait when the limit is already reached."""
    strategy = limiter.limiter
    if strategy.hit(item, *identifiers):
        return None
    reset_at = strategy.get_window_stats(item, *identifiers).reset_time
    return max(1, min(item.get_expiry(), round(reset_at - time.time())))


def check_client_limit(agent: Agent, client: str) -> None:
    """An agent's own per-client limit (``ip_rate_limit``), on top of the deployment's."""
    if not agent.ip_rate_limit:
        return
    for item in parse_many(agent.ip_rate_limit):
        wait_s = _hit(item, "agent-ip", agent.slug, client)
        if wait_s is not None:
            raise RateLimited(retry_after_s=wait_s)


def agent_calls_per_minute(agent: Agent, settings: Settings, provider_limit: int | None) -> int:
    """The agent's own cap, or the deployment's default kept under the provider's documented limit."""
    if agent.calls_per_minute:
        return agent.calls_per_minute
    return min(settings.agent_calls_per_minute, provider_limit or settings.agent_calls_per_minute)


def spend_call(agent: Agent, settings: Settings, provider_limit: int | None = None) -> None:
    """Count a call against the agent's per-minute cap, its provider key's and its daily budget.

    ``provider_limit`` is the provider's documented creates per minute per key: every agent on
    that provider shares it, so we refuse (429 with an exact Retry-After) before the provider
    would (502 provider_busy).
    """
    per_minute = agent_calls_per_minute(agent, settings, provider_limit)
    wait_s = _hit(RateLimitItemPerMinute(per_minute), "agent-minute", agent.slug)
    if wait_s is None and provider_limit:
        wait_s = _hit(RateLimitItemPerMinute(provider_limit), "provider-minute", agent.provider)
    if wait_s is not None:
        raise AgentBusy(retry_after_s=wait_s)
    budget = agent.daily_budget or settings.agent_daily_budget
    wait_s = _hit(RateLimitItemPerDay(budget), "agent-day", agent.slug)
    if wait_s is not None:
        raise DailyBudgetExhausted(retry_after_s=wait_s)


def destination_ref(secret_key: str, e164: str) -> str:
    """A number's key in the limits' storage: keyed hash, so Redis never holds a phone number."""
    return hmac.new(secret_key.encode(), e164.encode(), hashlib.sha256).hexdigest()[:32]


def spend_destination(agent: Agent, number_ref: str) -> None:
    """Count a phone call to one number: refuse it within the agent's cooldown or past its daily cap."""
    phone = agent.phone
    if phone is None:
        return
    if phone.cooldown_s:
        wait_s = _hit(RateLimitItemPerSecond(1, phone.cooldown_s), "number-cooldown", agent.slug, number_ref)
        if wait_s is not None:
            raise NumberCooldown(retry_after_s=wait_s)
    wait_s = _hit(RateLimitItemPerDay(phone.daily_cap_per_number), "number-day", agent.slug, number_ref)
    if wait_s is not None:
        raise NumberDailyCap(retry_after_s=wait_s)
