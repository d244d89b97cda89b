"""The one place that talks HTTP to hosted providers.

Low-level failures are translated here, once, into the ``ProviderError`` tree:
timeouts, refused connections, error statuses, HTML error pages and malformed
JSON. Upstream bodies are logged (shortened, secrets removed), never returned.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import orjson

from ..errors import (
    AppError,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderBusy,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from ..json_input import parse_json
from ..metrics import PROVIDER_SECONDS
from .breaker import CircuitBreaker
from .http11 import Answer, HTTP11Transport

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({502, 503, 504})
MIN_ATTEMPT_S = 0.5  # no retry starts with less time than this left before the deadline
IN_FLIGHT_WAIT_S = 0.5  # between asks while a provider still serves an earlier attempt
INF = float("inf")  # a timeout of None: no limit of its own
# An E.164 number, or 9+ digits however they are grouped: never written to a log line.
PHONE_LIKE = re.compile(r"\+\d[\d\s().-]{6,}\d|(?<![\w.-])\d(?:[\s().-]?\d){8,}(?![\w.-])")


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
        self.secrets = _spellings(secrets)
        self.deadline_s = deadline_s
        self.attempts = attempts
        self.breaker = breaker or CircuitBreaker()

    def post_json(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        body: Mapping[str, Any],
        idempotent: bool = False,
        status_errors: Mapping[int, type[AppError]] | None = None,
        operation: str = "create_call",
        redact: Iterable[str] = (),
        expected: int | None = None,
        in_flight: int | None = None,
    ) -> Any:
        """POST ``body`` and return the decoded JSON answer of a 2xx response.

        A request that never reached the provider (connection refused) is always
        safe to repeat; one that may have reached it is repeated only when
        ``idempotent`` (an idempotency key makes the provider replay its answer).
        ``status_errors`` maps a provider's own statuses to ours where they mean
        more than a refusal (Convoi's 409: the same key is still being served). ``redact``
        names this request's own private values (a phone number) to keep out of log lines.
        ``expected`` is a refusal the caller asked for (a check's probe: that status means our
        key works): it answers ``None``, logged as information, not as an error. ``in_flight`` is
        the status an idempotent request's repeat gets while the provider is still serving an
        earlier attempt with the same key (Convoi's 409): asked again while time remains, for the
        provider to replay that attempt's answer; past the deadline its outcome is unknown
        (``ProviderTimeout``), not a refusal.
        """
        return self.send("POST", url, headers=headers, body=body, idempotent=idempotent,
                         status_errors=status_errors, operation=operation, redact=redact,
                         expected=expected, in_flight=in_flight)  # fmt: skip

    def get_json(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, Any] | None = None,
        operation: str = "get",
        expected: int | None = None,
    ) -> Any:
        """GET ``url`` (safe to repeat) and return the decoded JSON answer of a 2xx response
        (``expected``: as for :meth:`post_json`)."""
        return self.send("GET", url, headers=headers, params=params, idempotent=True, operation=operation,
                         expected=expected)  # fmt: skip

    def delete(self, url: str, *, headers: Mapping[str, str], operation: str = "end_call") -> Any:
        """DELETE ``url`` (repeating it changes nothing) and return the decoded answer, if any."""
        return self.send("DELETE", url, headers=headers, idempotent=True, empty_ok=True, operation=operation)

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = False,
        status_errors: Mapping[int, type[AppError]] | None = None,
        empty_ok: bool = False,
        operation: str = "request",
        redact: Iterable[str] = (),
        expected: int | None = None,
        in_flight: int | None = None,
    ) -> Any:
        """One request through the circuit breaker, with retries where they are safe."""
        request = _Request(
            method, url, dict(headers), body, params, idempotent, status_errors or {}, empty_ok,
            tuple(value for value in redact if value), expected, in_flight,
        )  # fmt: skip
        self.breaker.before_call()
        started = time.perf_counter()
        # Any other exception (a bug, a greenlet killed) is a failure too: the breaker hears of
        # every call it let through, or a half-open trial would keep it open until a restart.
        ok, outcome = False, "internal_error"
        try:
            answer = self._send_with_retries(request)
            ok, outcome = True, "ok"
        except AppError as error:
            # Only a provider that is down or broken trips the breaker; one that refused
            # this call (bad request, our key, its rate limit) is up and answering.
            ok, outcome = not (isinstance(error, ProviderError) and is_outage(error)), error.code
            raise
        finally:
            self.breaker.record(ok=ok)
            self.observe(operation, outcome, started)
        return answer

    def observe(self, operation: str, outcome: str, started: float) -> None:
        """Record an operation's duration since ``started`` (``perf_counter``) for /metrics: a
        request's, all attempts included, or work an adapter does in process (LiveKit's token)."""
        PROVIDER_SECONDS.labels(self.provider, operation, outcome).observe(time.perf_counter() - started)

    def is_reachable(self, url: str, *, timeout_s: float, need_ok: bool = False) -> bool:
        """True when ``url`` answers with anything but a server error (or with 200 when
        ``need_ok``): the readiness probe. A 502 or 503 is a gateway saying the API is down,
        and every call would fail while the probe said ready."""
        try:
            response = self.client.get(url, timeout=timeout_s)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 if need_ok else response.status_code < 500

    def _send_with_retries(self, request: _Request) -> Any:
        """One request, repeated on transient failures while that is safe and within the deadline."""
        started = time.monotonic()
        sent = False  # an attempt may have reached the provider (any failure but a connection's)
        attempt = 1
        while True:
            remaining_s = self.deadline_s - (time.monotonic() - started)
            idempotent = request.idempotent
            in_flight = False  # an earlier attempt is still being served: not counted as one
            try:
                answer = self._exchange(request, remaining_s)
            except httpx.TimeoutException as exc:
                error: AppError = ProviderTimeout()
                retry = idempotent or isinstance(exc, httpx.ConnectTimeout)
                sent = sent or not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
                self._log_failure("timed out", exc)
            except httpx.TransportError as exc:
                error = ProviderUnavailable()
                retry = idempotent or isinstance(exc, httpx.ConnectError)
                sent = sent or not isinstance(exc, httpx.ConnectError)
                self._log_failure("unreachable", exc)
            except httpx.DecodingError as exc:  # an answer, but its Content-Encoding lied: never JSON
                error = ProviderBadResponse()
                retry, sent = False, True
                self._log_failure("answered a body that does not decode", exc)
            else:
                if answer.status_code < 300:
                    if request.empty_ok and not answer.content:
                        return None
                    return self._decode(answer, request.redact)
                if answer.status_code == request.expected:
                    words, status = self._redact(answer.text, request.redact), answer.status_code
                    log.info("%s refused the request with %s, as asked: %s", self.provider, status, words)
                    return None
                in_flight = idempotent and sent and answer.status_code == request.in_flight
                if in_flight:
                    log.info("%s is still serving an earlier attempt; asking again", self.provider)
                    error = ProviderTimeout()  # its outcome is not known yet
                else:
                    error = self._status_error(answer, request.status_errors, request.redact)
                retry, sent = in_flight or (idempotent and answer.status_code in RETRY_STATUSES), True
            backoff_s = IN_FLIGHT_WAIT_S if in_flight else 0.2 * 2 ** (attempt - 1)
            if (
                not retry
                or (attempt == self.attempts and not in_flight)
                or time.monotonic() - started + backoff_s + MIN_ATTEMPT_S > self.deadline_s
            ):
                if isinstance(error, ProviderError):
                    error.never_sent = not sent
                raise error
            time.sleep(backoff_s)
            attempt += 0 if in_flight else 1

    def _exchange(self, request: _Request, remaining_s: float) -> Answer:
        """One attempt: the request out and the whole answer read, on a kept-alive connection,
        within ``remaining_s`` in all (however slowly the provider trickles its answer).

        Straight to the client's transport for this URL (proxies included), skipping
        ``Client.send``'s cookies (one provider answer's Set-Cookie would ride along on every
        caller's next call), auth and redirects, none of which a provider call wants. On the
        app's own transport (``HTTP11Transport``) not even httpx's request and response objects
        are built; any other (a proxy's, a test's ``MockTransport``) gets an ``httpx.Request``.
        The JSON is encoded by orjson; the URL is parsed once per address.
        """
        url = _parsed(request.url)
        if request.params:
            url = url.copy_merge_params(request.params)
        own = dict(request.headers)
        content = b""
        if request.body is not None:
            content = orjson.dumps(request.body)
            own["Content-Type"] = "application/json"
        deadline = time.monotonic() + remaining_s
        timeout = self._timeout(remaining_s)
        backend = self.client._transport_for_url(url)
        if isinstance(backend, HTTP11Transport):
            if request.body is not None:
                own["Content-Length"] = str(len(content))
            raw = [(b"Host", url.netloc), *merged_headers(self.client.headers.raw, own)]
            return backend.exchange(request.method, url, raw, content, timeout, deadline)
        headers = self.client.headers.copy()
        headers.update(own)
        outgoing = httpx.Request(
            request.method,
            url,
            headers=headers,
            content=content or None,
            extensions={"timeout": timeout.as_dict()},
        )
        response = backend.handle_request(outgoing)
        try:
            response.read()
        finally:
            response.close()
        return Answer(response.status_code, response.headers.raw, response.content)

    def _timeout(self, remaining_s: float) -> httpx.Timeout:
        """The client's timeouts, cut down so that no attempt outlives the total deadline."""
        base = self.client.timeout
        if max(base.connect or INF, base.read or INF, base.write or INF, base.pool or INF) <= remaining_s:
            return base  # the first attempt, as a rule: the deadline is the timeouts' sum

        def cap(value: float | None) -> float:
            return min(value, remaining_s) if value is not None else remaining_s

        return httpx.Timeout(
            connect=cap(base.connect), read=cap(base.read), write=cap(base.write), pool=cap(base.pool)
        )

    def _decode(self, answer: Answer, private: tuple[str, ...] = ()) -> Any:
        """Decode a 2xx JSON body; HTML or malformed JSON means the provider is misbehaving."""
        try:
            return parse_json(answer.content)
        except ValueError as exc:
            log.error(
                "%s answered %s with a body that is not JSON: %s",
                self.provider, answer.status_code, self._redact(answer.text, private),
            )  # fmt: skip
            raise ProviderBadResponse() from exc

    def _status_error(
        self,
        answer: Answer,
        status_errors: Mapping[int, type[AppError]],
        private: tuple[str, ...] = (),
    ) -> AppError:
        """Map an error status to the error the browser sees, logging the provider's words."""
        status = answer.status_code
        log.error(
            "%s refused the request with %s: %s", self.provider, status, self._redact(answer.text, private)
        )
        if status in status_errors:
            return status_errors[status]()
        error: ProviderError
        if status in (401, 403):
            error = ProviderAuthError()
        elif status == 429:
            error = ProviderBusy(retry_after_s=_retry_after(answer.header("Retry-After")))
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

    def _redact(self, text: str, private: tuple[str, ...] = (), limit: int = 500) -> str:
        """Shorten an upstream body for the log; remove our secrets, the request's private values and
        anything that looks like a phone number (a provider may echo one in any answer)."""
        for secret in self.secrets:  # first: the patterns below would leave pieces of a key
            text = text.replace(secret, "***")
        for value in private:
            text = text.replace(value, "[private]").replace(value.lstrip("+"), "[private]")
        text = PHONE_LIKE.sub("[number]", text)
        text = " ".join(text.split())
        return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class _Request:
    """One request to a provider, as :meth:`Transport.send` repeats it."""

    method: str
    url: str
    headers: dict[str, str]
    body: Mapping[str, Any] | None
    params: Mapping[str, Any] | None
    idempotent: bool
    status_errors: Mapping[int, type[AppError]]
    empty_ok: bool
    redact: tuple[str, ...] = ()  # this request's private values (a phone number), kept out of logs
    expected: int | None = None  # a refusal asked for (a check's probe): answers None
    in_flight: int | None = None  # the answer to a repeat while an earlier attempt is served


def merged_headers(defaults: list[tuple[bytes, bytes]], own: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """The client's default headers with the request's ``own`` in place of those of the same name
    (any case), as bytes: what ``httpx.Headers.update`` gives, without building two ``Headers``
    a request (a sixth of the provider exchange's CPU in cProfile). Encoded as httpx does (UTF-8)."""
    given = [(name.encode(), value.encode()) for name, value in own.items()]
    replaced = {name.lower() for name, _ in given}
    return [(name, value) for name, value in defaults if name.lower() not in replaced] + given


@functools.lru_cache(maxsize=256)
def _parsed(url: str) -> httpx.URL:
    """``url`` parsed, once per address (a provider's create endpoint is the same every call)."""
    return httpx.URL(url)


def is_outage(error: ProviderError) -> bool:
    """True for failures that say the provider is down or broken, not that it refused us."""
    if isinstance(error, ProviderTimeout | ProviderUnavailable | ProviderBadResponse):
        return True
    return error.upstream_status is not None and error.upstream_status >= 500


def _spellings(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret as a provider may echo it: as is, JSON-escaped (``\\/`` too, as some encoders
    write a slash) and URL-encoded; the longest first, so that no form leaves part of another. A
    value set with spaces or a line break around it (a secret file's last newline) is sent
    stripped (``base.secret``), so it is masked stripped too."""
    forms: set[str] = set()
    for secret in filter(None, {spelling for value in secrets for spelling in (value, value.strip())}):
        escaped = json.dumps(secret)[1:-1]
        forms |= {secret, escaped, escaped.replace("/", "\\/"), quote(secret, safe=""), quote_plus(secret)}
    return tuple(sorted(forms, key=len, reverse=True))


def _retry_after(value: str | None) -> int:
    """Seconds from a ``Retry-After`` header (seconds, maybe with a fraction, or an HTTP date),
    rounded up and kept within an hour; a short wait when there is none or it makes no sense."""
    try:
        seconds = float(value or "")
    except ValueError:
        try:
            when = parsedate_to_datetime(value or "")
        except ValueError:
            return 5
        if when.tzinfo is None:  # "-0000": UTC, said without committing (RFC 5322)
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(1, min(3600, math.ceil(seconds))) if math.isfinite(seconds) else 5
