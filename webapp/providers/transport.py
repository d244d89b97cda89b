"""The one place that talks HTTP to hosted providers.

Low-level failures are translated here, once, into the ``ProviderError`` tree:
timeouts, refused connections, error statuses, HTML error pages and malformed
JSON. Upstream bodies are logged (shortened, secrets removed), never returned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ..errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderBusy,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from .breaker import CircuitBreaker

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({502, 503, 504})
MIN_ATTEMPT_S = 0.5  # no retry starts with less time than this left before the deadline


class Transport:
    """Sends JSON requests to one provider with timeouts, bounded retries and error mapping."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        provider: str,
        secrets: Iterable[str] = (),
        deadline_s: float = 12.0,
        attempts: int = 3,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.secrets = tuple(s for s in secrets if s)
        self.deadline_s = deadline_s
        self.attempts = attempts
        self.breaker = breaker or CircuitBreaker()

    def post_json(
        self, url: str, *, headers: Mapping[str, str], body: Mapping[str, Any], idempotent: bool = False
    ) -> Any:
        """POST ``body`` and return the decoded JSON answer of a 2xx response.

        A request that never reached the provider (connection refused) is always
        safe to repeat; one that may have reached it is repeated only when
        ``idempotent`` (an idempotency key makes the provider replay its answer).
        """
        self.breaker.before_call()
        try:
            answer = self._post_with_retries(url, headers, body, idempotent)
        except ProviderError as error:
            # Only a provider that is down or broken trips the breaker; one that refused
            # this call (bad request, our key, its rate limit) is up and answering.
            self.breaker.record(ok=not is_outage(error))
            raise
        self.breaker.record(ok=True)
        return answer

    def _post_with_retries(
        self, url: str, headers: Mapping[str, str], body: Mapping[str, Any], idempotent: bool
    ) -> Any:
        """One POST, repeated on transient failures while that is safe and within the deadline."""
        started = time.monotonic()
        for attempt in range(1, self.attempts + 1):
            remaining_s = self.deadline_s - (time.monotonic() - started)
            try:
                response = self.client.post(
                    url, headers=dict(headers), json=dict(body), timeout=self._timeout(remaining_s)
                )
            except httpx.TimeoutException as exc:
                error: ProviderError = ProviderTimeout()
                retry = idempotent or isinstance(exc, httpx.ConnectTimeout)
                self._log_failure("timed out", exc)
            except httpx.TransportError as exc:
                error = ProviderUnavailable()
                retry = idempotent or isinstance(exc, httpx.ConnectError)
                self._log_failure("unreachable", exc)
            else:
                if response.status_code < 300:
                    return self._decode(response)
                error = self._status_error(response)
                retry = idempotent and response.status_code in RETRY_STATUSES
            backoff_s = 0.2 * 2 ** (attempt - 1)
            if (
                not retry
                or attempt == self.attempts
                or time.monotonic() - started + backoff_s + MIN_ATTEMPT_S > self.deadline_s
            ):
                raise error
            time.sleep(backoff_s)
        raise AssertionError("unreachable")  # pragma: no cover

    def _timeout(self, remaining_s: float) -> httpx.Timeout:
        """The client's timeouts, cut down so that no attempt outlives the total deadline."""
        base = self.client.timeout

        def cap(value: float | None) -> float:
            return min(value, remaining_s) if value is not None else remaining_s

        return httpx.Timeout(
            connect=cap(base.connect), read=cap(base.read), write=cap(base.write), pool=cap(base.pool)
        )

    def _decode(self, response: httpx.Response) -> Any:
        """Decode a 2xx JSON body; HTML or malformed JSON means the provider is misbehaving."""
        try:
            return response.json()
        except ValueError as exc:
            log.error(
                "%s answered %s with a body that is not JSON: %s",
                self.provider, response.status_code, self._redact(response.text),
            )  # fmt: skip
            raise ProviderBadResponse() from exc

    def _status_error(self, response: httpx.Response) -> ProviderError:
        """Map an error status to the error the browser sees, logging the provider's words."""
        status = response.status_code
        log.error("%s refused the call with %s: %s", self.provider, status, self._redact(response.text))
        error: ProviderError
        if status in (401, 403):
            error = ProviderAuthError()
        elif status == 429:
            error = ProviderBusy(retry_after_s=_retry_after(response.headers.get("Retry-After")))
        elif status in (408, 504):
            error = ProviderTimeout()
        elif status in (502, 503):
            error = ProviderUnavailable()
        else:
            error = ProviderError()
        error.upstream_status = status
        return error

    def _log_failure(self, what: str, exc: Exception) -> None:
        """Log a transport failure without the request (it carries our credentials)."""
        log.error("%s %s: %s", self.provider, what, type(exc).__name__)

    def _redact(self, text: str, limit: int = 500) -> str:
        """Shorten an upstream body for the log and remove anything that is one of our secrets."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = " ".join(text.split())
        return text if len(text) <= limit else text[:limit] + "…"


def is_outage(error: ProviderError) -> bool:
    """True for failures that say the provider is down or broken, not that it refused us."""
    if isinstance(error, ProviderTimeout | ProviderUnavailable | ProviderBadResponse):
        return True
    return error.upstream_status is not None and error.upstream_status >= 500


def _retry_after(value: str | None) -> int:
    """Seconds from a ``Retry-After`` header (seconds form), defaulting to a short wait."""
    try:
        return max(1, min(3600, int(value or "")))
    except ValueError:
        return 5
