"""The admin pages in headless Chromium, served in process: what only a browser shows.

The count of calls in progress (``static/src/admin/live.js``) when the session ends, when polls
fail and when the server is slow; the CSV link once signed out; a filter that is not valid, for
assistive technology; a summary's lines as they were written; the totals above the list and
its calls a day; a call's events; the Events page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, Playwright, Route, expect

from tests.admin import conftest as admin_tests
from tests.admin.conftest import CATALOGUE, PASSWORD, csrf_of, seed  # noqa: F401  (make_app reads CATALOGUE)
from tests.fakes import FakeServer
from tests.fakes.receiver import SECRET, Receiver
from tests.support.apps import app_state_of, post
from tests.support.browser import (
    CHROMIUM_ARGS,
    assert_accessible,
    launch_chromium,
    screenshots,
    serve_axe,
    wait_on_page,
)
from webapp.history.events import RETRY_DELAYS_S
from webapp.history.schema import calls
from webapp.history.store import LinkMade, now
from webapp.pages.demo_links import sign_demo_link, verify_demo_link

pytestmark = pytest.mark.e2e
admin_app = admin_tests.admin_app  # the admin tests' fixture (their conftest is theirs alone)
LIVE = "**/admin/live.json"
UNKNOWN = "Calls in progress: unknown"  # what the page says when it cannot count (display.live_text)


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium for this module (pytest-playwright's own is set up for the e2e tests)."""
    with launch_chromium(playwright, CHROMIUM_ARGS) as browser:
        yield browser


@pytest.fixture
def served(admin_app: Callable[..., Flask]) -> Iterator[tuple[Flask, str]]:
    """The admin app with the seeded calls, served over HTTP; and its address."""
    app = admin_app()
    seed(app_state_of(app).history)
    server = FakeServer(app).start()
    yield app, server.url
    server.stop()


@pytest.fixture
def tab(chromium: Browser, served: tuple[Flask, str]) -> Iterator[Page]:
    """A tab signed in to the admin view, on the list of calls."""
    context = chromium.new_context(base_url=served[1])
    tab = context.new_page()
    tab.goto("/admin/login")
    tab.locator("#password").fill(PASSWORD)
    tab.keyboard.press("Enter")
    expect(tab.locator(".admin-live")).to_have_text("No calls in progress")
    yield tab
    context.close()


def poll_now(tab: Page) -> None:
    """Make the page poll now (as it does when its tab is shown again), not in up to 5 s; a no-op
    while one of its own polls is under way."""
    tab.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


def next_poll(tab: Page) -> None:
    """A poll sent from now on: at once, or (one of the page's own under way, sent before the
    test's route) the next one due, within 5 s."""
    with tab.expect_request(lambda request: request.url.endswith("/admin/live.json"), timeout=12_000):
        poll_now(tab)


def sign_out_elsewhere(tab: Page, app: Flask) -> None:
    """Sign the page's session out from another browser holding a copy of its cookie."""
    cookie = next(c for c in tab.context.cookies() if c["name"] == "webcall_admin")
    other = app.test_client()
    other.set_cookie("webcall_admin", cookie["value"], path="/admin")
    token = csrf_of(other.get("/admin").get_data(as_text=True))
    assert other.post("/admin/logout", data={"csrf_token": token}).status_code == 303


def landmarks_named_twice(tab: Page) -> list[str]:
    """axe-core's landmark-unique (a moderate rule, which assert_accessible leaves out): a screen
    reader's list of landmarks names each once. (axe is on the page: assert_accessible ran it.)"""
    return tab.evaluate(
        """async () => (await axe.run(document, { runOnly: ["landmark-unique"] })).violations
             .flatMap((v) => v.nodes.map((n) => n.target.join(" ")))"""
    )


def test_signed_out_the_count_leads_to_sign_in_and_back_to_the_same_list(
    tab: Page, served: tuple[Flask, str]
) -> None:
    """A 401 sent the page to /admin/login without ``next``: signed in again, the operator was on
    the whole list, the filters gone. It goes where the server's own redirect goes."""
    app, url = served
    here = "/admin?status=completed&q=pro+plan"
    tab.goto(here)
    expect(tab.locator("#results-count")).to_have_text("Calls 1–1 of 1, newest first")
    server_sends = app.test_client().get(here).headers["Location"]
    assert server_sends == "/admin/login?next=%2Fadmin%3Fstatus%3Dcompleted%26q%3Dpro%2Bplan"
    sign_out_elsewhere(tab, app)
    next_poll(tab)
    expect(tab).to_have_url(url + server_sends)
    tab.locator("#password").fill(PASSWORD)
    tab.keyboard.press("Enter")
    expect(tab).to_have_url(url + here)
    expect(tab.locator("#results-count")).to_have_text("Calls 1–1 of 1, newest first")


def test_a_failed_poll_makes_the_count_unknown_until_one_succeeds(
    tab: Page, served: tuple[Flask, str]
) -> None:
    """A 503 or a network error left the last count on screen for ever, however wrong it became."""
    live = tab.locator(".admin-live")
    tab.route(LIVE, lambda route: route.fulfill(status=503, json={"error": {"code": "call_log_unavailable"}}))
    next_poll(tab)
    expect(live).to_have_text(UNKNOWN)
    assert live.get_attribute("data-live-count") == ""  # as the server renders an unknown count
    tab.unroute(LIVE)
    tab.route(LIVE, lambda route: route.abort("internetdisconnected"))
    post(served[0], {"agent": "support"})
    next_poll(tab)
    tab.wait_for_timeout(500)
    expect(live).to_have_text(UNKNOWN)
    tab.unroute(LIVE)
    next_poll(tab)
    expect(live).to_have_text("1 call in progress")


def test_one_poll_at_a_time_and_none_for_ever(tab: Page) -> None:
    """On a slow server polls piled up, each one answering whenever it came (out of order), and one
    that never came back held the last count on screen."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)  # never answered

    tab.route(LIVE, hold)
    for _ in range(3):
        poll_now(tab)
    wait_on_page(tab, lambda: held, "the first poll")
    tab.wait_for_timeout(1000)
    assert len(held) == 1, "a poll started while another was under way"
    expect(tab.locator(".admin-live")).to_have_text(UNKNOWN, timeout=6000)  # given up after 4 s
    tab.unroute(LIVE)
    next_poll(tab)
    expect(tab.locator(".admin-live")).to_have_text("No calls in progress")


def test_the_csv_link_signed_out_shows_the_sign_in_page_then_downloads(
    tab: Page, served: tuple[Flask, str]
) -> None:
    """The link had ``download``: with the session gone, the sign-in page it was sent to was saved as
    a file (login.html) and the page stayed as it was."""
    app, url = served
    tab.goto("/admin?agent=sales")
    sign_out_elsewhere(tab, app)
    tab.get_by_role("link", name="Download CSV").click()
    expect(tab).to_have_url(url + "/admin/login?next=%2Fadmin%2Fcalls.csv%3Fagent%3Dsales")
    tab.locator("#password").fill(PASSWORD)
    with tab.expect_download() as download:
        tab.keyboard.press("Enter")
    assert download.value.suggested_filename.startswith("webcall-calls-")
    assert "sales" in Path(download.value.path()).read_text()


def test_a_filter_that_is_not_valid_is_marked_for_assistive_technology(
    tab: Page, served: tuple[Flask, str]
) -> None:
    """The field at fault is invalid and described by its reason; the page passes axe-core."""
    serve_axe(tab, served[1])
    tab.goto("/admin?agent=sales&since=yesterday")
    since = tab.get_by_label("From")
    expect(since).to_have_value("yesterday")
    expect(since).to_have_attribute("aria-invalid", "true")
    expect(since).to_have_accessible_description(
        "Must be a date or a date and time, like 2026-03-01 or 2026-03-01T12:00:00Z."
    )
    expect(tab.get_by_label("Agent")).to_have_value("sales")
    tab.get_by_role("alert").get_by_role("link", name="From").click()
    expect(since).to_be_focused()
    assert_accessible(tab, served[1], "a filter that is not valid")


def test_a_summary_keeps_its_lines(tab: Page, served: tuple[Flask, str]) -> None:
    """The summary was one paragraph of flowing text: its line breaks were lost (the transcript's
    lines keep theirs)."""
    app, _ = served
    history = app_state_of(app).history
    record = history.find("sess-pricing")
    assert record is not None
    summary = "The caller asked:\n- the pro plan's price\n- a discount for ten seats"
    with history.engine.begin() as connection:
        connection.execute(sa.update(calls).where(calls.c.call_id == record.call_id).values(summary=summary))
    tab.goto(f"/admin/calls/{record.call_id}")
    assert tab.get_by_role("region", name="Summary").locator("p").first.inner_text() == summary


def test_a_callers_feedback_in_the_list_and_on_the_call(
    tab: Page, served: tuple[Flask, str], artifacts: Path
) -> None:
    """The list shows the rating and the start of the comment (two lines at most, the row stays
    a row); the call's page all of it, with its lines."""
    app, url = served
    history = app_state_of(app).history
    record = history.find("sess-support")
    assert record is not None and record.feedback_rating == "good"  # seeded
    comment = ("It knew the return policy.\nBut it spoke fast, and it " + "repeated itself " * 20).strip()
    history.record_feedback(record.call_id, "bad", comment, record.created_at)
    serve_axe(tab, url)
    tab.goto("/admin?feedback=bad")
    cell = tab.locator(".calls__feedback")
    expect(cell).to_have_count(1)
    expect(cell.locator(".badge--bad")).to_have_text("Not good")
    shown = cell.locator(".calls__comment")
    line = float(shown.evaluate("(c) => parseFloat(getComputedStyle(c).lineHeight)"))
    box = shown.bounding_box()
    assert box and box["height"] <= 2 * line + 1, (box, line)  # cut to two lines
    assert_accessible(tab, url, "admin list with feedback")
    screenshots(tab, artifacts / "screenshots", "admin-calls-feedback", themes=("light",))
    tab.goto(f"/admin/calls/{record.call_id}")
    shown_whole = tab.get_by_role("region", name="The caller's comment").locator("p")
    assert shown_whole.inner_text() == comment
    assert_accessible(tab, url, "admin call with feedback")
    screenshots(tab, artifacts / "screenshots", "admin-call-feedback", themes=("light",))


def test_a_demo_links_calls_are_one_click_away(tab: Page, served: tuple[Flask, str], artifacts: Path) -> None:
    """A call through a demo link shows the link under its agent, on one line however long its
    label; a click lists that link's calls, the filter naming the link."""
    app, url = served
    label = "Acme Corporation, the pilot for the northern region's sales team"
    token = sign_demo_link(admin_tests.SECRET_KEY, "sales", {}, int(time.time()) + 600, label=label)
    answer = post(app, {"agent": "sales", "demo_token": token})
    assert answer.status_code == 201, answer.get_json()
    serve_axe(tab, url)
    tab.goto("/admin")
    shown = tab.locator(".calls__demo")
    expect(shown).to_have_count(1)
    expect(shown).to_have_text(f"Demo: {label}")
    line = float(shown.evaluate("(a) => parseFloat(getComputedStyle(a).lineHeight)"))
    box = shown.bounding_box()
    assert box and box["height"] <= line + 1, (box, line)  # one line, cut with an ellipsis
    assert_accessible(tab, url, "admin list with a demo link")
    screenshots(tab, artifacts / "screenshots", "admin-calls-demo-link", themes=("light", "dark"))
    shown.click()
    expect(tab.locator(".results__count")).to_have_text("Calls 1–1 of 1, newest first")
    expect(tab.locator("#f-demo_link option:checked")).to_have_text(label)
    bar = tab.get_by_role("region", name=f"Demo link “{label}”", exact=False)
    expect(bar).to_contain_text("Works until it expires.")
    bar.get_by_role("button", name="Revoke the link").click()  # a sales person takes it back
    expect(bar).to_contain_text("its page and its calls are refused")
    assert post(app, {"agent": "sales", "demo_token": token}).status_code == 410
    assert_accessible(tab, url, "admin list of a revoked demo link's calls")
    screenshots(tab, artifacts / "screenshots", "admin-calls-demo-link-revoked", themes=("light", "dark"))
    tab.locator(".calls__id").first.click()
    expect(tab.locator(".facts")).to_contain_text(label)
    expect(tab.locator(".facts")).to_contain_text(", revoked 20")
    assert_accessible(tab, url, "admin call through a demo link")
    tab.go_back()
    tab.get_by_role("button", name="Let it work again").click()
    expect(bar).to_contain_text("Works until it expires.")
    assert post(app, {"agent": "sales", "demo_token": token}).status_code == 201


def test_an_expired_demo_link_is_extended_above_its_calls(
    tab: Page, served: tuple[Flask, str], artifacts: Path
) -> None:
    """The prospect asks for another week: the sales person extends the link they already have."""
    app, url = served
    expired_at = int(time.time()) - 60
    token = sign_demo_link(
        admin_tests.SECRET_KEY, "sales", {}, expired_at, label="Initech renewal", max_calls=3
    )
    link = verify_demo_link(admin_tests.SECRET_KEY, token)
    made = LinkMade(link.link_id, "sales", "Initech renewal", datetime.fromtimestamp(expired_at, UTC), 3,
                    now() - timedelta(days=7), "admin")  # fmt: skip
    app_state_of(app).history.record_demo_link(made)
    assert post(app, {"agent": "sales", "demo_token": token}).status_code == 410
    serve_axe(tab, url)
    tab.goto(f"/admin?demo_link={link.link_id}")
    bar = tab.get_by_role("region", name="Demo link “Initech renewal”", exact=False)
    expect(bar).to_contain_text("Expired 20")
    expect(bar.get_by_label("Let it work for")).to_have_value("7d")
    expect(bar.get_by_label("More calls")).to_have_value("1")
    bar.get_by_label("Let it work for").fill("2w")
    assert_accessible(tab, url, "admin list of an expired demo link's calls")
    screenshots(tab, artifacts / "screenshots", "admin-calls-demo-link-extend", themes=("light", "dark"))
    bar.get_by_role("button", name="Extend").click()
    until = now() + timedelta(weeks=2)
    expect(bar).to_contain_text(f"Works until {until:%Y-%m-%d}")
    assert post(app, {"agent": "sales", "demo_token": token}).status_code == 201  # the link they have
    bar.get_by_label("More calls").fill("2")
    bar.get_by_role("button", name="Allow").click()
    expect(bar.get_by_label("More calls")).to_have_attribute("max", "9995")  # 5 calls in all now


def test_a_demo_link_made_in_the_view_is_copied_and_works(
    tab: Page, served: tuple[Flask, str], artifacts: Path
) -> None:
    """The sales person's way: the form, the link copied with one click, the prospect's page."""
    app, url = served
    serve_axe(tab, url)
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    tab.get_by_role("navigation", name="Admin").get_by_role("link", name="Demo links").click()
    expect(tab.get_by_role("heading", name="Demo links", level=1)).to_be_visible()
    tab.get_by_label("Label").fill("Acme pilot")
    tab.get_by_label("Variables").fill("company=Acme\nname=Jo")
    tab.get_by_label("Works for").fill("3d")
    assert_accessible(tab, url, "admin demo links form")
    tab.get_by_role("button", name="Make the link").click()
    made = tab.get_by_role("region", name="A link for Acme pilot")
    expect(made).to_be_visible()
    made.get_by_role("button", name="Copy").click()
    expect(made.get_by_role("status")).to_have_text("Copied.")
    copied = tab.evaluate("navigator.clipboard.readText()")
    assert copied == made.get_by_label("The link").input_value() and f"{url}/demo/sales?t=" in copied
    assert_accessible(tab, url, "admin demo link made")
    assert landmarks_named_twice(tab) == []
    screenshots(tab, artifacts / "screenshots", "admin-demo-link-made", themes=("light", "dark"))
    prospect = tab.context.new_page()
    prospect.goto(copied)
    expect(prospect.locator(".agent__prepared")).to_have_text("Prepared for Acme")
    # Listed at once, before anyone calls; revoked from the table, the prospect's page has ended.
    row = tab.get_by_role("row").filter(has=tab.get_by_role("link", name="Acme pilot"))
    expect(row).to_contain_text("Not yet")
    row.get_by_role("button", name="Revoke: Acme pilot").click()
    expect(row.locator(".badge")).to_have_text("Revoked")
    expect(row).to_contain_text("1 time last")  # Chromium's own navigation, as a prospect's
    prospect.reload()
    expect(prospect.locator("body")).to_contain_text("This demo link is no longer active.")
    prospect.close()
    tab.reload()
    expect(row).to_contain_text("1 time last")  # a refused link's page is no open
    screenshots(tab, artifacts / "screenshots", "admin-demo-link-opened", themes=("light",))  # to look at
    tab.get_by_label("Label").fill("Acme\u0007pilot")  # a control character: refused, marked
    tab.get_by_role("button", name="Make the link").click()
    expect(tab.get_by_label("Label")).to_have_attribute("aria-invalid", "true")
    expect(tab.get_by_role("alert")).to_contain_text("No link made: Label is not valid.")


def test_the_totals_of_the_matching_calls_fit_a_wide_screen_and_a_phone(
    tab: Page, served: tuple[Flask, str], artifacts: Path
) -> None:
    """Above the list, one box per total: in a row on a wide screen, two abreast on a phone, never
    wider than the page; a region of named terms for assistive technology."""
    url = served[1]
    serve_axe(tab, url)
    tab.goto("/admin")
    totals = tab.get_by_role("region", name="The matching calls in all")
    expect(totals.locator("dt")).to_have_text(["Calls", "Completed", "Talk time", "Cost", "Feedback"])
    items = totals.locator(".totals__item")

    def boxes() -> list[dict[str, float]]:
        return [box for i in range(items.count()) if (box := items.nth(i).bounding_box())]

    assert len({round(box["y"]) for box in boxes()}) == 1, boxes()  # one row at 1280 px
    assert_accessible(tab, url, "admin list with totals")
    screenshots(tab, artifacts / "screenshots", "admin-calls-totals", themes=("light", "dark"))  # to look at
    tab.set_viewport_size({"width": 375, "height": 800})
    narrow = boxes()
    assert len({round(box["x"]) for box in narrow}) == 2, narrow
    assert len({round(box["y"]) for box in narrow}) == 3, narrow
    assert all(box["x"] + box["width"] <= 375 for box in narrow), narrow
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_calls_a_day_are_drawn_and_listed(tab: Page, served: tuple[Flask, str], artifacts: Path) -> None:
    """Under the totals, a bar a day (the seeded calls of 2026-03-01 and its refused request),
    one image for assistive technology with the busiest day said, its numbers in a table that
    opens under it; as wide as the page on a wide screen and on a phone."""
    url = served[1]
    serve_axe(tab, url)
    tab.goto("/admin?since=2026-02-22&until=2026-03-07")
    chart = tab.get_by_role("img", name="Calls a day, 2026-02-22 to 2026-03-07 (UTC)", exact=True)
    expect(chart).to_be_visible()
    expect(chart).to_have_accessible_description("The most in a day: 5, on 2026-03-01.")
    bars = chart.locator("rect")
    expect(bars).to_have_count(2)  # the calls of the day, and its refused request above them
    heights = [box["height"] for i in range(2) if (box := bars.nth(i).bounding_box())]
    frame = chart.bounding_box()
    assert frame and heights and heights[0] == pytest.approx(frame["height"] * 4 / 5, abs=1.5), (
        heights,
        frame,
    )
    table = tab.locator("figure").get_by_role("table")
    expect(table).to_be_hidden()
    tab.get_by_text("Each day").click()
    expect(table.get_by_role("row")).to_have_count(15)  # its head and 14 days
    expect(table.get_by_role("row", name="2026-03-01")).to_contain_text("41")  # 4 calls, 1 refused
    assert_accessible(tab, url, "admin list with its calls a day")
    screenshots(tab, artifacts / "screenshots", "admin-calls-a-day", themes=("light", "dark"))  # to look at
    tab.set_viewport_size({"width": 375, "height": 800})
    narrow = chart.bounding_box()
    assert narrow and narrow["x"] + narrow["width"] <= 375 and narrow["width"] > 250, narrow
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    table.get_by_role("link", name="2026-03-01").click()  # a day leads to its calls
    expect(tab.locator("#f-since")).to_have_value("2026-03-01")
    expect(tab.locator("#f-until")).to_have_value("2026-03-01")
    expect(tab.locator("#results-count")).to_have_text("Calls 1–5 of 5, newest first")


def test_a_calls_events_on_its_page(
    chromium: Browser, admin_app: Callable[..., Flask], artifacts: Path
) -> None:
    """What the site's URL was told of a call: each event's state in words and a badge, axe clean."""
    receiver = Receiver(statuses=[204, 503])
    with FakeServer(receiver.app()) as hooks:
        app = admin_app(WEBCALL_EVENTS_URL=f"{hooks.url}/hooks/webcall", WEBCALL_EVENTS_SECRET=SECRET)
        sender = app.extensions["webcall.events"]
        sender.started = True  # sent a pass at a time, here
        created = post(app, {"agent": "support"}).get_json()
        record = app_state_of(app).history.find(created["call_id"])
        assert record is not None
        app_state_of(app).history.record_feedback(
            record.call_id, "good", "Quick and clear.", record.created_at
        )
        assert sender.send_due() == 2  # created: sent; rated: refused, waiting
        with FakeServer(app) as server:
            context = chromium.new_context(base_url=server.url)
            tab = context.new_page()
            serve_axe(tab, server.url)
            tab.goto(f"/admin/login?next=/admin/calls/{record.call_id}")
            tab.locator("#password").fill(PASSWORD)
            tab.keyboard.press("Enter")
            events = tab.get_by_role("region", name="Events sent to your URL").get_by_role("listitem")
            expect(events).to_have_count(2)
            expect(events.nth(0)).to_contain_text("call.created")
            expect(events.nth(0).locator(".badge")).to_have_text("Sent")
            expect(events.nth(1).locator(".badge")).to_have_text("Waiting")
            expect(events.nth(1)).to_contain_text("HTTP 503 at attempt 1; next at")
            assert_accessible(tab, server.url, "admin call with events")
            screenshots(tab, artifacts / "screenshots", "admin-call-events", themes=("light", "dark"))
            context.close()


def test_the_events_page_sends_a_given_up_event_again(
    chromium: Browser, admin_app: Callable[..., Flask], artifacts: Path
) -> None:
    """Every call's events in one table: given up after eight refusals, sent again by a click,
    then delivered; axe clean, and laid out on a phone."""
    receiver = Receiver(statuses=[503] * 8)
    with FakeServer(receiver.app()) as hooks:
        app = admin_app(
            WEBCALL_EVENTS_URL=f"{hooks.url}/hooks/webcall?token=t0ken", WEBCALL_EVENTS_SECRET=SECRET
        )
        sender = app.extensions["webcall.events"]
        sender.started = True  # sent a pass at a time, here
        record = app_state_of(app).history.find(post(app, {"agent": "support"}).get_json()["call_id"])
        assert record is not None
        call_id, at = record.call_id, now()
        for delay in (*RETRY_DELAYS_S, 0):  # refused eight times: given up
            assert sender.send_due(at) == 1
            at += timedelta(seconds=delay)
        with FakeServer(app) as server:
            context = chromium.new_context(base_url=server.url)
            tab = context.new_page()
            serve_axe(tab, server.url)
            tab.goto("/admin/login")
            tab.locator("#password").fill(PASSWORD)
            tab.keyboard.press("Enter")
            tab.get_by_role("navigation", name="Admin").get_by_role("link", name="Events").click()
            expect(tab.get_by_role("heading", level=1)).to_have_text("Events")
            expect(tab.locator(".panel__text").first).to_contain_text(hooks.url)
            expect(tab.locator("body")).not_to_contain_text("t0ken")
            table = tab.get_by_role("table")
            expect(table.get_by_role("row")).to_have_count(2)
            expect(table.locator(".badge")).to_have_text("Given up")
            expect(table).to_contain_text("HTTP 503")
            expect(table.get_by_role("link", name="support")).to_have_attribute(
                "href", f"/admin/calls/{call_id}"
            )
            assert_accessible(tab, server.url, "admin events, one given up")
            assert landmarks_named_twice(tab) == []
            screenshots(tab, artifacts / "screenshots", "admin-events", themes=("light", "dark"))
            tab.get_by_role("button", name="Send a test event").click()  # the receiver takes it (204)
            expect(tab.get_by_role("status").filter(has_text="Your URL took the test event")).to_be_visible()
            assert_accessible(tab, server.url, "admin events, a test event taken")
            table.get_by_role("button", name="Send again").click()
            expect(tab.get_by_role("status").filter(has_text="in line again")).to_be_visible()
            expect(table.locator(".badge")).to_have_text("Waiting")
            assert sender.send_due() == 1  # the receiver takes it now
            tab.get_by_label("State").select_option("sent")
            tab.get_by_role("button", name="Show").click()
            expect(tab).to_have_url(f"{server.url}/admin/events?state=sent&type=")
            expect(table.locator(".badge")).to_have_text("Sent")
            assert_accessible(tab, server.url, "admin events, sent")
            tab.get_by_label("Event", exact=True).select_option("call.rated")
            tab.get_by_role("button", name="Show").click()
            expect(tab).to_have_url(f"{server.url}/admin/events?state=sent&type=call.rated")
            expect(tab.get_by_text("No event is in that state and of that type.")).to_be_visible()
            expect(tab.get_by_label("Event", exact=True)).to_have_value("call.rated")
            context.close()
    assert len(receiver.received) == 10 and receiver.events()[-1]["data"]["call_id"] == call_id
    assert receiver.events()[-2]["type"] == "webhook.test"
