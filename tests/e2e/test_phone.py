""" "Call my phone" in Chromium: the form, the consent, the status view, in the page and the embeds.

The stack's Ravan and Convoi fakes take the outbound call; the test plays the provider's
side by moving the fake call's status, and watches the page follow it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import assert_accessible, screenshots, serve_axe, wait_for_js, wait_on_page

pytestmark = pytest.mark.e2e
MASKED = "+1 415 ***-**71"
# Each test dials a number of its own: a number's daily cap (3) counts every agent's calls to it,
# and the stack's app serves them all.
RECEIVED = "() => window.received"


def sessions(stack: dict[str, Any], provider: str) -> dict[str, Any]:
    """The fake provider's calls, by its id."""
    return stack["fakes"][provider][1].calls


def fill_number(page: Page, root: Any, digits: str) -> None:
    """Type the number as a visitor would, one key at a time."""
    field = root.locator("#phone-number")
    field.click()
    field.press_sequentially(digits, delay=20)


def test_a_callback_from_the_call_page(page: Page, stack: dict[str, Any], artifacts: Path) -> None:
    app = stack["app"].url
    serve_axe(page, app)
    page.goto(f"{app}/talk/callback")
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    form = page.locator("#phone-form")
    expect(form).to_be_hidden()
    opener = page.locator("#phone-open")
    opener.click()
    expect(form).to_be_visible()
    expect(opener).to_have_attribute("aria-expanded", "true")
    # The code isolated left to right: else an Arabic page shows "(1+)".
    expect(page.locator("#phone-country option[value=US]")).to_contain_text("United States (\u2066+1\u2069)")
    page.select_option("#phone-country", "US")
    fill_number(page, page, "4155552671")
    expect(page.locator("#phone-number")).to_have_value("(415) 555-2671")  # formatted as typed
    # Backspace gets back to the start: "(415" was formatted straight back into "(415)".
    page.locator("#phone-number").press("End")
    for _ in range(len("(415) 555-2671")):
        page.locator("#phone-number").press("Backspace")
    expect(page.locator("#phone-number")).to_have_value("")
    fill_number(page, page, "4155552671")
    expect(page.locator("#phone-number")).to_have_value("(415) 555-2671")
    assert_accessible(page, app, "phone form")
    screenshots(page, artifacts / "screenshots", "phone-form")

    page.click("#phone-submit")  # no consent yet
    expect(page.locator("#phone-problem")).to_have_text("Please confirm that we may call this number.")
    assert page.evaluate("document.activeElement.id") == "phone-consent"
    consent_box = page.locator("#phone-consent")
    expect(consent_box).to_have_attribute("aria-invalid", "true")  # empty would be false to a reader
    expect(consent_box).to_have_accessible_description("Please confirm that we may call this number.")
    assert page.locator("#phone-number").get_attribute("aria-invalid") is None
    page.check("#phone-consent")
    before = set(sessions(stack, "ravan"))
    page.click("#phone-submit")
    expect(page.locator("#phone-status-text")).to_have_text("Calling you now…")
    expect(page.locator("#phone-status-text")).to_be_focused()  # the form that had it is gone
    expect(page.locator("#phone-status-number")).to_have_text(MASKED)
    expect(form).to_be_hidden()
    placed = [sessions(stack, "ravan")[s] for s in set(sessions(stack, "ravan")) - before]
    assert len(placed) == 1
    assert_accessible(page, app, "phone status")
    screenshots(page, artifacts / "screenshots", "phone-calling")

    # "Call my phone instead" pressed again meanwhile: the call asked for is still followed.
    opener.click()
    expect(page.locator("#phone-status-text")).to_have_text("Calling you now…")
    expect(form).to_be_hidden()

    # The provider reports the call answered, then over: the page follows within a poll or two.
    placed[0]["status"] = "in_progress"
    expect(page.locator("#phone-status-text")).to_have_text("You're on the call.", timeout=10_000)
    placed[0]["status"] = "completed"
    expect(page.locator("#phone-status-text")).to_have_text(
        "The call has ended. Thanks for talking with us!", timeout=10_000
    )
    expect(page.locator("#phone-again")).to_be_visible()
    page.click("#phone-again")
    expect(page.locator("#phone-number")).to_be_focused()
    expect(page.locator("#phone-consent")).not_to_be_checked()  # it was for the number called


# The page's first status poll is answered 4.5 s late (after the next one would have gone out);
# the statuses the page tells its host.
SLOW_FIRST_POLL = """
const realFetch = window.fetch.bind(window);
window.__polls = [];
window.__statuses = [];
document.addEventListener("webcall:phone-call", (event) => window.__statuses.push(event.detail.status), true);
window.fetch = async (input, init) => {
  const url = new URL(typeof input === "string" ? input : input.url, location.href);
  const response = await realFetch(input, init);
  if (/^\\/api\\/phone-calls\\/[^/]+$/.test(url.pathname)) {
    const n = window.__polls.push("asked");
    if (n === 1) await new Promise((resolve) => setTimeout(resolve, 4500));
    window.__polls[n - 1] = "answered";
  }
  return response;
};
"""


def test_a_late_status_never_undoes_a_newer_one(page: Page, stack: dict[str, Any]) -> None:
    """Status polls went out every 3 s whatever the last one was doing: a slow answer saying
    the call was in progress landed after a newer one saying it had ended, and the page showed
    the call going on again. One poll at a time, so the end stays."""
    page.add_init_script(SLOW_FIRST_POLL)
    page.goto(f"{stack['app'].url}/talk/callback")
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    page.click("#phone-open")
    fill_number(page, page, "4155558671")
    page.check("#phone-consent")
    before = set(sessions(stack, "ravan"))
    page.click("#phone-submit")
    status = page.locator("#phone-status-text")
    expect(status).to_have_text("Calling you now…")
    placed = [sessions(stack, "ravan")[s] for s in set(sessions(stack, "ravan")) - before]
    assert len(placed) == 1
    placed[0]["status"] = "in_progress"
    wait_for_js(page, "() => window.__polls.length >= 1")  # asked: the server answered in_progress
    placed[0]["status"] = "completed"
    wait_for_js(page, "() => window.__polls[0] === 'answered'")
    ended = "The call has ended. Thanks for talking with us!"
    expect(status).to_have_text(ended, timeout=10_000)
    page.wait_for_timeout(500)  # the late answer, had it come after the end
    expect(status).to_have_text(ended)
    assert page.evaluate("window.__statuses") == ["initiated", "in_progress", "completed"]


def refusal(code: str, status: int, retry_after_s: int | None = None) -> dict[str, Any]:
    """What page.route fulfils a request with: the API's JSON error, and its Retry-After."""
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s else {}
    body = {"error": {"code": code, "message": f"Refused: {code}.", "request_id": "r-1"}}
    return {"status": status, "json": body, "headers": headers}


def test_call_me_waits_as_long_as_a_refusal_says_and_a_lost_call_is_said(
    page: Page, stack: dict[str, Any]
) -> None:
    """A 429 with Retry-After keeps Call me off until then (a number's own cooldown does not:
    another number may be asked for); a status poll told the call is unknown stops and says so."""
    answers = [refusal("rate_limited", 429, 2), refusal("number_cooldown", 429, 600)]
    page.route(
        "**/api/phone-calls", lambda route: route.fulfill(**answers.pop(0)) if answers else route.continue_()
    )
    page.route("**/api/phone-calls/*", lambda route: route.fulfill(**refusal("unknown_call", 404)))
    errors = "window.__errors = []; addEventListener('webcall:error', (e) => __errors.push(e.detail));"
    page.add_init_script(errors)
    page.goto(f"{stack['app'].url}/talk/callback")
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    page.click("#phone-open")
    page.check("#phone-consent")
    fill_number(page, page, "4155552671")
    submit = page.locator("#phone-submit")
    submit.click()
    expect(page.locator("#phone-problem")).to_contain_text("Refused: rate_limited.")
    expect(submit).to_be_disabled()
    expect(submit).to_be_enabled(timeout=4_000)
    submit.click()
    expect(page.locator("#phone-problem")).to_contain_text("Refused: number_cooldown.")
    expect(submit).to_be_enabled()
    # The host page hears how long to wait, as for a web call.
    waits = [(e["code"], e.get("retry_after_s")) for e in page.evaluate("__errors")]
    assert waits == [("rate_limited", 2), ("number_cooldown", 600)], waits
    submit.click()  # placed for real; its status is then refused as unknown
    expect(page.locator("#phone-status-text")).to_have_text("Calling you now…")
    expect(page.locator("#phone-status-text")).to_have_text(
        "We can't follow this call here any more. You can ask for another call.", timeout=10_000
    )
    expect(page.locator("#phone-again")).to_be_visible()


def test_a_callback_whose_provider_tells_nothing_says_the_phone_will_ring(
    page: Page, stack: dict[str, Any]
) -> None:
    """UnleashX reports nothing of a call once placed: the page said "Calling you now…" for 15
    minutes, asking every 3 s. Its page (here Ravan's, told it is not followed) says the phone
    should ring, offers another number at once, and asks nothing more."""
    app = stack["app"].url

    def unfollowed(route: Any) -> None:
        answer = route.fetch()
        headers = {
            k: v for k, v in answer.headers.items() if k.lower() not in ("content-encoding", "content-length")
        }
        body = re.sub(r'"follows":\s*true', '"follows":false', answer.text())
        assert '"follows":false' in body
        route.fulfill(status=answer.status, headers=headers, body=body)

    page.route(f"{app}/talk/callback", unfollowed)
    asked: list[str] = []
    page.on(
        "request", lambda request: asked.append(request.url) if "/api/phone-calls/" in request.url else None
    )
    page.goto(f"{app}/talk/callback")
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    page.click("#phone-open")
    page.check("#phone-consent")
    fill_number(page, page, "4155557671")
    page.click("#phone-submit")
    expect(page.locator("#phone-status-text")).to_have_text(
        "Calling you now. Your phone should ring in a moment."
    )
    expect(page.locator("#phone-status-number")).to_have_text("+1 415 ***-**71")
    expect(page.locator("#phone-again")).to_be_visible()
    page.wait_for_timeout(4_000)  # past the first poll's 3 s
    assert asked == []


def test_refusals_are_plain_sentences_beside_the_field(page: Page, stack: dict[str, Any]) -> None:
    page.goto(f"{stack['app'].url}/talk/callback")
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    page.click("#phone-open")
    page.check("#phone-consent")
    for digits, words in [
        ("9005550123", "We can't call this kind of number. Please give a mobile or landline number."),
        ("41555", "That doesn't look like a complete phone number. Please check it, with its country."),
    ]:
        page.fill("#phone-number", "")
        fill_number(page, page, digits)
        page.click("#phone-submit")
        expect(page.locator("#phone-problem")).to_have_text(words)
        expect(page.locator("#phone-number")).to_have_attribute("aria-invalid", "true")
        assert page.evaluate("document.activeElement.id") == "phone-number"
    page.select_option("#phone-country", "GB")
    page.fill("#phone-number", "")
    fill_number(page, page, "+33612345678")  # a French mobile: not one of this agent's countries
    page.click("#phone-submit")
    expect(page.locator("#phone-problem")).to_have_text("We can't call numbers in that country.")


def test_a_phone_only_agent_offers_only_the_phone(page: Page, stack: dict[str, Any], artifacts: Path) -> None:
    app = stack["app"].url
    serve_axe(page, app)
    page.goto(f"{app}/talk/phone-only")
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    assert page.locator("#talk").count() == 0 and page.locator("#transcript").count() == 0
    expect(page.locator("#phone-form")).to_be_visible()
    fill_number(page, page, "4155553671")
    page.check("#phone-consent")
    page.click("#phone-submit")
    expect(page.locator("#phone-status-text")).to_have_text("Calling you now…")
    assert_accessible(page, app, "phone-only agent")
    screenshots(page, artifacts / "screenshots", "phone-only")


def test_the_form_is_never_sent_by_the_browser_before_its_code_listens(
    page: Page, stack: dict[str, Any]
) -> None:
    """A phone-only page shows the form at once, and its code comes later (a chunk of its own):
    Enter or "Call me" before that made the browser send the form itself, by GET, putting the
    visitor's number into the page's address (its history, any proxy's logs)."""
    app = stack["app"].url
    held: list[Any] = []
    page.route(re.compile(r"/phone-panel-[^/]*\.js$"), lambda route: held.append(route))
    page.goto(f"{app}/talk/phone-only")
    wait_for_js(page, "() => true")
    page.wait_for_timeout(300)  # the page's own code has run; the form's is held back
    assert held, "the form's code was not asked for"
    number = page.locator("#phone-number")
    number.fill("4155553671")
    number.press("Enter")
    expect(page.locator("#phone-submit")).to_be_disabled()
    page.wait_for_timeout(300)
    assert "4155553671" not in page.url and "phone=" not in page.url, page.url
    held[0].continue_()
    expect(page.locator("#phone-submit")).to_be_enabled()
    page.check("#phone-consent")
    page.click("#phone-submit")
    expect(page.locator("#phone-status-text")).to_have_text("Calling you now…")
    assert "phone=" not in page.url


def test_the_iframe_embed_offers_the_phone(page: Page, stack: dict[str, Any]) -> None:
    page.goto(f"{stack['app'].url}/embed/phone-only")
    expect(page.locator("#phone-form")).to_be_visible()
    fill_number(page, page, "4155554671")
    page.check("#phone-consent")
    page.click("#phone-submit")
    expect(page.locator("#phone-status-number")).to_have_text(MASKED)


def test_the_script_embed_offers_the_phone(page: Page, stack: dict[str, Any]) -> None:
    host = stack["embed_hosts"]["allowed"]
    page.goto(f"{host.origin}/phone.html")
    widget = page.locator("webcall-widget")
    widget.locator(".launcher").click()
    opener = widget.locator("#phone-open")
    expect(opener).to_be_visible(timeout=15_000)
    opener.click()
    fill_number(page, widget, "4155556671")
    expect(widget.locator("#phone-number")).to_have_value("(415) 555-6671")
    widget.locator("#phone-consent").check()
    widget.locator("#phone-submit").click()
    expect(widget.locator("#phone-status-text")).to_have_text("Calling you now…")
    events = wait_for_js(page, RECEIVED)
    assert events[0]["type"] == "phone-call" and events[0]["detail"]["status"] == "initiated"


def test_a_phone_only_widget_has_no_browser_call_to_tell(page: Page, stack: dict[str, Any]) -> None:
    """sendContext and answerToolCall have no call to go to: false, as embedding.md promises
    (they threw); start() opens the phone form."""
    page.goto(f"{stack['embed_hosts']['allowed'].origin}/phone-only.html")
    answers = page.evaluate(
        """async () => {
          while (!window.webcall?.get("phone-only")) await new Promise((r) => setTimeout(r, 50));
          const widget = window.webcall.get("phone-only");
          const opened = await widget.open();
          return [opened, await widget.sendContext("On the pricing page"), widget.answerToolCall("t1", "ok"),
                  await widget.start()];
        }"""
    )
    assert answers == [True, False, False, True]
    expect(page.locator("webcall-widget").locator("#phone-form")).to_be_visible()


def test_escape_closes_the_widget_from_the_consent_box_but_not_from_the_number(
    page: Page, stack: dict[str, Any]
) -> None:
    """Escape closes a floating panel unless a field where it means something has the focus:
    the number's field keeps it, but the consent checkbox (focused right after an opening that
    lands on it) did too, and Escape did nothing there."""
    page.goto(f"{stack['embed_hosts']['allowed'].origin}/phone.html")
    widget = page.locator("webcall-widget")
    frame, launcher = widget.locator(".frame"), widget.locator(".launcher")
    launcher.click()
    opener = widget.locator("#phone-open")
    expect(opener).to_be_visible(timeout=15_000)
    opener.click()
    widget.locator("#phone-number").focus()
    page.keyboard.press("Escape")
    expect(frame).to_be_visible()
    widget.locator("#phone-consent").focus()
    page.keyboard.press("Escape")
    expect(frame).to_be_hidden()
    expect(launcher).to_be_focused()


def test_a_widget_removed_while_its_callback_is_asked_for_stops_there(
    page: Page, stack: dict[str, Any]
) -> None:
    """The host page removes the widget while the request is on its way: the call is placed (the
    phone rings), but the gone widget does not poll its status for the next 15 minutes."""
    held: list[Any] = []
    polls: list[str] = []
    before = len(sessions(stack, "ravan"))
    page.route("**/api/phone-calls", lambda route: held.append(route))
    page.on("request", lambda r: polls.append(r.url) if "/api/phone-calls/" in r.url else None)
    page.goto(f"{stack['embed_hosts']['allowed'].origin}/phone.html")
    widget = page.locator("webcall-widget")
    widget.locator(".launcher").click()
    widget.locator("#phone-open").click()
    fill_number(page, widget, "4155557671")
    widget.locator("#phone-consent").check()
    widget.locator("#phone-submit").click()
    wait_on_page(page, lambda: held, "the request to leave")
    page.evaluate("webcall.widgets[0].destroy()")
    expect(widget).to_have_count(0)
    held[0].continue_()
    wait_on_page(page, lambda: len(sessions(stack, "ravan")) > before, "the call to be placed")  # it rings
    page.wait_for_timeout(4_000)  # past the first status poll's 3 s
    assert polls == []
