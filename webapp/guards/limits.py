"""How often: per client, for everyone together, and what one agent may spend.

Counted with the ``limits`` library's moving window on the configured storage: memory by
default (:mod:`.memory_windows`), Redis through ``WEBCALL_RATELIMIT_STORAGE_URI`` so that
every worker and host shares one count. ``X-Forwarded-For`` is believed only behind
``WEBCALL_TRUSTED_PROXIES`` proxies (ProxyFix corrects ``remote_addr`` before we read it).

Each endpoint names its limits with :func:`limited`, which counts one call and refuses it
with a 429 carrying the exact ``Retry-After``. It is the whole mechanism: no hook runs on
requests that have no limit (Flask-Limiter's resolved every request's limits before and
after the view, a sixth of the CPU of a call).

What a call costs (the agent's caps, a phone number's cooldown and daily cap) is counted
all or nothing (:func:`counted_together`): each limit is taken in one atomic step where it
is stored, and a request one of them refuses gives back what the others had counted. A
number's limits are one count whichever agent calls it, each agent checking it against its
own cooldown and cap.

A Redis that cannot be reached counts nothing, so nothing is started: 503 ``limits_unavailable``
with ``Retry-After`` (the limits are the deployment's promise of what it pays for). Giving back
is clean-up: when it fails, that is logged and the request's own answer stands.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache, wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import g, request
from limits import (
    RateLimitItem,
    RateLimitItemPerDay,
    RateLimitItemPerMinute,
    RateLimitItemPerSecond,
    parse_many,
)
from limits.errors import StorageError
from limits.limits import safe_string
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ..catalogue import Agent
from ..errors import (
    AgentBusy,
    AppError,
    BadRequest,
    DailyBudgetExhausted,
    LimitsUnavailable,
    NumberCooldown,
    NumberDailyCap,
    PayloadTooLarge,
    RateLimited,
    UnknownAgent,
    UnsupportedMediaType,
)
from ..settings import Settings
from ..state import app_state
from .memory_windows import SCHEME as MEMORY_WINDOWS
from .memory_windows import MemoryWindows

if TYPE_CHECKING:
    from redis import Redis
    from redis.commands.core import Script

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)
RETRY_AFTER_S = 5  # a Redis restart or failover takes seconds
# A Redis that stops answering (rather than refusing) is down too, not a wait until the OS
# gives up: every command, connecting included, has this long (a healthy one takes < 1 ms).
REDIS_TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
# The scopes counted per client (each view's limits add theirs as they are declared): the windows
# an in-memory table that is full may drop (see memory_windows), never a budget or a ceiling.
PER_CLIENT_SCOPES: set[str] = {"agent-ip"}
TURN_KEPT_S = 7 * 86400  # a number's newest call outlives the longest cooldown the catalogue allows
# Limits.take_turn in Redis, as MemoryWindows.take_turn does it: the list holds a key's newest
# two calls, newest first as in limits' own windows, so give_back's LPOP leaves the one before.
TAKE_TURN = """
local newest = tonumber(redis.call('lindex', KEYS[1], 0))
local now, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2])
if newest and newest + cooldown > now then
    return tostring(newest + cooldown - now)
end
redis.call('lpush', KEYS[1], ARGV[1])
redis.call('ltrim', KEYS[1], 0, 1)
redis.call('expire', KEYS[1], ARGV[3])
return false
"""


def storage_unavailable(problem: Exception) -> LimitsUnavailable:
    """Log a failure of the limits' storage (its words name the host, never a password) and
    the 503 to answer with."""
    log.error("limits: the storage could not be reached", extra={"problem": str(problem)})
    return LimitsUnavailable(retry_after_s=RETRY_AFTER_S)


class Limits:
    """The counts behind every limit of one app: a moving window on one storage.

    The moving window is exact: no burst at a window's edge, and Retry-After says precisely
    when the oldest counted call leaves the window (the sliding-window counter only estimates it).
    """

    def __init__(self, storage_uri: str) -> None:
        self.shared = not storage_uri.startswith("memory://")  # Redis: other processes count here too
        if not self.shared:
            storage_uri = f"{MEMORY_WINDOWS}://"  # limits' MemoryStorage, without its timer thread
        # Redis' errors come out of limits as its StorageError (see hit).
        options = REDIS_TIMEOUTS if self.shared else {}
        storage = storage_from_string(storage_uri, wrap_exceptions=self.shared, **options)
        self.strategy = MovingWindowRateLimiter(storage)
        self.take_turn_script: Script | None = None  # sent by its hash, loaded once per server
        if isinstance(storage, MemoryWindows):
            storage.per_client_scopes = PER_CLIENT_SCOPES
        if isinstance(storage, RedisStorage):
            self.take_turn_script = cast("Redis", storage.get_connection()).register_script(TAKE_TURN)

    def hit(self, item: RateLimitItem, *identifiers: str) -> int | None:
        """Count one call; the seconds to wait when the limit is already reached, else None.

        ``LimitsUnavailable`` (503) when the storage cannot be reached: nothing was counted.
        """
        return self._wait_s(self.strategy.hit, item, identifiers)

    def wait_s(self, item: RateLimitItem, *identifiers: str) -> int | None:
        """The seconds until ``item``'s window for ``identifiers`` has room, counting nothing; None
        when it has room now. ``LimitsUnavailable`` (503) when the storage cannot be reached."""
        return self._wait_s(self.strategy.test, item, identifiers)

    def _wait_s(self, room: Any, item: RateLimitItem, identifiers: tuple[str, ...]) -> int | None:
        """None when ``room(item, *identifiers)`` finds room (``hit`` counting one), else the seconds
        until the window has some."""
        try:
            if room(item, *identifiers):
                return None
            reset_at = self.strategy.get_window_stats(item, *identifiers).reset_time
        except StorageError as problem:
            raise storage_unavailable(problem.storage_error) from problem
        return max(1, min(item.get_expiry(), round(reset_at - time.time())))

    def take_turn(self, item: NumberTurn, *identifiers: str) -> int | None:
        """Count one call unless the newest call counted for ``identifiers`` (by any caller, with
        any cooldown) is within ``item``'s cooldown; else the seconds to wait.

        ``LimitsUnavailable`` (503) when the storage cannot be reached: nothing was counted.
        """
        key, storage = item.key_for(*identifiers), self.strategy.storage
        if isinstance(storage, MemoryWindows):
            wait_s = storage.take_turn(key, item.cooldown_s, TURN_KEPT_S)
        elif isinstance(storage, RedisStorage) and self.take_turn_script is not None:
            args = [time.time(), item.cooldown_s, TURN_KEPT_S]
            try:
                wait = self.take_turn_script([storage.prefixed_key(key)], args)
            except storage.base_exceptions as problem:  # our own script: limits does not wrap its errors
                raise storage_unavailable(problem) from problem
            wait_s = None if wait is None else float(wait)
        else:  # settings accept memory:// and redis URLs only
            raise TypeError(f"cannot take a turn in {type(storage).__name__}")
        return None if wait_s is None else max(1, round(wait_s))

    def counted(self, item: RateLimitItem, *identifiers: str) -> int:
        """The calls counted in ``item``'s window for ``identifiers`` now, counting nothing.

        ``LimitsUnavailable`` (503) when the storage cannot be reached.
        """
        try:
            return item.amount - self.strategy.get_window_stats(item, *identifiers).remaining
        except StorageError as problem:
            raise storage_unavailable(problem.storage_error) from problem

    def is_full(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Whether ``item``'s window for ``identifiers`` is full, counting nothing.

        ``StorageError`` when the storage cannot be reached: the caller decides which side is safe.
        """
        return not self.strategy.test(item, *identifiers)

    def is_reachable(self) -> bool:
        """Whether the storage answers (Redis' PING; memory always does)."""
        return self.strategy.storage.check()

    def give_back(self, item: RateLimitItem, *identifiers: str) -> None:
        """Uncount the newest call counted against ``item`` for ``identifiers``: the request it
        was counted for was refused, or never reached the provider.

        The newest call, which may be another request's a moment later than ours: calls in a
        window are alike, so the count is right either way. A storage that fails is logged, not
        raised: the call then counts until it leaves its window (the safe side), and the request's
        own answer (a refusal, the provider's error) is the one the caller gets.
        """
        key = item.key_for(*identifiers)
        storage = self.strategy.storage
        if isinstance(storage, MemoryWindows):
            storage.give_back(key)
        elif isinstance(storage, RedisStorage):
            # limits keeps a moving window in Redis as a list of call times, newest first
            # (LPUSH); one LPOP is atomic, as its own acquire script is. (Its type for the
            # connection is a protocol that lists only the commands limits itself sends.)
            try:
                cast("Redis", storage.get_connection()).lpop(storage.prefixed_key(key))
            except storage.base_exceptions as problem:  # our own command: limits does not wrap its errors
                log.error("limits: could not give a call back", extra={"problem": str(problem)})
        else:  # settings accept memory:// and redis URLs only
            raise TypeError(f"cannot give a call back to {type(storage).__name__}")


class SharedWindow(RateLimitItem):
    """A limit whose key leaves out its size: limits of one kind but different sizes (each
    agent's cooldown or cap for a number) share one count, each checked against its own size."""

    def key_for(self, *identifiers: bytes | str | int | float) -> str:
        """``LIMITER/<identifiers>/<granularity>``: limits' key without the amount and multiples."""
        return "/".join([self.namespace, *map(safe_string, identifiers), self.GRANULARITY.name])


class NumberDay(SharedWindow, RateLimitItemPerDay):
    """A number's calls in the last day, whichever agent made them.

    Every call in the window expires after the same day, so the window stays exact in Redis
    too: a smaller cap's LTRIM drops only calls already out of it (a call is counted only
    when the one at index cap-1 has left).
    """


class NumberTurn(SharedWindow, RateLimitItemPerSecond):
    """One call to a number per ``cooldown_s`` seconds, whichever agent made the last one
    (counted by :meth:`Limits.take_turn`, not as a moving window)."""

    __slots__ = ["cooldown_s"]

    def __init__(self, cooldown_s: int) -> None:
        super().__init__(1, cooldown_s)  # limits reads a length of 0 as 1: the cooldown is kept apart
        self.cooldown_s = cooldown_s


@lru_cache(maxsize=256)
def parsed(limits: str) -> Sequence[RateLimitItem]:
    """A limit string's items (settings and the catalogue have checked it already)."""
    return tuple(parse_many(limits))


def client_ip() -> str:
    """The caller's address (already corrected by ProxyFix when proxies are trusted)."""
    return host_of(request.remote_addr or "unknown")


def host_of(address: str) -> str:
    """``address`` without the port or brackets some proxies write into ``X-Forwarded-For``
    (``198.51.100.7:40000``, ``[2001:db8::1]:443``): a port is a connection's, and counting it
    would make each connection a new client (a new allowance, a new idempotency scope)."""
    if address.startswith("["):
        return address[1:].partition("]")[0]
    if address.count(":") == 1:  # an IPv6 address has at least two
        return address.partition(":")[0]
    return address


# IPv4 addresses written into IPv6 by a translator (NAT64's well-known prefix, RFC 6052, the
# IPv4 address in its last 32 bits): behind an IPv6-only front end every IPv4 visitor has one.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def client_key(address: str) -> str:
    """Whom a per-client limit counts: an IPv4 address, or an IPv6 address's /64 (a host is
    given a whole /64, and stepping through it must not start a fresh allowance each time).
    An IPv4 address in IPv6 clothes (mapped, or translated by NAT64) is that IPv4 address: all
    IPv4 visitors of a NAT64 front end came from one /64, and shared one allowance."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if ip in NAT64:
            return str(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def per_client() -> str:
    """This request's per-client key (see :func:`client_key`)."""
    return client_key(client_ip())


def everyone() -> str:
    """The one key all clients share."""
    return "all"


# What a call's endpoint tells its limits on ``g`` (see :func:`limited`): the provider was asked
# for the call, or the answer is an earlier request's, replayed for its Idempotency-Key.
PROVIDER_ASKED = "webcall_provider_asked"
REPLAYED = "webcall_replayed"
# On flask.g: the view says its request is not to be counted after all (a right password: only
# guesses fill the sign-in's allowance, or operators behind one address lock each other out).
NOT_COUNTED = "webcall_not_counted"

# Refusals of a request that could never have started a call (a body that is not JSON, or not
# what the endpoint takes; an unknown agent): counted first, as every request is (one step, and a
# client past its limit is told so before its body is read), then given back. A page's own bug
# does not spend its visitors' allowance; a client past its limit still gets 429 for anything.
MALFORMED = (BadRequest, PayloadTooLarge, UnsupportedMediaType, UnknownAgent)


def limited(
    limits: str | Callable[[], str],
    *,
    scope: str,
    key: Callable[[], str] = per_client,
    calls_placed: bool = False,
) -> Callable[[F], F]:
    """A view that counts each request against ``limits`` under ``scope`` and ``key()``.

    ``limits`` is a string or a function read per request (so each app can set its own). Views
    that give the same scope share one allowance. Past it: 429 ``rate_limited`` with the exact
    ``Retry-After``. A retry answered with the first request's call is given back (it asked for
    nothing new), and with ``calls_placed`` so is every refusal before the provider was asked:
    a forged bot token or a foreign origin costs the deployment nothing, so it must not fill a
    ceiling of what it pays for.
    """

    if key is per_client:
        PER_CLIENT_SCOPES.add(scope)

    def decorate(view: F) -> F:
        @wraps(view)
        def counted(*args: Any, **kwargs: Any) -> Any:
            tally = Tally(app_state().limits)
            wait_s = tally.spend(limits() if callable(limits) else limits, scope, key())
            if wait_s is not None:
                raise RateLimited(retry_after_s=wait_s)
            try:
                answer = view(*args, **kwargs)
            except MALFORMED:
                tally.give_back()  # the request's own mistake: it asked for nothing
                raise
            except AppError:
                if calls_placed and not g.get(PROVIDER_ASKED):
                    tally.give_back()
                raise
            if g.get(REPLAYED) or g.get(NOT_COUNTED):
                tally.give_back()
            return answer

        return cast(F, counted)

    return decorate


def limit_calls(view: F) -> F:
    """The per-client and all-clients limits of an endpoint that starts web calls.

    Shared limits: every such endpoint (``/api/calls``, ``/api/token``) counts against the same
    allowance, so a second way in is not a second allowance. The all-clients ceiling is shared
    with phone calls too.
    """
    for_everyone = limited(global_limit, scope="all-clients", key=everyone, calls_placed=True)
    return limited(per_client_limits, scope="per-client")(for_everyone(view))


def per_client_limits() -> str:
    """The per-client limit string, read per request so each app can set its own."""
    return app_state().settings.rate_limits


def global_limit() -> str:
    """The ceiling for all clients together: the most calls this deployment will pay for."""
    return app_state().settings.global_rate_limit


class Tally:
    """What one request has counted so far, against several limits, to give back if refused."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.counted: list[tuple[RateLimitItem, tuple[str, ...]]] = []

    def hit(self, item: RateLimitItem, *identifiers: str) -> int | None:
        """Count one call; the seconds to wait when ``item`` is already at its limit, else None."""
        wait_s = self.limits.hit(item, *identifiers)
        if wait_s is None:
            self.counted.append((item, identifiers))
        return wait_s

    def spend(self, limits: str, *identifiers: str) -> int | None:
        """Count one call against each of ``limits`` (``5/minute;30/hour``) in turn; the wait
        of the first that is already reached, else None."""
        for item in parsed(limits):
            wait_s = self.hit(item, *identifiers)
            if wait_s is not None:
                return wait_s
        return None

    def take_turn(self, item: NumberTurn, *identifiers: str) -> int | None:
        """Count one call; the seconds to wait when the last one is within ``item``'s cooldown, else None."""
        wait_s = self.limits.take_turn(item, *identifiers)
        if wait_s is None:
            self.counted.append((item, identifiers))
        return wait_s

    def give_back(self) -> None:
        """Uncount everything counted so far, newest first."""
        while self.counted:
            item, identifiers = self.counted.pop()
            self.limits.give_back(item, *identifiers)


@contextmanager
def counted_together() -> Iterator[Tally]:
    """Count one call against several limits as one step: refused by any, it counts against none.

    Each limit is taken atomically where it is stored (two workers never both get a last
    place), so no limit is ever passed. Giving back comes after: for that moment, another
    request may be refused a place that is about to come free. Counting first and giving back
    is what keeps that safe; testing every limit first and then counting would not be atomic.
    """
    tally = Tally(app_state().limits)
    try:
        yield tally
    except AppError:
        tally.give_back()
        raise


def check_client_limit(agent: Agent, client: str) -> None:
    """An agent's own per-client limit (``ip_rate_limit``), on top of the deployment's."""
    if not agent.ip_rate_limit:
        return
    wait_s = Tally(app_state().limits).spend(agent.ip_rate_limit, "agent-ip", agent.slug, client_key(client))
    if wait_s is not None:
        raise RateLimited(retry_after_s=wait_s)


def agent_calls_per_minute(agent: Agent, settings: Settings, provider_limit: int | None) -> int:
    """The agent's own cap, or the deployment's default kept under the provider's documented limit."""
    if agent.calls_per_minute:
        return agent.calls_per_minute
    return min(settings.agent_calls_per_minute, provider_limit or settings.agent_calls_per_minute)


def spend_call(agent: Agent, settings: Settings, provider_limit: int | None = None) -> None:
    """Count a call against the agent's per-minute cap, its provider key's and its daily budget:
    against all three, or (refused by one) none.

    ``provider_limit`` is the provider's documented creates per minute per key: every agent on
    that provider shares it, so we refuse (429 with an exact Retry-After) before the provider
    would (502 provider_busy).
    """
    with counted_together() as tally:
        _spend_agent(tally, agent, settings, provider_limit)


def spend_phone_call(agent: Agent, settings: Settings, provider_limit: int | None, number_ref: str) -> None:
    """Count a phone call against the agent's limits (:func:`spend_call`), then the number's
    cooldown and daily cap: against all of them, or (refused by one) none.

    The agent's first, so a call they refuse never holds the number's turn, not even for a moment.
    """
    with counted_together() as tally:
        _spend_agent(tally, agent, settings, provider_limit)
        _spend_destination(tally, agent, number_ref)


def _spend_agent(tally: Tally, agent: Agent, settings: Settings, provider_limit: int | None) -> None:
    """The agent's per-minute cap, its provider key's, then its daily budget."""
    per_minute = agent_calls_per_minute(agent, settings, provider_limit)
    wait_s = tally.hit(RateLimitItemPerMinute(per_minute), "agent-minute", agent.slug)
    if wait_s is None and provider_limit:
        wait_s = tally.hit(RateLimitItemPerMinute(provider_limit), "provider-minute", agent.provider)
    if wait_s is not None:
        raise AgentBusy(retry_after_s=wait_s)
    budget = agent.daily_budget or settings.agent_daily_budget
    wait_s = tally.hit(RateLimitItemPerDay(budget), "agent-day", agent.slug)
    if wait_s is not None:
        raise DailyBudgetExhausted(retry_after_s=wait_s)


def may_read(limits: Limits, provider: str, per_minute: int) -> bool:
    """Count one read of ``provider``'s API against ``per_minute`` (its key's reads for visitors,
    shared by every process); False when that budget is spent. True when the limits' storage is
    down: a read over the provider's own limit only gets its 429, which the caller survives."""
    try:
        return limits.hit(RateLimitItemPerMinute(per_minute), "provider-reads", provider) is None
    except LimitsUnavailable:
        return True


def destination_ref(secret_key: str, e164: str) -> str:
    """A number's key in the limits' storage: keyed hash, so Redis never holds a phone number."""
    return hmac.new(secret_key.encode(), e164.encode(), hashlib.sha256).hexdigest()[:32]


def _spend_destination(tally: Tally, agent: Agent, number_ref: str) -> None:
    """Count a phone call to one number: refuse it within the agent's cooldown or past its daily cap.

    Counted per number, whichever agent calls it: two agents do not make two cooldowns or two
    daily caps for the person called. Each checks the number's last call against its own
    cooldown and its calls today against its own cap. An agent without a cooldown counts its
    call too, for the others'.
    """
    phone = agent.phone
    if phone is None:
        return
    wait_s = tally.take_turn(NumberTurn(phone.cooldown_s), "number-cooldown", number_ref)
    if wait_s is not None:
        raise NumberCooldown(retry_after_s=wait_s)
    wait_s = tally.hit(NumberDay(phone.daily_cap_per_number), "number-day", number_ref)
    if wait_s is not None:
        raise NumberDailyCap(retry_after_s=wait_s)


def refund_cooldown(agent: Agent, number_ref: str) -> None:
    """Give a number its turn back: the call just counted against its cooldown was never placed."""
    phone = agent.phone
    if phone is not None:
        app_state().limits.give_back(NumberTurn(phone.cooldown_s), "number-cooldown", number_ref)
