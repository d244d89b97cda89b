"""What one agent may spend: calls started per minute and a daily budget.

Counted in Flask-Limiter's storage (memory, or Redis shared by every worker and
host), so the numbers hold across processes when Redis is configured.
"""

from __future__ import annotations

import time

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute, parse_many

from .agents import Agent
from .config import Settings
from .errors import RateLimited
from .security import limiter


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


def spend_call(agent: Agent, settings: Settings) -> None:
    """Count a call against the agent's per-minute cap and daily budget, or refuse it."""
    per_minute = agent.calls_per_minute or settings.agent_calls_per_minute
    wait_s = _hit(RateLimitItemPerMinute(per_minute), "agent-minute", agent.slug)
    if wait_s is not None:
        raise RateLimited(
            "This agent is taking a lot of calls right now. Please try again in a minute.",
            code="agent_busy",
            retry_after_s=wait_s,
        )
    budget = agent.daily_budget or settings.agent_daily_budget
    wait_s = _hit(RateLimitItemPerDay(budget), "agent-day", agent.slug)
    if wait_s is not None:
        raise RateLimited(
            "This agent has taken all the calls it can today. Please come back tomorrow.",
            code="daily_budget_exhausted",
            retry_after_s=wait_s,
        )
