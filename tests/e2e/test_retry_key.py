"""A retry after an answer that never came is the same call, in Chromium: the same Idempotency-Key.

The page's first request reaches the server, which makes the call, but its answer never reaches
the page: page.route fetches it, then aborts, so to the page the connection dropped. Try again
(or Call me again) must send the key of the first request, and the server answers with the call
it made then instead of making a second, billed one. Once an answer has reached the page, the
next call is a new one, with a new key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.e2e.test_call_page import fail_with, open_page
from tests.e2e.test_call_page_guards import DELIBERATE_S
from tests.e2e.test_phone import fill_number, sessions
from tests.support.apps import FAKE_AGENT_IDS, provider_env
from tests.support.browser import wait_for_state, wait_on_page
from tests.support.stack import AppServer, start_app_server

pytestmark = pytest.mark.e2e

# A web agent that also calls phones, on the stack's Ravan fake (which makes a call per request:
# its sessions count the calls our server made).
CATALOGUE = """\
[agents.callback]
provider = "ravan"
agent_id = "{ravan_agent}"
title = "Callback agent"
[agents.callback.phone]
enabled = true
allowed_countries = ["US"]
from_number = "+14157774444"
bot_check = false
cooldown_s = 0
"""
NO_ANSWER = "We couldn't reach the server. Check your internet connection and try again."


@pytest.fixture(scope="module")
def one_worker(stack: dict[str, Any], artifacts: Path) -> Iterator[AppServer]:
    """The stack's LiveKit, demo agent and fakes behind a gunicorn of one worker: answers are
    replayed from memory, per process, and the stack's app has two."""
    urls = {kind: server.url for kind, (server, _state) in stack["fakes"].items()}
    env = {**stack["livekit"].env(), **provider_env(urls["ravan"], urls["zudu"], urls["convoi"])}
    toml = CATALOGUE.format(ravan_agent=FAKE_AGENT_IDS["ravan"])
    app = start_app_server(env, artifacts / "logs" / "retry-key", agents_toml=toml, workers=1)
    yield app
    app.process.stop()


class FirstAnswerLost:
    """A page.route handler: every request reaches the server; the first one's answer is kept
    from the page (the connection dropped, as far as it can tell), the others pass."""

    def __init__(self) -> None:
        self.sent: list[Request] = []
        self.answers: list[dict[str, Any]] = []  # the server's, the first one's included

    def __call__(self, route: Route) -> None:
        self.sent.append(route.request)
        response = route.fetch()
        self.answers.append(response.json())
        if len(self.sent) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    def keys(self) -> list[str | None]:
        """The Idempotency-Key of each request, in order."""
        return [request.header_value("Idempotency-Key") for request in self.sent]


def test_try_again_after_a_lost_answer_joins_the_call_already_made(
    page: Page, stack: dict[str, Any], one_worker: AppServer
) -> None:
    ravan = stack["fakes"]["ravan"][1]
    lost = FirstAnswerLost()
    page.route("**/api/calls", lost)
    open_page(page, f"{one_worker.url}/talk/callback", one_worker.url)
    before = set(ravan.calls)
    page.click("#talk")
    fail_with(page, "network")
    expect(page.locator("#error")).to_contain_text(NO_ANSWER)
    assert len(set(ravan.calls) - before) == 1  # made, all the same

    page.click("#talk")  # Try again
    wait_for_state(page, "in-call")
    first, again = lost.answers
    assert lost.keys()[1] == lost.keys()[0]
    assert (again["call_id"], again["room"]) == (first["call_id"], first["room"])
    assert len(set(ravan.calls) - before) == 1, "Try again made a second call"

    # An answer came: the next call is a new one.
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)
    page.click("#talk")  # Start over
    wait_for_state(page, "in-call")
    assert len(lost.keys()) == 3 and lost.keys()[2] not in lost.keys()[:2]
    assert lost.answers[2]["call_id"] != first["call_id"]
    assert len(set(ravan.calls) - before) == 2
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)


def test_a_cancelled_retry_lets_its_key_go(page: Page, one_worker: AppServer) -> None:
    """Try again sends the lost answer's key; the caller cancels it before an answer comes: the
    next Talk is a new call, with a new key."""
    keys: list[str | None] = []
    held: list[Route] = []

    def answer_none(route: Route) -> None:
        keys.append(route.request.header_value("Idempotency-Key"))
        if len(keys) == 1:
            route.fetch()  # made, but the page never hears of it
            route.abort("connectionreset")
        elif len(keys) == 2:
            held.append(route)  # on its way until the caller cancels
        else:
            route.abort("connectionreset")

    page.route("**/api/calls", answer_none)
    open_page(page, f"{one_worker.url}/talk/callback", one_worker.url)
    page.click("#talk")
    fail_with(page, "network")
    page.click("#talk")  # Try again
    wait_on_page(page, lambda: held, "Try again's request")
    page.wait_for_timeout(DELIBERATE_S * 1000)
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)
    expect(page.locator("#status")).to_have_text(re.compile("^Call cancelled"))
    page.click("#talk")  # Start over
    fail_with(page, "network")
    assert keys[1] == keys[0] and keys[2] != keys[0], keys


def fill_the_callback_form(page: Page, app: AppServer, number: str) -> None:
    """Open the callback agent's page and its phone form, and fill it in (consent given)."""
    page.goto(f"{app.url}/talk/callback")
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    page.click("#phone-open")
    fill_number(page, page, number)
    page.check("#phone-consent")


def test_call_me_again_after_a_lost_answer_rings_the_phone_once(
    page: Page, stack: dict[str, Any], one_worker: AppServer
) -> None:
    lost = FirstAnswerLost()
    page.route("**/api/phone-calls", lost)
    fill_the_callback_form(page, one_worker, "4155559671")
    before = set(sessions(stack, "ravan"))
    submit, status = page.locator("#phone-submit"), page.locator("#phone-status-text")
    submit.click()
    expect(page.locator("#phone-problem")).to_have_text(NO_ANSWER)
    assert len(set(sessions(stack, "ravan")) - before) == 1  # dialled, all the same

    expect(submit).to_be_enabled()
    submit.click()
    expect(status).to_have_text("Calling you now…")
    first, again = lost.answers
    assert lost.keys()[1] == lost.keys()[0]
    assert again["call_id"] == first["call_id"]
    placed = [sessions(stack, "ravan")[s] for s in set(sessions(stack, "ravan")) - before]
    assert len(placed) == 1, "Call me again rang the phone a second time"

    # An answer came: once the call is over, the next one is a new call.
    placed[0]["status"] = "completed"
    expect(page.locator("#phone-again")).to_be_visible(timeout=10_000)
    page.click("#phone-again")
    page.check("#phone-consent")
    submit.click()
    expect(status).to_have_text("Calling you now…")
    assert len(lost.keys()) == 3 and lost.keys()[2] not in lost.keys()[:2]
    assert lost.answers[2]["call_id"] != first["call_id"]


def test_call_me_again_after_the_provider_timed_out_sends_the_same_key(
    page: Page, stack: dict[str, Any], one_worker: AppServer
) -> None:
    """The provider placed the call but its answer never reached the server (504
    provider_timeout): Call me again sends the first request's key, which the server derives the
    provider's own key from (Convoi replays a call it made under it); it sent a new one."""
    keys: list[str | None] = []

    def provider_timed_out_once(route: Route) -> None:
        keys.append(route.request.header_value("Idempotency-Key"))
        if len(keys) > 1:
            route.continue_()
            return
        timed_out = {"error": {"code": "provider_timeout", "message": "The agent's provider took too long."}}
        route.fulfill(status=504, json=timed_out)

    page.route("**/api/phone-calls", provider_timed_out_once)
    fill_the_callback_form(page, one_worker, "4155559672")
    submit = page.locator("#phone-submit")
    submit.click()
    expect(page.locator("#phone-problem")).to_have_text("The agent's provider took too long.")
    expect(submit).to_be_enabled()
    submit.click()
    expect(page.locator("#phone-status-text")).to_have_text("Calling you now…")
    assert len(keys) == 2 and keys[0] and keys[1] == keys[0], keys
