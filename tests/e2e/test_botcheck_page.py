"""The bot check in the browser: the page renders Turnstile and sends its token before a call.

Turnstile itself is out of reach, so a local stand-in serves both halves: the widget script
the page loads (it hands the page a token) and the siteverify endpoint the server asks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.fakes import FakeTurnstile
from tests.support.livekit_server import LiveKitServer
from tests.support.stack import AppServer, start_app_server

pytestmark = pytest.mark.e2e
AGENTS = '[agents.demo]\nprovider = "livekit"\nagent_id = "webcall-demo"\ntitle = "Demo agent"\n'


@pytest.fixture(params=["good-token", "forged-token"])
def guarded_app(
    request: pytest.FixtureRequest, livekit_server: LiveKitServer, demo_agent: Any, tmp_path: Path
) -> Iterator[tuple[AppServer, FakeTurnstile, str]]:
    """The app with a bot check whose widget hands the page a good or a forged token."""
    turnstile = FakeTurnstile(secret="ts-secret", token=request.param)
    with checked_app(livekit_server, turnstile, tmp_path) as app:
        yield app, turnstile, request.param


@contextmanager
def checked_app(livekit: LiveKitServer, turnstile: FakeTurnstile, tmp_path: Path) -> Iterator[AppServer]:
    """The app, its bot check done by ``turnstile`` (both stopped afterwards)."""
    turnstile.server.start()
    env = {
        **livekit.env(),
        "WEBCALL_TURNSTILE_SITE_KEY": "ts-site",
        "WEBCALL_TURNSTILE_SECRET_KEY": "ts-secret",
        "WEBCALL_TURNSTILE_VERIFY_URL": f"{turnstile.server.url}/siteverify",
        "WEBCALL_TURNSTILE_SCRIPT_URL": f"{turnstile.server.url}/api.js",
    }
    app = start_app_server(env, tmp_path, agents_toml=AGENTS)
    try:
        yield app
    finally:
        app.stop_now()  # the page may still hold connections
        turnstile.server.stop()


def test_page_passes_the_bot_check_before_the_call(page: Page, guarded_app: Any) -> None:
    app, turnstile, token = guarded_app
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if r.url.endswith("/api/calls") else None)
    page.goto(f"{app.url}/talk/demo")
    expect(page.locator("#botcheck")).to_contain_text("Verified")
    page.hover("#talk")
    page.mouse.down()  # a press asks for nothing before its click: the request spends the token
    page.wait_for_timeout(500)
    assert requested == []
    page.mouse.up()
    call = page.locator("#call")
    if token == "good-token":
        expect(call).to_have_attribute("data-state", "in-call", timeout=20_000)
        page.click("#hangup")
        expect(call).to_have_attribute("data-state", "ended")
    else:
        expect(call).to_have_attribute("data-state", "failed", timeout=10_000)
        expect(page.locator("#error")).to_have_attribute("data-code", "bot_check_failed")
    assert turnstile.verified and turnstile.verified[0]["response"] == token
    assert len(requested) == 1
    # The widget speaks the page's language.
    expect(page.locator("#botcheck")).to_have_attribute("data-language", "en")
    page.goto(f"{app.url}/talk/demo?lang=hi")
    expect(page.locator("#botcheck")).to_have_attribute("data-language", "hi")


@pytest.fixture
def timed_check_app(
    request: pytest.FixtureRequest, livekit_server: LiveKitServer, demo_agent: Any, tmp_path: Path
) -> Iterator[tuple[AppServer, FakeTurnstile]]:
    """The app with a bot check whose stand-in's timing (FakeTurnstile's ``token_after_ms``,
    ``challenge_ms``) is the test's parameter."""
    turnstile = FakeTurnstile(secret="ts-secret", **request.param)
    with checked_app(livekit_server, turnstile, tmp_path) as app:
        yield app, turnstile


@pytest.mark.parametrize("timed_check_app", [{"token_after_ms": 6000}], indirect=True)  # 6 s to pass
def test_hanging_up_while_the_check_runs_places_no_call(page: Page, timed_check_app: Any) -> None:
    """Talk, then Hang up before the check is passed: no call is requested when it passes (a
    hosted provider would bill one nobody joins), and the unspent token starts the next call."""
    app, turnstile = timed_check_app
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if r.url.endswith("/api/calls") else None)
    page.goto(f"{app.url}/talk/demo")
    call = page.locator("#call")
    page.click("#talk")
    time.sleep(0.8)  # Hang up ignores a press right after Talk's (a double click)
    page.click("#hangup")
    expect(call).to_have_attribute("data-state", "ended")
    expect(page.locator("#botcheck")).to_contain_text("Verified", timeout=10_000)  # the token has come
    page.wait_for_timeout(2_000)  # (and any request the page sent for it is counted meanwhile)
    assert requested == [] and turnstile.verified == []
    page.click("#talk")
    expect(call).to_have_attribute("data-state", "in-call", timeout=20_000)
    assert len(requested) == 1 and [form["response"] for form in turnstile.verified] == ["good-token"]
    page.click("#hangup")


@pytest.mark.parametrize("timed_check_app", [{"challenge_ms": 20_000}], indirect=True)  # solved in 20 s
def test_a_challenge_takes_as_long_as_the_visitor_needs(page: Page, timed_check_app: Any) -> None:
    """Talk pressed while Turnstile shows a challenge: the call waits past the 15 s the page
    gives a check that runs on its own (and the microphone waits with it: livekit-client drops
    a microphone published 15 s before its room is joined), then starts once it is solved."""
    app, turnstile = timed_check_app
    page.goto(f"{app.url}/talk/demo")
    expect(page.locator("#botcheck")).to_contain_text("Verify you are human")
    page.click("#talk")
    call = page.locator("#call")
    expect(page.locator("#status")).to_have_text("Confirm you are human to start the call")
    page.wait_for_timeout(16_000)  # past the 15 s, and some seconds before it is solved
    expect(call).to_have_attribute("data-state", "connecting")
    expect(page.locator("#botcheck")).to_contain_text("Verified", timeout=10_000)
    expect(call).to_have_attribute("data-state", "in-call", timeout=20_000)
    assert [form["response"] for form in turnstile.verified] == ["good-token"]
    page.click("#hangup")
    expect(call).to_have_attribute("data-state", "ended")


@pytest.mark.parametrize("timed_check_app", [{"token_after_ms": 600_000}], indirect=True)  # never passes
def test_a_check_that_never_ends_fails_the_call_after_15_s(page: Page, timed_check_app: Any) -> None:
    app, turnstile = timed_check_app
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if r.url.endswith("/api/calls") else None)
    page.goto(f"{app.url}/talk/demo")
    page.click("#talk")
    call = page.locator("#call")
    time.sleep(13)
    expect(call).to_have_attribute("data-state", "connecting")
    expect(call).to_have_attribute("data-state", "failed", timeout=5_000)
    expect(page.locator("#error")).to_have_attribute("data-code", "bot_check_unavailable")
    assert requested == [] and turnstile.verified == []
