"""No secret ever leaves the server: not in an answer, a header, a page or a log line.

Every credential gets a distinctive value containing ``LEAKCHECK``; the app runs against the
provider fakes (over real HTTP on loopback) and a local Turnstile stand-in; then every page,
every endpoint and every failure we can provoke is driven, including providers that echo our
key back in their error bodies. Afterwards no answer and no log record (root logger at DEBUG,
the app's own loggers at DEBUG) may contain a secret, or even the marker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.fakes import FakeServer, FakeState, FakeTurnstile, Fault
from tests.fakes.receiver import Receiver
from tests.support.apps import FAKE_AGENT_IDS, OfflineLiveKit
from tests.support.logs import access_lines
from tests.support.stack import start_app_server
from webapp import create_app
from webapp.errors import ConfigError
from webapp.ops.logging import json_formatter, mask_secret_paths
from webapp.pages.demo_links import sign_demo_link
from webapp.settings import Settings

MARKER = "LEAKCHECK"
SECRETS = {
    "RAVAN_API_KEY": "rvn-LEAKCHECK-1a2b3c4d5e6f",
    "ZUDU_API_KEY": "zudu-key-LEAKCHECK-7a8b9c0d",
    "ZUDU_API_SECRET": "zudu-secret-LEAKCHECK-2e3f4a5b",
    "CONVOI_API_KEY": "sk_live_LEAKCHECK_6c7d8e9f",
    "UNLEASHX_API_TOKEN": "ux-token-LEAKCHECK-0a1b2c3d",
    "RETELL_API_KEY": "key_LEAKCHECK_retell_3c4d5e6f",
    "ELEVENLABS_API_KEY": "sk_LEAKCHECK_elevenlabs_7a8b9c0d",
    "LIVEKIT_API_SECRET": "lk-secret-LEAKCHECK-4e5f6a7b8c9d0e1f",
    "WEBCALL_SECRET_KEY": "webcall-secret-LEAKCHECK-5c6d7e8f9a0b1c2d3e4f",
    "WEBCALL_TURNSTILE_SECRET_KEY": "ts-secret-LEAKCHECK-6e7f8a9b",
    "WEBCALL_METRICS_TOKEN": "metrics-LEAKCHECK-0a9b8c7d6e5f",
    "WEBCALL_WEBHOOK_TOKEN": "whk_LEAKCHECK_7d8e9f0a1b2c3d4e5f6a7b8c9d",
    "WEBCALL_ADMIN_PASSWORD": "admin password LEAKCHECK 3e4f",
    "WEBCALL_ADMIN_TOKEN": "adm_LEAKCHECK_5a6b7c8d9e0f1a2b3c4d5e6f7a",
    "WEBCALL_EVENTS_SECRET": "whsec_LEAKCHECKeventsSecretOf33BytesInBase64abcdef",  # 33 bytes
}
EVENTS_URL = "http://127.0.0.1:9/hooks"  # where nothing listens (the drive has a receiver)
WEBHOOK = f"/webhooks/ravan/{SECRETS['WEBCALL_WEBHOOK_TOKEN']}"
ORG = "org_fake"
HUMAN = "turnstile-pass-token"
CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.zudu]
provider = "zudu"
agent_id = "{zudu}"

[agents.convoi]
provider = "convoi"
agent_id = "{convoi}"

[agents.retell]
provider = "retell"
agent_id = "{retell}"
allowed_variables = ["name"]

[agents.elevenlabs]
provider = "elevenlabs"
agent_id = "{elevenlabs}"
allowed_variables = ["name"]

[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
allowed_variables = ["name"]

[agents.strict]
provider = "livekit"
agent_id = "webcall-demo"
ip_rate_limit = "1/minute"

[agents.callback]
provider = "ravan"
agent_id = "{ravan}"
[agents.callback.phone]
enabled = true
allowed_countries = ["US"]
from_number = "+14157774444"
"""
# Phone numbers callers give: they may appear only masked, wherever they go.
NUMBERS = ("+14155552671", "+14155552699", "+19005550123")


@dataclass
class Drive:
    """The app under test, its fakes, and every answer it gave (labelled by the request)."""

    app: Flask
    fakes: dict[str, FakeState]
    turnstile: FakeTurnstile
    receiver: Receiver
    answers: list[tuple[str, TestResponse]] = field(default_factory=list)

    def get(self, path: str) -> TestResponse:
        """GET ``path`` and remember the answer."""
        return self._keep(f"GET {path}", self.app.test_client().get(path))

    def call(self, body: dict[str, Any] | None = None, **options: Any) -> TestResponse:
        """POST ``/api/calls`` (JSON ``body`` with the bot-check token, or raw ``data``)."""
        if body is not None:
            options["json"] = {"bot_token": HUMAN, **body}
        label = f"POST /api/calls {options.get('json') or options.get('data', b'')[:60]!r}"
        return self._keep(label, self.app.test_client().post("/api/calls", **options))

    def open(self, method: str, path: str, **options: Any) -> TestResponse:
        """Any other method on ``path``."""
        label = f"{method} {mask_secret_paths(path)}"
        return self._keep(label, self.app.test_client().open(path, method=method, **options))

    def _keep(self, label: str, response: TestResponse) -> TestResponse:
        """Remember ``response`` under ``label`` and return it."""
        self.answers.append((label, response))
        return response

    def codes(self) -> set[str]:
        """Every error code answered so far."""
        found = set()
        for _, response in self.answers:
            body = response.get_json(silent=True)
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                found.add(body["error"]["code"])
        return found


@pytest.fixture
def drive(
    tmp_path: Path, ravan: Any, zudu: Any, convoi: Any, retell: Any, elevenlabs: Any
) -> Iterator[Drive]:
    """The app with every secret set, pointed at the fakes, which expect our distinctive keys."""
    fakes = {"ravan": ravan[1], "zudu": zudu[1], "convoi": convoi[1], "retell": retell[1],
             "elevenlabs": elevenlabs[1]}  # fmt: skip
    fakes["ravan"].api_key = SECRETS["RAVAN_API_KEY"]
    fakes["zudu"].api_key, fakes["zudu"].api_secret = SECRETS["ZUDU_API_KEY"], SECRETS["ZUDU_API_SECRET"]
    fakes["convoi"].api_key = SECRETS["CONVOI_API_KEY"]
    fakes["retell"].api_key = SECRETS["RETELL_API_KEY"]
    fakes["elevenlabs"].api_key = SECRETS["ELEVENLABS_API_KEY"]
    path = tmp_path / "agents.toml"
    path.write_text(CATALOGUE.format(**FAKE_AGENT_IDS))
    turnstile = FakeTurnstile(secret=SECRETS["WEBCALL_TURNSTILE_SECRET_KEY"], good_token=HUMAN)
    receiver = Receiver()
    with turnstile.server as server, FakeServer(receiver.app()) as events:
        settings = Settings.from_mapping(
            {
                **SECRETS,
                "WEBCALL_EVENTS_URL": f"{events.url}/hooks/webcall",
                "WEBCALL_AGENTS_FILE": str(path),
                "WEBCALL_DATABASE_URL": f"sqlite:///{tmp_path / 'calls.db'}",
                "RAVAN_BASE_URL": ravan[0].url,
                "ZUDU_BASE_URL": zudu[0].url,
                "CONVOI_BASE_URL": convoi[0].url,
                "RETELL_BASE_URL": retell[0].url,
                "RETELL_LIVEKIT_URL": OfflineLiveKit.url,
                "ELEVENLABS_BASE_URL": elevenlabs[0].url,
                "ELEVENLABS_LIVEKIT_URL": OfflineLiveKit.url,
                "LIVEKIT_URL": OfflineLiveKit.url,
                "LIVEKIT_API_KEY": OfflineLiveKit.api_key,  # not a secret: it is every token's `iss`
                "WEBCALL_TURNSTILE_SITE_KEY": "ts-site-key",
                "WEBCALL_TURNSTILE_VERIFY_URL": f"{server.url}/siteverify",
                "WEBCALL_READ_TIMEOUT_S": "1",
                "WEBCALL_CONNECT_TIMEOUT_S": "1",
                "WEBCALL_RATE_LIMITS": "100000/minute",
                "WEBCALL_LOG_LEVEL": "DEBUG",
                "RAVAN_ORG_ID": ORG,
            }
        )
        app = create_app(settings)
        yield Drive(app, fakes, turnstile, receiver)
        app.extensions["webcall.events"].close()  # its thread, started by the first request


def drive_pages_and_probes(d: Drive) -> None:
    """Every page and probe, and the ways a page request goes wrong."""
    now = int(time.time())
    valid = sign_demo_link(SECRETS["WEBCALL_SECRET_KEY"], "local", {"name": "Ann"}, now + 3600)
    expired = sign_demo_link(SECRETS["WEBCALL_SECRET_KEY"], "local", {"name": "Ann"}, now - 10)
    for path in ["/", "/talk/ravan", "/talk/zudu", "/talk/convoi", "/talk/retell", "/talk/elevenlabs",
                 "/talk/local", "/talk/nobody",
                 "/nowhere", "/static/nothing.js", f"/demo/local?t={valid}", f"/demo/local?t={expired}",
                 "/demo/local?t=forged", f"/demo/ravan?t={valid}", "/healthz", "/readyz", "/openapi.json",
                 "/api/nowhere"]:  # fmt: skip
        d.get(path)
    d.open("POST", "/healthz")
    d.open("DELETE", "/api/calls")
    d.get("/metrics")  # without the token: refused
    token = {"Authorization": f"Bearer {SECRETS['WEBCALL_METRICS_TOKEN']}"}
    d._keep("GET /metrics (token)", d.app.test_client().get("/metrics", headers=token))


def drive_calls_and_refusals(d: Drive) -> None:
    """A call with every provider, and every refusal a caller can provoke."""
    now = int(time.time())
    valid = sign_demo_link(SECRETS["WEBCALL_SECRET_KEY"], "local", {"name": "Ann"}, now + 3600)
    expired = sign_demo_link(SECRETS["WEBCALL_SECRET_KEY"], "local", {"name": "Ann"}, now - 10)
    for agent in ("ravan", "zudu", "convoi", "retell", "elevenlabs", "local"):
        assert d.call({"agent": agent, "variables": {"name": "Ann"}}).status_code == 201, agent
    assert d.call({"agent": "local", "demo_token": valid}).status_code == 201
    d.call({"agent": "convoi"}, headers={"Idempotency-Key": "double-click-1"})
    d.call({"agent": "convoi"}, headers={"Idempotency-Key": "double-click-1"})
    d.call({"agent": "local"}, headers={"Idempotency-Key": "not a key!"})
    d.call({"agent": "local", "demo_token": expired})
    d.call({"agent": "local", "demo_token": "forged"})
    d.call({"agent": "nobody"})
    d.call({"agent": "local", "room": "mine"})
    d.call({"agent": "local", "participant_name": 5})
    d.call({"agent": "local"}, headers={"Origin": "https://evil.example"})
    d.call(data=b'{"agent": "local"', content_type="application/json")
    d.call(data=b'{"agent": "local"}', content_type="text/plain")
    d.call(data=b'{"agent": "' + b"x" * 20000 + b'"}', content_type="application/json")
    d.call(json={"agent": "local"})  # no bot-check token
    d.call({"agent": "local", "bot_token": "forged"})
    d.turnstile.down = True
    d.call({"agent": "local"})
    d.turnstile.down = False
    d.call({"agent": "strict"})
    d.call({"agent": "strict"})


def drive_webhooks(d: Drive) -> None:
    """Ravan's webhook with the right secret, near misses of it, and bodies it refuses."""
    session = d.call({"agent": "ravan"}).get_json()["call_id"]
    event = {
        "event": "call.completed",
        "org_id": ORG,
        "data": {"call_session_id": session, "status": "completed"},
    }
    assert d.open("POST", WEBHOOK, json=event).status_code == 200
    d.open("POST", WEBHOOK, json=event)  # a duplicate
    d.open("POST", WEBHOOK + "x", json=event)  # a near miss is a secret too
    d.open("POST", WEBHOOK[:-1], json=event)
    d.open("POST", WEBHOOK, json={**event, "org_id": "org_other"})
    d.open("POST", WEBHOOK, data=b"{not json", content_type="application/json")
    d.open("POST", WEBHOOK, json={**event, "data": {"call_session_id": "sess-404"}})
    d.open("GET", WEBHOOK)


def drive_admin(d: Drive) -> None:
    """The admin view (wrong passwords, then the right one, every page) and the admin API."""
    client = d.app.test_client()

    def keep(label: str, response: TestResponse) -> TestResponse:
        return d._keep(label, response)

    login = keep("GET /admin/login", client.get("/admin/login"))
    token = login.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    password = SECRETS["WEBCALL_ADMIN_PASSWORD"]
    for guess in (password + "x", password[:-1], password.upper()):
        keep(
            "POST /admin/login (wrong)",
            client.post("/admin/login", data={"password": guess, "csrf_token": token}),
        )
    keep("POST /admin/login (no token)", client.post("/admin/login", data={"password": password}))
    assert client.post("/admin/login", data={"password": password, "csrf_token": token}).status_code == 303
    for path in ("/admin", "/admin?q=LEAK", "/admin?status=nope", "/admin/calls.csv", "/admin/live.json"):
        keep(f"GET {path}", client.get(path))
    record = d.call({"agent": "local"}).get_json()["call_id"]
    keep("GET /admin/calls/<id>", client.get(f"/admin/calls/{record}"))
    admin_token = SECRETS["WEBCALL_ADMIN_TOKEN"]
    for header in (
        f"Bearer {admin_token}",
        f"Bearer {admin_token}x",
        f"Bearer {admin_token[:-1]}",
        admin_token,
    ):
        for path in ("/api/admin/calls", f"/api/admin/calls/{record}", "/api/admin/calls?status=nope"):
            keep(f"GET {path}", d.app.test_client().get(path, headers={"Authorization": header}))
    for n in range(6):  # into the sign-in rate limit
        keep("POST /admin/login (limited)", client.post("/admin/login", data={"password": f"guess {n}"}))


def drive_phone_calls(d: Drive) -> None:
    """Callbacks placed, refused and failed; the provider echoes the number in an error body."""
    for number in NUMBERS:
        d._keep(f"POST /api/phone-calls {number[:5]}…", d.app.test_client().post(
            "/api/phone-calls", json={"agent": "callback", "phone_number": number, "consent": True,
                                      "bot_token": HUMAN}))  # fmt: skip
    d.fakes["ravan"].faults.append(Fault("status", status=422, body={"message": f"cannot dial {NUMBERS[1]}"}))
    d._keep("POST /api/phone-calls (fault)", d.app.test_client().post(
        "/api/phone-calls", json={"agent": "callback", "phone_number": NUMBERS[1][1:], "country": "US",
                                  "consent": True, "bot_token": HUMAN}))  # fmt: skip
    for _, response in list(d.answers):
        body = response.get_json(silent=True) or {}
        if isinstance(body, dict) and str(body.get("call_id", "")).startswith("wc_"):
            d.get(f"/api/phone-calls/{body['call_id']}")


def drive_provider_failures(d: Drive) -> None:
    """Each fault once, followed by a good call so no circuit breaker opens in between."""
    ravan_key = SECRETS["RAVAN_API_KEY"]
    retell_key, elevenlabs_key = SECRETS["RETELL_API_KEY"], SECRETS["ELEVENLABS_API_KEY"]
    faults = [
        ("ravan", Fault("status", status=401, body={"success": False, "message": f"bad key {ravan_key}"})),
        ("ravan", Fault("status", status=500, body=f"Traceback (most recent call last): key={ravan_key}")),
        ("ravan", Fault("status", status=429, body={}, headers={"Retry-After": "7"})),
        ("ravan", Fault("html", status=502, body=f"<html><pre>X-Api-Key: {ravan_key}</pre></html>")),
        ("ravan", Fault("html", status=200)),
        ("ravan", Fault("malformed_json")),
        ("ravan", Fault("success_false")),
        ("ravan", Fault("missing_credentials")),
        ("ravan", Fault("drop")),
        ("ravan", Fault("delay", delay_s=2.5)),
        ("zudu", Fault("status", status=400, body={"message": f"X-API-SECRET {SECRETS['ZUDU_API_SECRET']}"})),
        ("zudu", Fault("html", status=503)),
        ("convoi", Fault("status", status=422, body={"error": f"Bearer {SECRETS['CONVOI_API_KEY']}"})),
        ("retell", Fault("status", status=401, body={"error_message": f"Bearer {retell_key}"})),
        ("retell", Fault("success_false")),  # a call on a transport the page cannot join
        ("elevenlabs", Fault("status", status=401, body={"detail": {"message": f"key {elevenlabs_key}"}})),
        ("elevenlabs", Fault("html", status=200, body=f"<p>xi-api-key: {elevenlabs_key}</p>")),
    ]
    for provider, fault in faults:
        d.fakes[provider].faults.append(fault)
        d.call({"agent": provider})
        d.call({"agent": provider})
    # Keys the provider does not know: our problem, not the caller's.
    for provider in ("zudu", "convoi", "retell", "elevenlabs"):
        d.fakes[provider].api_key = "someone-elses-key"
        d.call({"agent": provider})
    d.get("/readyz")


def test_no_secret_in_any_answer_header_or_log(
    drive: Drive, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    drive_pages_and_probes(drive)
    drive_calls_and_refusals(drive)
    drive_webhooks(drive)
    drive_admin(drive)
    drive_provider_failures(drive)
    drive_phone_calls(drive)
    while drive.app.extensions["webcall.events"].send_due():
        pass  # what the site's URL was told of these calls

    assert len(drive.receiver.received) >= 10
    for headers, body, _ in drive.receiver.received:
        assert_clean("an event's headers", "\n".join(f"{name}: {value}" for name, value in headers.items()))
        assert_clean("an event", body.decode())
    for label, response in drive.answers:
        text = response.get_data(as_text=True)
        headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
        assert_clean(f"{label} -> {response.status_code} body", text)
        assert_clean(f"{label} -> {response.status_code} headers", headers)
        assert "Traceback" not in text, label
    as_written = json_formatter()  # what production writes: every structured field of the line
    for record in caplog.records:
        assert_clean(f"log record {record.name}:{record.lineno}", record.getMessage())
        assert_clean(f"log line {record.name}:{record.lineno}", as_written.format(record))
    assert_clean("caplog.text", caplog.text)
    captured = capsys.readouterr()
    assert_clean("stdout/stderr", captured.out + captured.err)
    # The drive really reached every path it claims to.
    assert {
        "provider_auth_failed", "provider_error", "provider_busy", "provider_unavailable",
        "provider_bad_response", "provider_timeout", "rate_limited", "invalid_json", "invalid_field",
        "unknown_field", "unknown_agent", "unsupported_media_type", "payload_too_large",
        "origin_not_allowed", "bot_check_required", "bot_check_failed", "bot_check_unavailable",
        "invalid_demo_link", "demo_link_expired", "invalid_idempotency_key", "method_not_allowed",
        "not_found", "metrics_token_required", "invalid_webhook_token", "wrong_org", "invalid_webhook",
        "unknown_call_session", "admin_token_required", "invalid_query",
    } <= drive.codes()  # fmt: skip
    # Upstream bodies that echoed our key were logged (so the redaction, not silence, kept it out).
    assert any("bad key" in record.getMessage() for record in caplog.records)


def test_gunicorn_logs_never_show_the_webhook_secret(tmp_path: Path, ravan: Any) -> None:
    """The production entry point: the token is in the request line, which the access log prints."""
    path = tmp_path / "agents.toml"
    path.write_text(CATALOGUE.format(**FAKE_AGENT_IDS).split("[agents.zudu]")[0])
    ravan[1].api_key = SECRETS["RAVAN_API_KEY"]
    env = {
        "RAVAN_API_KEY": SECRETS["RAVAN_API_KEY"],
        "RAVAN_BASE_URL": ravan[0].url,
        "RAVAN_ORG_ID": ORG,
        "WEBCALL_WEBHOOK_TOKEN": SECRETS["WEBCALL_WEBHOOK_TOKEN"],
        "WEBCALL_SECRET_KEY": SECRETS["WEBCALL_SECRET_KEY"],
        "WEBCALL_LOG_LEVEL": "DEBUG",
    }
    server = start_app_server(env, tmp_path / "logs", agents_toml=path.read_text())
    try:
        session = httpx.post(f"{server.url}/api/calls", json={"agent": "ravan"}, timeout=10).json()["call_id"]
        event = {"event": "call.completed", "org_id": ORG, "data": {"call_session_id": session}}
        answers = [
            httpx.post(server.url + WEBHOOK, json=event, timeout=10),
            httpx.post(server.url + WEBHOOK + "x", json=event, timeout=10),
            httpx.post(f"{server.url}{WEBHOOK}?retry=1", content=b"{", timeout=10),
            httpx.get(server.url + WEBHOOK, timeout=10),
        ]
        assert [a.status_code for a in answers] == [200, 403, 400, 405]
    finally:
        server.process.stop()
    log = server.process.log()
    webhook_lines = [line for line in access_lines(log, "/webhooks/ravan/***") if line["method"] == "POST"]
    assert [line["status"] for line in webhook_lines] == [200, 403, 400]  # logged, with the token masked
    assert_clean("gunicorn's log", log)


def test_settings_and_config_errors_hide_secrets(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(CATALOGUE.format(**FAKE_AGENT_IDS))
    env = {
        **SECRETS,
        "WEBCALL_EVENTS_URL": EVENTS_URL,
        "WEBCALL_AGENTS_FILE": str(path),
        "LIVEKIT_URL": OfflineLiveKit.url,
        "LIVEKIT_API_KEY": OfflineLiveKit.api_key,
        "WEBCALL_TURNSTILE_SITE_KEY": "ts-site-key",
        "RAVAN_ORG_ID": ORG,
    }
    assert_clean("repr(Settings)", repr(Settings.from_mapping(env)))
    with pytest.raises(ConfigError) as refused:
        Settings.from_mapping({**env, "WEBCALL_READ_TIMEOUT_S": "soon", "LIVEKIT_URL": "nope"})
    assert_clean("ConfigError", str(refused.value))


def assert_clean(where: str, text: str) -> None:
    """Fail naming the secret (never printing it whole) when ``text`` holds one, the marker or a number."""
    for number in NUMBERS:
        if number.lstrip("+") in text.replace(" ", "").replace("-", ""):
            pytest.fail(f"a caller's phone number leaked in {where}")
    for name, value in SECRETS.items():
        if value in text:
            pytest.fail(f"{name} leaked in {where}")
    if MARKER in text:
        pytest.fail(f"part of a secret leaked in {where}: ...{_around(text, MARKER)}...")


def _around(text: str, needle: str, width: int = 40) -> str:
    """The text around the first ``needle``, to find the leak quickly."""
    at = text.find(needle)
    return text[max(0, at - width) : at + width]
