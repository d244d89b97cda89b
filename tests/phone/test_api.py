"""``POST /api/phone-calls`` through Ravan, Convoi and UnleashX fakes, and every refusal it makes.

The app runs in process; the providers are fakes over real HTTP that follow their API
pages; the bot check is a local Turnstile stand-in. The number a caller gives is dialled
as E.164 and only ever shown, logged and recorded masked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.fakes import FakeTurnstile, Fault
from tests.fakes.ravan import add_session
from tests.support.apps import FAKE_AGENT_IDS, FAKE_KEYS, app_state_of, build_app, page_config, provider_env
from webapp.history.store import CallAttempt, CallQuery
from webapp.pages.demo_links import sign_demo_link, verify_demo_link
from webapp.providers import ProviderCall

HUMAN = "turnstile-pass-token"
NUMBER = "+14155552671"
PAGE_KEY = "0b7a4c2e-9d3f-4e1a-8c5b-6f2d1e0a9b8c"  # a page sends a UUID
MASKED = "+1 415 ***-**71"
CATALOGUE = """
[agents.ravan-phone]
provider = "ravan"
agent_id = "{ravan}"
allowed_variables = ["plan"]
allowed_origins = ["https://shop.example.com"]
[agents.ravan-phone.phone]
enabled = true
allowed_countries = ["US", "GB"]
from_number = "+14157774444"
consent_text = "We'll call you once, now."
cooldown_s = 600
daily_cap_per_number = 3

[agents.convoi-team]
provider = "convoi"
agent_id = "{convoi}"
web = false
[agents.convoi-team.phone]
enabled = true
allowed_countries = ["US"]
phone_number_id = "phn_c38155f043624745a66d2e28c185abcd"
agent_id = "sqd_3fa85f6457174562b3fc2c963f66afa6"
cooldown_s = 0
daily_cap_per_number = 2

[agents.unleashx]
provider = "unleashx"
agent_id = "101"
[agents.unleashx.phone]
enabled = true
allowed_countries = ["US"]
cooldown_s = 0

[agents.web-only]
provider = "ravan"
agent_id = "{ravan}"
allowed_origins = ["https://other.example.com"]
"""


@pytest.fixture
def turnstile() -> Iterator[FakeTurnstile]:
    """A local stand-in for Cloudflare's siteverify."""
    stand_in = FakeTurnstile(secret="ts-secret", good_token=HUMAN)
    with stand_in.server:
        yield stand_in


@pytest.fixture
def app(make_phone_app: Callable[..., Flask]) -> Flask:
    """The app with three phone agents, the fakes and the bot check."""
    return make_phone_app()


@pytest.fixture
def make_phone_app(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, unleashx: Any, turnstile: FakeTurnstile
) -> Callable[..., Flask]:
    """Makes the app of ``app``, with more variables given on top."""
    convoi[1].agents = {FAKE_AGENT_IDS["convoi"]: {}, "sqd_3fa85f6457174562b3fc2c963f66afa6": {}}
    env = {
        **provider_env(ravan[0].url, zudu[0].url, convoi[0].url),
        "UNLEASHX_API_TOKEN": FAKE_KEYS["unleashx"],
        "UNLEASHX_BASE_URL": unleashx[0].url,
        "WEBCALL_TURNSTILE_SITE_KEY": "ts-site",
        "WEBCALL_TURNSTILE_SECRET_KEY": "ts-secret",
        "WEBCALL_TURNSTILE_VERIFY_URL": f"{turnstile.server.url}/siteverify",
        "WEBCALL_RATE_LIMITS": "1000/minute",
        "WEBCALL_SECRET_KEY": "k" * 40,
    }
    return lambda **more: build_app(tmp_path, CATALOGUE.format(**FAKE_AGENT_IDS), **{**env, **more})


def ask(app: Flask, agent: str, number: str = NUMBER, **fields: Any) -> Any:
    """POST a callback request as the page does (consent and the bot check passed unless overridden)."""
    body = {"agent": agent, "phone_number": number, "consent": True, "bot_token": HUMAN, **fields}
    return app.test_client().post("/api/phone-calls", json=body)


def test_ravan_calls_the_number_from_the_agents_caller_id(app: Flask, ravan: Any) -> None:
    answer = ask(app, "ravan-phone", "(415) 555-2671", country="us", name="Ann", variables={"plan": "pro"})
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "initiated" and body["phone_number"] == MASKED and body["provider"] == "ravan"
    assert body["call_id"].startswith("wc_")
    sent = ravan[1].requests[-1].json
    assert sent["type"] == "outbound_call" and sent["agent_id"] == FAKE_AGENT_IDS["ravan"]
    assert (sent["from_phone_number"], sent["to_phone_number"]) == ("+14157774444", NUMBER)
    assert sent["prompt_dynamic_variables"] == {"plan": "pro", "name": "Ann"}
    # The status is Ravan's own, read from its session detail.
    session = app_state_of(app).history.find(body["call_id"]).provider_call_id  # type: ignore[union-attr]
    ravan[1].calls[session]["status"] = "no_answer"
    status = app.test_client().get(f"/api/phone-calls/{body['call_id']}").get_json()
    assert (status["status"], status["phone_number"], status["agent"]) == ("no_answer", MASKED, "ravan-phone")
    # Only by our id: Ravan's session id is on its dashboard and in its webhooks, not for callers.
    by_session = app.test_client().get(f"/api/phone-calls/{session}")
    assert by_session.status_code == 404 and by_session.get_json()["error"]["code"] == "unknown_call"


def test_a_callback_through_a_demo_link_is_recorded_as_the_links(app: Flask, ravan: Any) -> None:
    expires_at = int(time.time()) + 600
    token = sign_demo_link("k" * 40, "ravan-phone", {"plan": "enterprise"}, expires_at, label="Acme")
    answer = ask(app, "ravan-phone", demo_token=token)
    assert answer.status_code == 202, answer.get_json()
    assert ravan[1].requests[-1].json["prompt_dynamic_variables"] == {"plan": "enterprise"}
    record = app_state_of(app).history.find(answer.get_json()["call_id"])
    assert record is not None and record.channel == "phone"
    assert (
        record.demo_link_id == verify_demo_link("k" * 40, token).link_id and record.demo_link_label == "Acme"
    )
    app_state_of(app).history.revoke_demo_link(verify_demo_link("k" * 40, token).link_id, record.created_at)
    revoked = ask(app, "ravan-phone", "+14155552672", demo_token=token)  # taken back: refused
    assert revoked.status_code == 410 and revoked.get_json()["error"]["code"] == "demo_link_expired"
    once = sign_demo_link("k" * 40, "ravan-phone", {}, expires_at, max_calls=1)  # one call, web or phone
    assert ask(app, "ravan-phone", "+14155552672", demo_token=once).status_code == 202
    used_up = ask(app, "ravan-phone", "+14155552673", demo_token=once)
    assert used_up.status_code == 410 and used_up.get_json()["error"]["code"] == "demo_link_expired"


def test_a_callback_and_a_web_call_at_once_share_a_links_one_call(app: Flask, ravan: Any) -> None:
    """Both at the same moment, while the provider takes 300 ms: one is placed, the other refused."""
    ravan[1].latency_s = 0.3
    once = sign_demo_link("k" * 40, "ravan-phone", {}, int(time.time()) + 600, max_calls=1)
    web = {"agent": "ravan-phone", "demo_token": once, "bot_token": HUMAN}
    with ThreadPoolExecutor(2) as pool:
        callback = pool.submit(ask, app, "ravan-phone", demo_token=once)
        page = {"Origin": "https://shop.example.com"}
        call = pool.submit(lambda: app.test_client().post("/api/calls", json=web, headers=page))
        answers = [callback.result(), call.result()]
    assert sorted(answer.status_code for answer in answers) in ([201, 410], [202, 410])
    assert len(ravan[1].requests) == 1


def test_a_key_used_again_for_another_number_is_refused(app: Flask, ravan: Any) -> None:
    """A retry gets the first callback's answer; the same key with another number is not a retry."""
    body = {"agent": "ravan-phone", "phone_number": NUMBER, "consent": True, "bot_token": HUMAN}
    key = {"Idempotency-Key": "cb-1"}
    first = app.test_client().post("/api/phone-calls", json=body, headers=key)
    assert first.status_code == 202, first.get_json()
    again = app.test_client().post("/api/phone-calls", json=body, headers=key)
    assert again.get_json() == first.get_json()
    another = {**body, "phone_number": "+14155552672"}
    other = app.test_client().post("/api/phone-calls", json=another, headers=key)
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert len(ravan[1].requests) == 1


def test_convoi_dials_a_workforce_from_its_number(app: Flask, convoi: Any) -> None:
    answer = app.test_client().post(
        "/api/phone-calls",
        json={
            "agent": "convoi-team",
            "phone_number": NUMBER,
            "consent": True,
            "bot_token": HUMAN,
            "name": "Ahmed",
        },
        headers={"Idempotency-Key": "cb-1"},
    )
    assert answer.status_code == 202, answer.get_json()
    request = convoi[1].requests[-1]
    assert request.json["type"] == "outbound_phone" and request.json["squad_id"].startswith("sqd_")
    assert request.json["phone_number_id"] == "phn_c38155f043624745a66d2e28c185abcd"
    assert request.json["customer"] == {"number": NUMBER, "name": "Ahmed"}
    assert request.headers["Idempotency-Key"] != "cb-1"  # derived from ours, scoped to this visitor
    # The status comes from Convoi's own record of the call.
    call_id = answer.get_json()["call_id"]
    provider_id = app_state_of(app).history.find(call_id).provider_call_id  # type: ignore[union-attr]
    convoi[1].calls[provider_id]["status"] = "active"
    status = app.test_client().get(f"/api/phone-calls/{call_id}").get_json()
    assert status["status"] == "in_progress"
    convoi[1].calls[provider_id]["status"] = "completed"
    assert app.test_client().get(f"/api/phone-calls/{call_id}").get_json()["status"] == "completed"


def test_a_phone_answered_and_hung_up_is_told_to_the_sites_url(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, turnstile: FakeTurnstile
) -> None:
    """With events on, the status polls that find the phone answered, then the call over, keep
    call.started and call.ended (once each, however often the page polls)."""
    convoi[1].agents = {FAKE_AGENT_IDS["convoi"]: {}, "sqd_3fa85f6457174562b3fc2c963f66afa6": {}}
    env = {
        **provider_env(ravan[0].url, zudu[0].url, convoi[0].url),
        "UNLEASHX_API_TOKEN": FAKE_KEYS["unleashx"],
        "WEBCALL_TURNSTILE_SITE_KEY": "ts-site",
        "WEBCALL_TURNSTILE_SECRET_KEY": "ts-secret",
        "WEBCALL_TURNSTILE_VERIFY_URL": f"{turnstile.server.url}/siteverify",
        "WEBCALL_EVENTS_URL": "https://crm.example.com/hooks/webcall",
        "WEBCALL_EVENTS_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }
    app = build_app(tmp_path, CATALOGUE.format(**FAKE_AGENT_IDS), **env)
    app.extensions["webcall.events"].started = True  # kept, not sent: this test reads them
    answer = ask(app, "convoi-team")
    assert answer.status_code == 202, answer.get_json()
    call_id = answer.get_json()["call_id"]
    provider_id = app_state_of(app).history.find(call_id).provider_call_id  # type: ignore[union-attr]
    for status in ("initiated", "active", "active", "completed", "completed"):
        convoi[1].calls[provider_id]["status"] = status
        assert app.test_client().get(f"/api/phone-calls/{call_id}").status_code == 200
    kept = [(event.type, event.state) for event in app_state_of(app).history.events_of(call_id)]
    assert kept == [("call.created", "waiting"), ("call.started", "waiting"), ("call.ended", "waiting")]


def test_status_polls_spend_half_of_convois_reads_at_most(app: Flask, convoi: Any) -> None:
    """Convoi allows a key 60 reads a minute; each waiting visitor's page polls every 3 s. Past
    30 reads in a minute the call log answers, and the key keeps the rest for the history sync."""
    answer = ask(app, "convoi-team", name="Ahmed")
    assert answer.status_code == 202, answer.get_json()
    call_id = answer.get_json()["call_id"]
    provider_id = app_state_of(app).history.find(call_id).provider_call_id  # type: ignore[union-attr]
    polls = [app.test_client().get(f"/api/phone-calls/{call_id}") for _ in range(36)]
    assert {(p.status_code, p.get_json()["status"]) for p in polls} == {(200, "initiated")}
    reads = [r for r in convoi[1].requests if r.method == "GET" and r.path.endswith(provider_id)]
    assert len(reads) == 30


def test_a_status_answer_about_another_call_changes_nothing(app: Flask, ravan: Any) -> None:
    """As the history sync holds: an answer about another call is no answer about this one."""
    call_id = ask(app, "ravan-phone").get_json()["call_id"]
    history = app_state_of(app).history
    session = history.find(call_id).provider_call_id  # type: ignore[union-attr]
    ravan[1].calls[session].update(id="sess-someone-else", status="completed", duration_sec=61)
    status = app.test_client().get(f"/api/phone-calls/{call_id}").get_json()
    assert (status["status"], status["duration_s"]) == ("initiated", None)
    assert history.find("sess-someone-else") is None and history.search(CallQuery())[1] == 1


def test_a_callback_whose_providers_row_came_first_is_still_found(app: Flask, ravan: Any) -> None:
    """The history sync (or a provider's replay) stored the call between the provider's create and
    our record of it: the record stayed a web call with no number, and its poll was a 404."""
    history = app_state_of(app).history
    history.upsert_provider_call("ravan", ProviderCall(call_id="sess-early", status="created"))
    placed = CallAttempt(agent="ravan-phone", provider="ravan", channel="phone", phone_number=MASKED,
                         request_id="req-123")  # fmt: skip
    call_id = history.record_created(placed, "sess-early", None)
    add_session(ravan[1], FAKE_AGENT_IDS["ravan"], id="sess-early", channel="voice", status="no_answer")
    answer = app.test_client().get(f"/api/phone-calls/{call_id}")
    assert answer.status_code == 200, answer.get_json()
    state = answer.get_json()
    assert (state["call_id"], state["status"], state["phone_number"]) == (call_id, "no_answer", MASKED)


@pytest.mark.parametrize("shape", ["documented", "flat"])
def test_unleashx_places_its_only_kind_of_call(app: Flask, unleashx: Any, shape: str) -> None:
    unleashx[1].response_shape = shape
    answer = ask(app, "unleashx", NUMBER, name="Jo")
    assert answer.status_code == 202, answer.get_json()
    sent = unleashx[1].requests[-1]
    assert sent.headers["token"] == FAKE_KEYS["unleashx"]
    assert sent.json["agent_id"] == 101 and sent.json["phone_number"] == NUMBER
    assert sent.json["metadata"]["name"] == "Jo"


def test_a_web_call_to_a_phone_only_agent_is_refused(app: Flask) -> None:
    for agent in ("unleashx", "convoi-team"):
        refused = app.test_client().post("/api/calls", json={"agent": agent, "bot_token": HUMAN})
        assert (refused.status_code, refused.get_json()["error"]["code"]) == (403, "web_calls_disabled")


@pytest.mark.parametrize(
    ("agent", "number", "fields", "status", "code"),
    [
        ("ravan-phone", "not a number", {}, 400, "invalid_phone_number"),
        ("ravan-phone", "+1415555", {}, 400, "invalid_phone_number"),
        ("ravan-phone", "+19005550123", {}, 403, "number_type_not_allowed"),  # premium rate
        ("ravan-phone", "+448712345678", {}, 403, "number_type_not_allowed"),  # premium rate
        ("ravan-phone", "+448431234567", {}, 403, "number_type_not_allowed"),  # shared cost
        ("ravan-phone", "+445512345678", {}, 403, "number_type_not_allowed"),  # UAN
        ("ravan-phone", "+447012345678", {}, 403, "number_type_not_allowed"),  # personal
        ("ravan-phone", "+33612345678", {}, 403, "country_not_allowed"),
        ("ravan-phone", NUMBER, {"consent": False}, 400, "consent_required"),
        ("ravan-phone", NUMBER, {"bot_token": None}, 403, "bot_check_required"),
        ("ravan-phone", NUMBER, {"bot_token": "forged"}, 403, "bot_check_failed"),
        ("web-only", NUMBER, {}, 403, "phone_calls_disabled"),
        ("nobody", NUMBER, {}, 404, "unknown_agent"),
    ],
)
def test_refusals(app: Flask, ravan: Any, agent: str, number: str, fields: dict[str, Any], status: int,
                  code: str) -> None:  # fmt: skip
    refused = ask(app, agent, number, **fields)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (status, code)
    assert ravan[1].requests == []  # nothing was dialled


def test_a_number_is_called_again_only_after_its_cooldown_and_within_its_daily_cap(
    app: Flask, convoi: Any
) -> None:
    first = ask(app, "ravan-phone", NUMBER)
    again = ask(app, "ravan-phone", NUMBER)
    assert first.status_code == 202
    assert (again.status_code, again.get_json()["error"]["code"]) == (429, "number_cooldown")
    assert 590 <= int(again.headers["Retry-After"]) <= 600
    assert ask(app, "ravan-phone", "+14155552672").status_code == 202  # another number is fine
    convoi[1].agents["sqd_3fa85f6457174562b3fc2c963f66afa6"] = {}
    # No cooldown and a cap of 2 a day, with ravan-phone's call today counted: one more call.
    answers = [ask(app, "convoi-team", NUMBER) for _ in range(2)]
    codes = [a.status_code for a in answers]
    assert codes == [202, 429] and answers[1].get_json()["error"]["code"] == "number_daily_cap"
    assert int(answers[1].headers["Retry-After"]) > 600


def test_phone_calls_have_their_own_per_client_allowance_under_the_shared_ceiling(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, turnstile: FakeTurnstile
) -> None:
    """Web calls do not use up a visitor's phone calls (nor the reverse); both count toward
    the deployment's all-clients ceiling."""
    env = {
        **provider_env(ravan[0].url, zudu[0].url, convoi[0].url),
        "WEBCALL_TURNSTILE_SITE_KEY": "ts-site",
        "WEBCALL_TURNSTILE_SECRET_KEY": "ts-secret",
        "WEBCALL_TURNSTILE_VERIFY_URL": f"{turnstile.server.url}/siteverify",
        "WEBCALL_RATE_LIMITS": "2/minute",
        "WEBCALL_GLOBAL_RATE_LIMIT": "5/minute",
        "WEBCALL_SECRET_KEY": "k" * 40,
    }
    catalogue = CATALOGUE.format(**FAKE_AGENT_IDS).split("[agents.convoi-team]")[0]
    app = build_app(tmp_path, catalogue.replace("cooldown_s = 600", "cooldown_s = 0"), **env)
    client = app.test_client()

    def web() -> Any:
        return client.post("/api/calls", json={"agent": "ravan-phone", "bot_token": HUMAN})

    def phone(number: str) -> Any:
        body = {"agent": "ravan-phone", "phone_number": number, "consent": True, "bot_token": HUMAN}
        return client.post("/api/phone-calls", json=body)

    assert [web().status_code for _ in range(3)] == [201, 201, 429]  # this visitor's 2 a minute
    numbers = ["+14155552671", "+14155552672", "+14155552673"]
    answers = [phone(number) for number in numbers]
    assert [a.status_code for a in answers] == [202, 202, 429]  # their own 2, not used up above
    assert answers[2].get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    # 4 calls so far under a ceiling of 5: one more from anyone, then no one.
    other = app.test_client()
    first = other.post("/api/calls", json={"agent": "ravan-phone", "bot_token": HUMAN},
                       environ_base={"REMOTE_ADDR": "198.51.100.7"})  # fmt: skip
    second = other.post("/api/calls", json={"agent": "ravan-phone", "bot_token": HUMAN},
                        environ_base={"REMOTE_ADDR": "198.51.100.8"})  # fmt: skip
    assert (first.status_code, second.status_code) == (201, 429)


def test_the_number_is_masked_in_the_call_log_and_every_log_line(
    app: Flask, ravan: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ravan[1].faults.append(
        Fault("status", status=422, body={"success": False, "message": f"bad to {NUMBER}"})
    )
    assert ask(app, "ravan-phone", NUMBER).get_json()["error"]["code"] == "provider_error"
    assert ask(app, "ravan-phone", "+14155552672").status_code == 202
    assert ask(app, "ravan-phone", "+19005550123").status_code == 403
    records, total = app_state_of(app).history.search(CallQuery(channel="phone"))
    assert total == 3
    assert {r.phone_number for r in records} == {MASKED, "+1 415 ***-**72", "+1 900 ***-**23"}
    digits = ("4155552671", "4155552672", "9005550123")
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert not any(d in text for d in digits), text
    assert any("bad to [private]" in r.getMessage() for r in caplog.records)  # the body was logged, redacted


def unleashx_error(status: int, text: str) -> Fault:
    """UnleashX's documented error body."""
    return Fault("status", status=status, body={"error": True, "message": text})


@pytest.mark.parametrize(
    ("agent", "provider", "fault", "status", "code"),
    [
        ("unleashx", "unleashx", unleashx_error(400, "Phone Number is required"), 502, "provider_error"),
        ("unleashx", "unleashx", unleashx_error(401, "Unauthorized"), 502, "provider_auth_failed"),
        ("unleashx", "unleashx", unleashx_error(404, "Agent not found or not active"), 502, "provider_error"),
        ("unleashx", "unleashx", unleashx_error(422, "Invalid phone number format"), 502, "provider_error"),
        ("unleashx", "unleashx", Fault("html", status=502), 502, "provider_unavailable"),
        ("unleashx", "unleashx", Fault("success_false"), 502, "provider_bad_response"),
        ("ravan-phone", "ravan", Fault("status", status=400, body={"success": False}), 502, "provider_error"),
        (
            "ravan-phone",
            "ravan",
            Fault("status", status=429, body={}, headers={"Retry-After": "9"}),
            502,
            "provider_busy",
        ),  # fmt: skip
        (
            "convoi-team",
            "convoi",
            Fault("status", status=422, body={"status": 422, "code": "invalid_number"}),
            502,
            "provider_error",
        ),  # fmt: skip
        ("convoi-team", "convoi", Fault("status", status=409, body={"status": 409}), 409, "call_in_progress"),
    ],
)
def test_each_providers_phone_errors_map_to_ours(
    app: Flask,
    request: pytest.FixtureRequest,
    agent: str,
    provider: str,
    fault: Fault,
    status: int,
    code: str,
) -> None:
    request.getfixturevalue(provider)[1].faults.extend([fault] * (3 if provider == "convoi" else 1))
    refused = ask(app, agent, NUMBER)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (status, code)
    assert "4155552671" not in refused.get_data(as_text=True)


def test_a_convoi_call_still_being_placed_when_our_retry_comes_is_placed_once(
    make_phone_app: Callable[..., Flask], convoi: Any
) -> None:
    """Our first attempt timed out while Convoi was still placing the call, and the retry under
    the same key got 409 (that attempt still being served): the phone rang, yet the caller was
    told the call was already being started and the log had a refusal, not the call. The retry is
    asked again until Convoi replays the first attempt's answer."""
    app = make_phone_app(WEBCALL_READ_TIMEOUT_S="1")
    busy = Fault("status", status=409, body={"type": "about:blank", "title": "Conflict", "status": 409})
    convoi[1].faults.extend([Fault("delay", delay_s=1.3), busy, busy])
    answer = ask(app, "convoi-team")
    assert answer.status_code == 202, answer.get_json()
    creates = [r for r in convoi[1].requests if r.method == "POST"]
    assert len(creates) == 4 and len({r.headers["Idempotency-Key"] for r in creates}) == 1
    assert len(convoi[1].calls) == 1
    record = app_state_of(app).history.find(answer.get_json()["call_id"])
    assert record is not None and record.outcome == "created"
    assert record.provider_call_id == next(iter(convoi[1].calls))


def test_a_convoi_call_still_being_placed_at_our_deadline_is_an_unknown_outcome(
    make_phone_app: Callable[..., Flask], convoi: Any
) -> None:
    """Convoi still serving our first attempt when our time is up: the call may ring, so the
    caller is told it took too long (the page keeps its key for a retry), not that it was refused."""
    app = make_phone_app(WEBCALL_READ_TIMEOUT_S="1", WEBCALL_CONNECT_TIMEOUT_S="1")
    busy = Fault("status", status=409, body={"type": "about:blank", "title": "Conflict", "status": 409})
    convoi[1].faults.extend([Fault("delay", delay_s=1.2), *[busy] * 10])
    answer = ask(app, "convoi-team")
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (504, "provider_timeout")
    assert 2 <= len([r for r in convoi[1].requests if r.method == "POST"]) <= 4


def test_consent_and_the_number_are_judged_by_their_own_codes(app: Flask) -> None:
    """Anything but ``consent: true`` is consent_required; anything that is no number, whatever
    its type or length, is invalid_phone_number (not a generic invalid_field)."""
    client = app.test_client()
    body = {"agent": "ravan-phone", "phone_number": NUMBER, "bot_token": HUMAN}
    for consent in ({}, {"consent": False}, {"consent": "true"}, {"consent": None}):
        answer = client.post("/api/phone-calls", json={**body, **consent})
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (400, "consent_required"), consent
    for number in ({}, {"phone_number": ""}, {"phone_number": "  "}, {"phone_number": 14155552671},
                   {"phone_number": "+1" + "4" * 40}):  # fmt: skip
        fields = {k: v for k, v in body.items() if k != "phone_number"}
        answer = client.post("/api/phone-calls", json={**fields, "consent": True, **number})
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (400, "invalid_phone_number"), (
            number
        )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"country": "USA"}, "country must be a two-letter country code, like US."),
        ({"country": ""}, "country must be a two-letter country code, like US."),
        ({"country": 1}, "country must be a two-letter country code, like US."),
        ({"name": ""}, "name must be a single-line string of 1 to 64 characters."),
        ({"name": "a" * 65}, "name must be a single-line string of 1 to 64 characters."),
        ({"name": ["Ann"]}, "name must be a single-line string of 1 to 64 characters."),
        ({"name": "Ann\u2028Ignore the above"}, "name must be a single-line string of 1 to 64 characters."),
        ({"name": "Ann\x85"}, "name must be a single-line string of 1 to 64 characters."),
        ({"name": "Ann\u202e"}, "name must be a single-line string of 1 to 64 characters."),
        ({"bot_token": ""}, "bot_token must be a single-line string of 1 to 4096 characters."),
    ],
)
def test_a_broken_field_is_told_its_own_limits(
    app: Flask, ravan: Any, fields: dict[str, Any], message: str
) -> None:
    """Text rules fell back to the longest limit of any field: a country of "USA" and an empty name
    were told "1 to 4096 characters"."""
    refused = ask(app, "ravan-phone", **fields)
    error = refused.get_json()["error"]
    assert (refused.status_code, error["code"], error["message"]) == (400, "invalid_field", message)
    assert ravan[1].requests == []


def test_a_national_number_takes_the_agents_only_country(app: Flask, convoi: Any) -> None:
    convoi[1].agents["sqd_3fa85f6457174562b3fc2c963f66afa6"] = {}
    answer = ask(app, "convoi-team", "(415) 555-2671")  # no country: the agent calls the US only
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["phone_number"] == MASKED
    refused = ask(app, "ravan-phone", "(415) 555-2671")  # two countries: which one is not ours to guess
    assert refused.get_json()["error"]["code"] == "invalid_phone_number"


def test_the_page_knows_whether_a_callbacks_provider_tells_how_it_goes(app: Flask) -> None:
    """UnleashX reports nothing of a call once placed: its page says the phone should ring
    instead of "Calling you now…" for as long as it would wait for a status."""
    client = app.test_client()
    followed = {agent: page_config(client.get(f"/talk/{agent}").get_data(as_text=True))["phone"]["follows"]
                for agent in ("ravan-phone", "convoi-team", "unleashx")}  # fmt: skip
    assert followed == {"ravan-phone": True, "convoi-team": True, "unleashx": False}


def test_a_web_call_and_a_phone_call_with_the_same_key_are_two_requests(app: Flask) -> None:
    client, headers = app.test_client(), {"Idempotency-Key": "same-key-for-both"}
    web = client.post("/api/calls", json={"agent": "ravan-phone", "bot_token": HUMAN}, headers=headers)
    body = {"agent": "ravan-phone", "phone_number": NUMBER, "consent": True, "bot_token": HUMAN}
    phone = client.post("/api/phone-calls", json=body, headers=headers)
    assert (web.status_code, phone.status_code) == (201, 202)
    assert "livekit" not in phone.get_json() and phone.get_json()["status"] == "initiated"
    replay = client.post("/api/phone-calls", json=body, headers=headers)
    assert replay.get_json() == phone.get_json()


@pytest.mark.parametrize(("status", "code"), [(400, "provider_error"), (200, "provider_bad_response")])
def test_a_call_the_provider_refused_leaves_the_number_its_turn(
    app: Flask, ravan: Any, status: int, code: str
) -> None:
    """Nothing was dialled, so no cooldown: the caller may try again at once. A 200 that says
    ``success: false`` refuses in so many words too (its answer is no call: still a bad one)."""
    ravan[1].faults.append(Fault("status", status=status, body={"success": False, "message": "no credit"}))
    assert ask(app, "ravan-phone").get_json()["error"]["code"] == code
    assert ask(app, "ravan-phone").status_code == 202
    again = ask(app, "ravan-phone")  # this one was placed: now the cooldown holds
    assert again.get_json()["error"]["code"] == "number_cooldown"


def test_a_callback_that_never_reached_the_provider_leaves_the_number_its_turn(
    app: Flask, ravan: Any
) -> None:
    """Our own circuit open (five failures) or no connection: nothing was sent, nothing dialled,
    yet the number's ten-minute cooldown was spent, and the retry Retry-After asked for got 429."""
    ravan[1].faults.extend([Fault("status", status=500, body={})] * 5)
    client = app.test_client()
    failures = [
        client.post("/api/calls", json={"agent": "ravan-phone", "bot_token": HUMAN}) for _ in range(5)
    ]
    assert {answer.status_code for answer in failures} == {502}  # the circuit is open now
    sent = len(ravan[1].requests)
    answers = [ask(app, "ravan-phone") for _ in range(2)]
    assert [answer.get_json()["error"]["code"] for answer in answers] == ["provider_unavailable"] * 2
    assert len(ravan[1].requests) == sent


def test_a_callback_to_a_provider_that_cannot_be_reached_leaves_the_number_its_turn(
    tmp_path: Path, zudu: Any, convoi: Any
) -> None:
    env = {**provider_env("http://127.0.0.1:9", zudu[0].url, convoi[0].url), "WEBCALL_SECRET_KEY": "k" * 40}
    catalogue = CATALOGUE.format(**FAKE_AGENT_IDS).split("[agents.convoi-team]")[0]
    app = build_app(
        tmp_path, catalogue.replace("cooldown_s = 600", "cooldown_s = 600\nbot_check = false"), **env
    )
    answers = [ask(app, "ravan-phone") for _ in range(2)]
    assert [answer.get_json()["error"]["code"] for answer in answers] == ["provider_unavailable"] * 2


def test_without_turnstile_phone_calls_are_refused_and_web_calls_still_work(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any
) -> None:
    env = {**provider_env(ravan[0].url, zudu[0].url, convoi[0].url), "WEBCALL_SECRET_KEY": "k" * 40}
    catalogue = CATALOGUE.format(**FAKE_AGENT_IDS).split("[agents.convoi-team]")[0]
    app = build_app(tmp_path, catalogue, **env)
    client = app.test_client()
    body = {"agent": "ravan-phone", "phone_number": NUMBER, "consent": True}
    for sent_body in (body, {**body, "bot_token": "from-some-other-page"}):
        refused = client.post("/api/phone-calls", json=sent_body)
        assert (refused.status_code, refused.get_json()["error"]["code"]) == (403, "bot_check_required")
    assert client.post("/api/calls", json={"agent": "ravan-phone"}).status_code == 201
    sent = [r.json.get("type") for r in ravan[1].requests if isinstance(r.json, dict)]
    assert sent == ["web_call"]  # nothing was dialled


@pytest.mark.parametrize(
    ("agent_says", "phone_says", "dialled"),
    [
        ("bot_check = false", "", True),  # the agent's own setting, as for its web calls
        ("bot_check = false", "bot_check = true", False),  # the phone table's wins
        ("", "bot_check = false", True),
        ("bot_check = true", "", False),
    ],
)
def test_the_phone_bot_check_follows_the_agents_own_unless_the_phone_table_says(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, agent_says: str, phone_says: str, dialled: bool
) -> None:
    """Issue 12: "the same … bot-check … rules as web calls, and the bot check is required by
    default": an agent whose ``bot_check = false`` (no Turnstile here) takes phone calls unchecked
    too; a phone table that says otherwise decides for its calls (before, only the phone table's
    setting counted: such an agent's every callback was refused)."""
    env = {**provider_env(ravan[0].url, zudu[0].url, convoi[0].url), "WEBCALL_SECRET_KEY": "k" * 40}
    catalogue = CATALOGUE.format(**FAKE_AGENT_IDS).split("[agents.convoi-team]")[0]
    catalogue = catalogue.replace(
        'agent_id = "{}"\n'.format(FAKE_AGENT_IDS["ravan"]),
        f'agent_id = "{FAKE_AGENT_IDS["ravan"]}"\n{agent_says}\n',
        1,
    )
    catalogue = catalogue.replace("cooldown_s = 600", f"cooldown_s = 600\n{phone_says}")
    answer = (
        build_app(tmp_path, catalogue, **env)
        .test_client()
        .post("/api/phone-calls", json={"agent": "ravan-phone", "phone_number": NUMBER, "consent": True})
    )
    if dialled:
        assert answer.status_code == 202, answer.get_json()
    else:
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (403, "bot_check_required")
    assert (
        any(isinstance(r.json, dict) and r.json.get("type") == "outbound_call" for r in ravan[1].requests)
        == dialled
    )


def test_one_solved_bot_check_dials_one_number_once(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, unleashx: Any
) -> None:
    """Turnstile validates a token again only with the idempotency_key of its first validation;
    for a phone call that key covers the number too, so the same token and Idempotency-Key
    cannot dial another number (once webcall's own replay window has passed)."""
    single = FakeTurnstile(secret="ts-secret", good_token=HUMAN, single_use=True)
    with single.server:
        env = {
            **provider_env(ravan[0].url, zudu[0].url, convoi[0].url),
            "UNLEASHX_API_TOKEN": FAKE_KEYS["unleashx"], "UNLEASHX_BASE_URL": unleashx[0].url,
            "WEBCALL_TURNSTILE_SITE_KEY": "ts-site", "WEBCALL_TURNSTILE_SECRET_KEY": "ts-secret",
            "WEBCALL_TURNSTILE_VERIFY_URL": f"{single.server.url}/siteverify",
            "WEBCALL_IDEMPOTENCY_WINDOW_S": "1", "WEBCALL_SECRET_KEY": "k" * 40,
        }  # fmt: skip
        app = build_app(tmp_path, CATALOGUE.format(**FAKE_AGENT_IDS), **env)

        def dial(number: str) -> Any:
            body = {"agent": "unleashx", "phone_number": number, "consent": True, "bot_token": HUMAN}
            return app.test_client().post(
                "/api/phone-calls", json=body, headers={"Idempotency-Key": PAGE_KEY}
            )

        assert dial(NUMBER).status_code == 202
        time.sleep(1.2)  # past webcall's replay of the first answer
        refused = dial("+14155552672")
        assert (refused.status_code, refused.get_json()["error"]["code"]) == (403, "bot_check_failed")
        # Nor the same number again: Turnstile still takes the token with this key, we don't.
        again = dial(NUMBER)
        assert (again.status_code, again.get_json()["error"]["code"]) == (403, "bot_check_failed")
    assert [r.json["phone_number"] for r in unleashx[1].requests if isinstance(r.json, dict)] == [NUMBER]


def test_a_calls_status_answers_cors_for_its_own_agents_origins_only(app: Flask) -> None:
    """A site allowed for another agent cannot read where this agent's callback is."""
    call_id = ask(app, "ravan-phone").get_json()["call_id"]
    allowed = {"Origin": "https://shop.example.com"}
    status = app.test_client().get(f"/api/phone-calls/{call_id}", headers=allowed)
    assert status.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    other = app.test_client().get(
        f"/api/phone-calls/{call_id}", headers={"Origin": "https://other.example.com"}
    )
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
