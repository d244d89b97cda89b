"""Optional bot check before a call is created: Cloudflare Turnstile's server-side verify.

A verifier is anything with ``verify(token, remote_ip, idempotency_key) -> None``
that raises a ``BotCheckFailed`` when the visitor did not pass. Turnstile is the
first; its verify URL is configurable so tests and staging can point elsewhere.

A Turnstile token is good once; siteverify validates it again only with the
``idempotency_key`` of its first validation (so a request can be retried). That key is
ours, never the page's own: a UUID derived from the request's scoped idempotency key
(agent, client, the page's key, and for a phone call the number), so one solved token
is not good for another agent, visitor or number.

Turnstile keeps validating a token with that key for the token's whole life (300 s), longer
than our replay of the answer (``WEBCALL_IDEMPOTENCY_WINDOW_S``): the same token and
``Idempotency-Key`` once the replay had ended made another call. So a token that created a call
with a key is remembered with it (their hash, where the limits are kept) for those 300 s, and a
second creation with both is refused like a bad token (:func:`one_call_per_token`); within the
replay window the first answer is replayed as before. Without a key Turnstile itself takes a
token once.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import httpx
from limits import RateLimitItemPerSecond

from ..errors import BotCheckFailed, BotCheckRequired, BotCheckUnavailable
from .limits import Limits

log = logging.getLogger(__name__)
_KEY_NAMESPACE = uuid.UUID("5f0e7c2a-3b1d-4e6f-9a8b-7c6d5e4f3a2b")
TOKEN_LIFE_S = 300  # how long Turnstile validates a token again (with its first idempotency_key)
ONE_CALL = RateLimitItemPerSecond(1, TOKEN_LIFE_S)  # calls a token may create in its life


class BotVerifier(Protocol):
    """Checks a token the page obtained from a bot-check widget."""

    def verify(self, token: str | None, remote_ip: str, idempotency_key: str | None) -> None:
        """Return when the visitor passed; raise ``BotCheckRequired``/``BotCheckFailed`` otherwise."""
        ...


class TurnstileVerifier:
    """Cloudflare Turnstile ``siteverify``: form fields secret, response, remoteip, idempotency_key."""

    def __init__(self, secret_key: str, verify_url: str, client: httpx.Client) -> None:
        self.secret_key = secret_key
        self.verify_url = verify_url
        self.client = client

    def verify(self, token: str | None, remote_ip: str, idempotency_key: str | None) -> None:
        """Ask Turnstile whether ``token`` is valid for this visitor."""
        if not token:
            raise BotCheckRequired()
        form = {"secret": self.secret_key, "response": token, "remoteip": remote_ip}
        if idempotency_key:
            form["idempotency_key"] = str(uuid.uuid5(_KEY_NAMESPACE, idempotency_key))
        try:
            response = self.client.post(self.verify_url, data=form, timeout=5.0)
            outcome = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.error("turnstile verify failed: %s", type(exc).__name__)
            raise BotCheckUnavailable(retry_after_s=5) from exc
        if not isinstance(outcome, dict) or outcome.get("success") is not True:
            codes = outcome.get("error-codes") if isinstance(outcome, dict) else None
            log.info("turnstile refused a visitor: %s", codes)
            raise BotCheckFailed()


@contextmanager
def one_call_per_token(limits: Limits, token: str | None, key: str | None) -> Iterator[None]:
    """Create a call as the only one ``token`` creates with the scoped idempotency ``key``:
    ``BotCheckFailed`` when it created one already; given back when this creation fails, so
    the page's retry can still use it.

    Counted in the limits' storage (memory, or Redis for every worker and host) under a hash of
    both; ``LimitsUnavailable`` (503) when that cannot be reached.
    """
    if not token or not key:
        yield
        return
    digest = hashlib.sha256(f"{token}\0{key}".encode()).hexdigest()
    if limits.hit(ONE_CALL, "bot-token", digest) is not None:
        log.info("turnstile: a token that created a call already was sent again with its key")
        raise BotCheckFailed()
    try:
        yield
    except BaseException:
        limits.give_back(ONE_CALL, "bot-token", digest)
        raise
