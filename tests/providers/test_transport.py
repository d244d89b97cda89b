"""The provider transport: circuit breaker, safe retries, and one deadline for all attempts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from tests.fakes import Fault
from tests.support.apps import codes, post
from webapp.errors import ProviderError
from webapp.providers.breaker import CircuitBreaker
from webapp.providers.transport import Transport

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.convoi]
provider = "convoi"
agent_id = "{convoi}"
"""


def test_circuit_breaker_fails_fast_and_readyz_reports_it(make_app: Any, ravan: Any) -> None:
    app = make_app()
    ravan[1].faults.extend(Fault("status", status=500, body={}) for _ in range(5))
    assert codes([post(app, {"agent": "ravan"}) for _ in range(5)]) == ["provider_error"] * 5
    fast = post(app, {"agent": "ravan"})
    assert (fast.status_code, fast.get_json()["error"]["code"]) == (502, "provider_unavailable")
    assert int(fast.headers["Retry-After"]) >= 1
    assert len(ravan[1].requests) == 5  # the sixth never reached the provider
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["provider:ravan"] == "circuit_open"


def test_readyz_reports_a_circuit_that_opened_since_its_last_probe(make_app: Any, ravan: Any) -> None:
    """The network probe is cached for a few seconds; the circuit's state is not: a load
    balancer stops sending calls as soon as this process would refuse them."""
    app = make_app()
    assert app.test_client().get("/readyz").get_json()["checks"]["provider:ravan"] == "ok"
    ravan[1].faults.extend(Fault("status", status=500, body={}) for _ in range(5))
    assert codes([post(app, {"agent": "ravan"}) for _ in range(5)]) == ["provider_error"] * 5
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["provider:ravan"] == "circuit_open"


def test_refusals_do_not_trip_the_breaker(make_app: Any, ravan: Any) -> None:
    app = make_app()
    ravan[1].faults.extend(Fault("status", status=400, body={}) for _ in range(6))
    assert codes([post(app, {"agent": "ravan"}) for _ in range(6)]) == ["provider_error"] * 6
    assert post(app, {"agent": "ravan"}).status_code == 201


def test_retries_stay_within_the_total_deadline(make_app: Any, convoi: Any) -> None:
    """Convoi's create is retried (idempotent), but never past connect + read timeout in all."""
    convoi[1].faults.extend(Fault("delay", delay_s=3) for _ in range(3))
    app = make_app(WEBCALL_CONNECT_TIMEOUT_S="0.5", WEBCALL_READ_TIMEOUT_S="1")
    started = time.monotonic()
    response = post(app, {"agent": "convoi"})
    assert (response.status_code, response.get_json()["error"]["code"]) == (504, "provider_timeout")
    assert time.monotonic() - started < 1.8  # one 1 s attempt; another would end past 1.5 s


def test_a_body_that_does_not_decode_is_a_bad_response(make_app: Any, ravan: Any) -> None:
    """An answer whose Content-Encoding lies is the provider's fault, answered as such, not ours."""
    app = make_app()
    ravan[1].faults.append(Fault("status", status=200, body="not gzip", headers={"Content-Encoding": "gzip"}))
    broken = post(app, {"agent": "ravan"})
    assert (broken.status_code, broken.get_json()["error"]["code"]) == (502, "provider_bad_response")
    assert post(app, {"agent": "ravan"}).status_code == 201


def test_a_trial_call_that_fails_in_any_way_lets_the_breaker_close_later() -> None:
    """A half-open breaker lets one trial call through. Whatever ends it, an exception that is no
    AppError included (here a bug), the breaker hears of it: else it would refuse every call until
    the process restarts."""
    outcomes: list[httpx.Response | Exception] = [
        httpx.Response(500, json={}), RuntimeError("a bug"), httpx.Response(200, json={"ok": True}),
    ]  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    breaker = CircuitBreaker(threshold=1, cooldown_s=0.1)
    client = httpx.Client(transport=httpx.MockTransport(answer))
    transport = Transport(client, provider="test", attempts=1, breaker=breaker)
    with pytest.raises(ProviderError):
        transport.get_json("http://provider.test/v1", headers={})
    time.sleep(0.2)
    with pytest.raises(RuntimeError):
        transport.get_json("http://provider.test/v1", headers={})  # the trial
    assert breaker.state == "open"  # a failure: another cool-down, then another trial
    time.sleep(0.2)
    assert transport.get_json("http://provider.test/v1", headers={}) == {"ok": True}
    assert breaker.state == "closed"


def test_a_key_the_provider_echoes_is_masked_whole_in_the_log(
    make_app: Any, ravan: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Secrets go first: the phone-number pattern would otherwise cut a key's digits out and leave
    the rest of it, no longer matching, in the log."""
    key = "zK9+12345678Qw/Tr0pXyZ=="
    app = make_app(RAVAN_API_KEY=key)
    ravan[1].faults.append(Fault("status", status=401, body=f"invalid API secret {key}"))
    assert codes([post(app, {"agent": "ravan"})]) == ["provider_auth_failed"]
    assert "invalid API secret ***" in caplog.text
    assert "Tr0pXyZ" not in caplog.text


def test_a_key_the_provider_echoes_escaped_is_masked_too(
    make_app: Any, ravan: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider may echo the key inside JSON (a slash written \\/ by some encoders) or a URL."""
    key = "sk/Tr0pXyZ+wq=="
    app = make_app(RAVAN_API_KEY=key)
    echoes = ['{"error": "bad key sk\\/Tr0pXyZ+wq=="}', "see https://x.example/?key=sk%2FTr0pXyZ%2Bwq%3D%3D"]
    for body in echoes:
        ravan[1].faults.append(Fault("status", status=401, body=body))
    assert codes([post(app, {"agent": "ravan"}) for _ in echoes]) == ["provider_auth_failed"] * 2
    assert caplog.text.count("***") >= 2 and "Tr0pXyZ" not in caplog.text


def test_retry_after_is_read_in_both_of_its_forms(make_app: Any, ravan: Any) -> None:
    """A provider's Retry-After is seconds (a fraction too) or an HTTP date (RFC 9110, 10.2.3):
    rounded up, at least 1 s, at most an hour."""
    app = make_app()
    in_two_minutes = format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True)
    values = ["2.5", in_two_minutes, "Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 21 Oct 2035 07:28:00 GMT"]
    for value in values:
        ravan[1].faults.append(Fault("status", status=429, body={}, headers={"Retry-After": value}))
    answers = [post(app, {"agent": "ravan"}) for _ in values]
    assert codes(answers) == ["provider_busy"] * 4
    waits = [int(answer.headers["Retry-After"]) for answer in answers]
    assert waits[0] == 3 and 100 <= waits[1] <= 120 and waits[2:] == [1, 3600]


def test_a_key_set_with_a_line_break_is_masked_as_it_is_sent(
    make_app: Any, ravan: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A key read from a secret file keeps the file's last newline; it is sent stripped, and the
    provider echoing it back stripped was logged in clear."""
    key = "rv_live_Tr0pXyZ12"
    app = make_app(RAVAN_API_KEY=f" {key}\n")
    ravan[1].faults.append(Fault("status", status=401, body=f'{{"message": "invalid api key {key}"}}'))
    assert codes([post(app, {"agent": "ravan"})]) == ["provider_auth_failed"]
    assert "invalid api key ***" in caplog.text
    assert "Tr0pXyZ" not in caplog.text
