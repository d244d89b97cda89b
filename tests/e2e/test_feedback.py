"""After a call, "How was your call?", in headless Chromium through real parts (livekit-server, the
demo agent, gunicorn): the caller's thumb and comment reach the call log, the host page hears
webcall:feedback, a new call puts the question away, and a call that never connected asks nothing.
The API's rules are tests/calls/test_feedback.py's."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.test_call_page import open_page
from tests.e2e.test_embed import host_url, received
from tests.support.browser import assert_accessible, events, screenshots, serve_axe, wait_for_state
from webapp.history.store import CallRecord, CallStore

pytestmark = pytest.mark.e2e


def logged(stack: dict[str, Any], call_id: str) -> CallRecord:
    """The call as the app's log keeps it (by the provider's id, as the page's events give it)."""
    store = CallStore(stack["app"].database_url)
    try:
        record = store.find(call_id)
    finally:
        store.close()
    assert record is not None, call_id
    return record


def wait_logged(stack: dict[str, Any], call_id: str, rating: str, comment: str | None) -> CallRecord:
    """The record once it holds ``rating`` and ``comment`` (the page said so before the test reads it)."""
    deadline = time.monotonic() + 5
    while (record := logged(stack, call_id)).feedback_rating != rating or record.feedback_comment != comment:
        assert time.monotonic() < deadline, (record.feedback_rating, record.feedback_comment)
        time.sleep(0.1)
    return record


def rate_a_call(ui: Locator, comment: str) -> None:
    """In a panel whose call just ended: Good, then a comment."""
    form = ui.locator("#feedback")
    expect(form).to_be_visible()
    expect(ui.locator("#feedback-title")).to_have_text("How was your call?")
    expect(ui.locator("#feedback-more")).to_be_hidden()  # the comment comes with a thumb
    ui.locator("#feedback-good").click()
    expect(ui.locator("#feedback-good")).to_have_attribute("aria-pressed", "true")
    expect(ui.locator("#feedback-bad")).to_have_attribute("aria-pressed", "false")
    expect(ui.locator("#feedback-status")).to_have_text("Thanks for your feedback.")
    ui.locator("#feedback-comment").fill(comment)
    ui.locator("#feedback .feedback__send").click()
    expect(ui.locator("#feedback-status")).to_have_text("Thanks, your comment was sent.")
    expect(ui.locator("#feedback-more")).to_be_hidden()


def test_the_caller_rates_the_call_once_it_has_ended(
    page: Page, stack: dict[str, Any], artifacts: Path
) -> None:
    app = stack["app"]
    open_page(page, f"{app.url}/talk/rated", app.url)
    form = page.locator("#feedback")
    expect(form).to_be_hidden()
    page.click("#talk")
    wait_for_state(page, "in-call")
    expect(form).to_be_hidden()
    call_id = events(page, "connected")[-1]["detail"]["call_id"]
    page.click("#hangup")
    wait_for_state(page, "ended")
    assert_accessible(page, app.url, "feedback asked")
    screenshots(page, artifacts / "screenshots", "feedback-asked")

    rate_a_call(page.locator("body"), "Quick and helpful.\nIt knew the opening hours.")
    assert_accessible(page, app.url, "feedback given")
    record = wait_logged(stack, call_id, "good", "Quick and helpful.\nIt knew the opening hours.")
    assert record.feedback_at is not None and record.agent == "rated"
    sent = [e["detail"] for e in events(page, "feedback")]
    assert sent == [
        {"call_id": call_id, "rating": "good", "commented": False},
        {"call_id": call_id, "rating": "good", "commented": True},
    ]

    # A change of mind: the other thumb; the comment stays.
    page.click("#feedback-bad")
    expect(page.locator("#feedback-bad")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#feedback-good")).to_have_attribute("aria-pressed", "false")
    wait_logged(stack, call_id, "bad", "Quick and helpful.\nIt knew the opening hours.")

    # The next call puts the question away; once it ends, it asks afresh, about that call.
    page.click("#talk")
    expect(form).to_be_hidden()
    wait_for_state(page, "in-call")
    second = events(page, "connected")[-1]["detail"]["call_id"]
    assert second != call_id
    page.click("#hangup")
    wait_for_state(page, "ended")
    expect(form).to_be_visible()
    expect(page.locator("#feedback-good")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#feedback-status")).to_have_text("")
    page.click("#feedback-good")
    expect(page.locator("#feedback-status")).to_have_text("Thanks for your feedback.")
    wait_logged(stack, second, "good", None)
    assert logged(stack, call_id).feedback_rating == "bad"  # the first call keeps its own


def test_a_call_nobody_answered_asks_nothing(page: Page, stack: dict[str, Any]) -> None:
    app = stack["app"]
    open_page(page, f"{app.url}/talk/rated-nobody", app.url)
    page.click("#talk")
    wait_for_state(page, "waiting-agent")
    page.wait_for_timeout(700)  # past the double-click guard: this is a hang-up
    page.click("#hangup")
    wait_for_state(page, "ended")
    expect(page.locator("#status")).to_be_visible()
    page.wait_for_timeout(300)
    expect(page.locator("#feedback")).to_be_hidden()


def test_on_a_customers_site_the_feedback_crosses_to_the_app(page: Page, stack: dict[str, Any]) -> None:
    """The inline panel on another origin sends the feedback to the app's API (CORS), and the
    host page hears webcall:feedback."""
    app = stack["app"]
    serve_axe(page, app.url)
    page.goto(host_url(stack, "allowed", "rated.html"))
    widget = page.locator("#call-slot > webcall-widget")
    expect(widget.locator("#talk")).to_be_enabled(timeout=15_000)
    widget.locator("#talk").click()
    expect(widget.locator("#call")).to_have_attribute("data-state", "in-call", timeout=25_000)
    widget.locator("#hangup").click()
    expect(widget.locator("#call")).to_have_attribute("data-state", "ended")
    call_id = received(page, "connected")[-1]["detail"]["call_id"]
    with page.expect_response(lambda r: r.url.endswith("/feedback") and r.request.method == "POST") as sent:
        rate_a_call(widget, "Good widget.")
    assert sent.value.url.startswith(f"{app.url}/api/calls/wc_")
    wait_logged(stack, call_id, "good", "Good widget.")
    assert [e["detail"]["rating"] for e in received(page, "feedback")] == ["good", "good"]
    assert_accessible(page, app.url, "feedback in a script embed")
