"""The script embed on host pages that work against it without meaning to, in Chromium.

Markup in a visitor's post that shadows what the loader reads, a page that opens the panel while
its visitor types, a single-page app that renders the snippet again, a phone's full-screen
panel before its call UI is there, files that never answer, a module script tag, a frame
sandboxed without an origin. The pages are ``tests/embed_host/`` (its README says which is
which), served by the ``embed_hosts`` fixture.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.test_embed import host_url, received
from tests.support.browser import wait_for_js, wait_on_page

pytestmark = pytest.mark.e2e

ATTACKER = "http://attacker.example"  # the site of forum.html's image, routed by the test
# What that site would answer if the loader asked it for a panel: code to run in the host page.
ATTACKER_PANEL = {
    "html": "<p>Hi</p>",
    "config": {},
    "css_url": f"{ATTACKER}/panel.css",
    "script_url": f"{ATTACKER}/panel.js",
}
ATTACKER_CODE = "window.pwned = location.origin; export const mountWidget = () => ({element: document.body});"
# webcall.open() from page script, not waited for: window.opened becomes what it resolves with.
OPEN_FROM_THE_PAGE = "() => { window.opened = null; webcall.open('widget').then((ok) => (opened = ok)); }"


def test_markup_in_a_post_cannot_stand_in_for_our_tag_or_api(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """An <img name="currentScript"> made document.currentScript the image: the loader read its
    data-*, fetched a panel from the image's site and imported that site's code into the host
    page. A <form id="webcall"> was taken for window.webcall, and the JS API broke."""
    asked: list[str] = []

    def attacker(route: Route) -> None:
        url = route.request.url
        asked.append(url)
        cors = {"Access-Control-Allow-Origin": "*"}
        if url.endswith("/panel"):
            route.fulfill(json=ATTACKER_PANEL, headers=cors)
        elif url.endswith(".js"):
            route.fulfill(body=ATTACKER_CODE, content_type="text/javascript", headers=cors)
        else:
            route.fulfill(body=b"", content_type="image/png", headers=cors)

    page.route(f"{ATTACKER}/**", attacker)
    page.goto(host_url(stack, "allowed", "forum.html"))
    wait_for_js(page, "() => window.received.some((e) => e.type === 'loaded')")
    page.wait_for_timeout(1_000)  # an inline widget opens at once: its panel would be asked for by now
    assert asked == [f"{ATTACKER}/cat.png"], asked  # the post's own image, and nothing for the widget
    assert page.evaluate("window.pwned") is None

    # Our tag's widget, floating on the body, and window.webcall ours, not the post's form.
    widget = page.locator("body > webcall-widget")
    expect(widget.locator(".launcher")).to_have_text("Talk to Acme")
    ours = page.evaluate("[Array.isArray(webcall.widgets), webcall instanceof HTMLFormElement]")
    assert ours == [True, False]
    assert page.evaluate("webcall.open('widget')") is True
    expect(widget.locator("#talk")).to_be_enabled()
    assert page.evaluate("webcall.widgets.map((w) => w.agent)") == ["widget"]
    assert [e["agent"] for e in received(page) if e["type"] in ("loaded", "ready")] == ["widget", "widget"]
    assert not [line for line in console_log if line.startswith("pageerror")], console_log


def test_opened_by_page_script_the_panel_leaves_the_keyboard_where_it_is(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """The page opens the panel itself (a proactive chat, say) while its visitor types in the
    search box: once loaded, the panel took the focus, and the next Space pressed Talk and
    started a call. Now every key stays in the box; opened from the launcher, the panel still
    takes the keyboard."""
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.method) if r.url.endswith("/api/calls") else None)
    page.goto(host_url(stack, "allowed", "shop.html"))
    wait_for_js(page, "() => window.webcall?.widgets.length")
    search = page.locator("#search")
    search.click()
    page.keyboard.type("red shoes", delay=20)
    page.evaluate(OPEN_FROM_THE_PAGE)
    page.keyboard.type(" in size", delay=20)  # while the panel loads
    wait_for_js(page, "() => window.opened")
    page.keyboard.type(" nine", delay=20)

    expect(search).to_have_value("red shoes in size nine")
    expect(search).to_be_focused()
    widget = page.locator("webcall-widget")
    expect(widget.locator(".frame")).to_be_visible()
    expect(widget.locator("#call")).to_have_attribute("data-state", "ready")
    assert calls == [] and not received(page, "start")

    # From the launcher, with the keyboard: it closes the panel, then opens it on Talk.
    launcher = widget.locator(".launcher")
    launcher.focus()
    page.keyboard.press("Enter")
    expect(widget.locator(".frame")).to_be_hidden()
    page.keyboard.press("Enter")
    expect(widget.locator("#talk")).to_be_focused()
    assert calls == []


@pytest.mark.parametrize("panel", ["loading", "failed"])
def test_on_a_phone_tab_stays_in_the_panel_before_its_call_ui_is_there(
    page: Page, console_log: list[str], stack: dict[str, Any], panel: str
) -> None:
    """Full screen, the page behind is out of sight from the moment the panel opens: while it
    said "Loading…", or that it could not load, Tab went on to the page's links behind it."""
    held: list[Route] = []
    if panel == "loading":
        page.route("**/embed/*/panel", lambda route: held.append(route))  # never answered here
    else:
        page.route("**/embed/*/panel", lambda route: route.abort("connectionrefused"))
    page.set_viewport_size({"width": 360, "height": 640})
    page.goto(host_url(stack, "allowed", "shop.html"))
    widget = page.locator("webcall-widget")
    widget.locator(".launcher").click()
    if panel == "loading":
        expect(widget.locator(".note")).to_have_text("Loading…")
    else:
        expect(widget.get_by_role("button", name="Try again")).to_be_visible()
    close = widget.locator(".close")
    expect(close).to_be_focused()  # the visitor opened it: the keyboard is in the panel already
    for key in ["Tab", "Tab", "Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab"]:
        page.keyboard.press(key)
        assert page.evaluate("document.activeElement.localName") == "webcall-widget", key
    page.keyboard.press("Escape")
    expect(widget.locator(".frame")).to_be_hidden()
    for route in held:
        route.abort()


@pytest.mark.parametrize(
    "stalled",
    ["**/static/dist/widget-*.js", "**/static/dist/call-style-*.css"],
    ids=["call-code", "stylesheet"],
)
def test_a_stalled_load_gives_up_and_try_again_loads_anew(
    page: Page, console_log: list[str], stack: dict[str, Any], stalled: str
) -> None:
    """The call code or its stylesheet never answers: the panel said "Loading…" for ever, open()'s
    Promise never settled, and opening again waited on the same load. After 20 s (the browser's
    clock is moved on) the panel says so, open() gives false and Try again loads anew."""
    held: list[Route] = []
    holding = [True]

    def hold(route: Route) -> None:
        if holding:
            held.append(route)
        else:
            route.continue_()

    page.clock.install()
    page.route(stalled, hold)
    page.goto(host_url(stack, "allowed", "widget.html"))
    wait_for_js(page, "() => window.webcall?.widgets.length")
    page.evaluate(OPEN_FROM_THE_PAGE)
    widget = page.locator("webcall-widget")
    wait_on_page(page, lambda: held, "the request that stalls")
    # (the installed clock also runs on in real time: a loaded machine spent over a second here)
    page.clock.fast_forward(15_000)
    expect(widget.locator(".note")).to_have_text("Loading…")
    page.clock.fast_forward(5_500)

    problem = widget.locator(".note--problem")
    expect(problem).to_contain_text("This call can't start right now.")
    expect(problem).to_contain_text("We couldn't reach the call service.")
    assert page.evaluate("window.opened") is False
    assert [e["detail"]["code"] for e in received(page, "error")] == ["network"]

    # The stalled request answers at last, and Try again gets through: one call UI, one stylesheet.
    holding.clear()
    for route in held:
        route.continue_()
    widget.get_by_role("button", name="Try again").click()
    expect(widget.locator("#talk")).to_be_enabled()
    expect(widget.locator("#call")).to_have_count(1)
    expect(widget.locator("link")).to_have_count(1)
    assert [e["type"] for e in received(page) if e["type"] in ("error", "ready")] == ["error", "ready"]


def test_a_single_page_app_rendering_the_snippet_again_keeps_one_widget(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """A single-page app renders the snippet with each view: every new <script> stacked one more
    identical widget on the same spot (open() opened one, the launcher in sight another). An
    inline one goes with its view's element and comes back in the new one."""
    page.goto(host_url(stack, "allowed", "spa.html"))
    widgets = page.locator("webcall-widget")
    tags = 0  # embed.js tags rendered so far
    for view in ["contact", "home", "contact", "home", "contact"]:
        page.evaluate("(view) => render(view)", view)
        tags += view != "home"
        wait_for_js(page, "(n) => window.scriptsRun === n", tags)
        expect(widgets).to_have_count(1)
    assert page.evaluate("webcall.widgets.length") == 1
    assert page.evaluate("webcall.open('widget')") is True
    expect(widgets.locator(".frame")).to_be_visible()
    page.evaluate("webcall.close()")

    # Inline in the help view: each render has a new slot, and the widget is there, once: the
    # same one, put back with its panel (a new widget each time kept every old one's panel, and
    # its listeners on the page, for good).
    page.evaluate("window.loads = 0; addEventListener('webcall:loaded', () => loads++)")
    for render in range(3):
        page.evaluate("render('help')")
        tags += 1
        wait_for_js(page, "(n) => window.scriptsRun === n", tags)
        expect(page.locator("#talk-here > webcall-widget #talk")).to_be_enabled()
        expect(widgets).to_have_count(2)  # with the floating one, which stays on the body
        assert page.evaluate("webcall.widgets.length") == 2
        if render == 0:
            page.evaluate("window.help = webcall.widgets.find((w) => w.element.hasAttribute('data-inline'))")
        assert page.evaluate("webcall.widgets.includes(help) && help.element.isConnected") is True
        page.evaluate("render('home')")
        wait_for_js(page, "() => webcall.widgets.length === 1")
    assert page.evaluate("loads") == 1


def test_a_call_the_page_starts_leaves_the_keyboard_in_its_fields(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """A chat started by page script while the visitor types in one of the page's fields: its
    message box took the keyboard as the chat began, and the rest of the sentence went to the
    agent. From the page's own button, the message box takes it (a button is not typed in)."""
    page.goto(host_url(stack, "allowed", "media.html"))
    chat = page.locator('webcall-widget[data-agent="chat"]')
    expect(chat.locator("#chat-start")).to_be_enabled(timeout=15_000)
    note = page.locator("#note")
    note.click()
    page.keyboard.type("Order 1234", delay=20)
    page.evaluate("webcall.start('chat', { mode: 'text' })")
    expect(chat.locator("#call")).to_have_attribute("data-state", "in-call", timeout=25_000)
    page.keyboard.type(" arrived broken", delay=20)
    expect(note).to_have_value("Order 1234 arrived broken")
    expect(note).to_be_focused()
    expect(chat.locator("#chat-input")).to_have_value("")
    chat.locator("#hangup").click()
    expect(chat.locator("#call")).to_have_attribute("data-state", "ended", timeout=10_000)

    page.click("#chat-with-us")
    expect(chat.locator("#call")).to_have_attribute("data-state", "in-call", timeout=25_000)
    expect(chat.locator("#chat-input")).to_be_focused()
    chat.locator("#hangup").click()
    expect(chat.locator("#call")).to_have_attribute("data-state", "ended", timeout=10_000)


def test_a_transform_on_the_pages_body_leaves_the_widget_in_its_corner(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """A `transform` (or `filter`) on <body> makes `position: fixed` follow the body: on a long
    page the launcher sat at its foot, out of sight. In the top layer it stays in the window's
    corner, and its panel opens there."""
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(host_url(stack, "allowed", "shop.html"))
    page.add_style_tag(content="body { transform: translateZ(0); filter: saturate(1); min-height: 3000px }")
    launcher = page.locator("webcall-widget .launcher")
    expect(launcher).to_be_visible()
    box = launcher.bounding_box()
    assert box is not None and 700 < box["y"] + box["height"] <= 800 and box["x"] + box["width"] <= 1280, box
    launcher.click()
    frame = page.locator("webcall-widget .frame")
    expect(frame.locator("#talk")).to_be_enabled(timeout=15_000)
    frame_box = frame.bounding_box()
    assert frame_box is not None and 0 <= frame_box["y"] and frame_box["y"] + frame_box["height"] <= 800
    # Taken out and put back (a view changed), it is in the top layer again.
    page.evaluate("(() => { const w = webcall.get().element; w.remove(); document.body.append(w); })()")
    expect(launcher).to_be_visible()
    box = launcher.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 800, box


def test_the_close_button_speaks_the_panels_language(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """✕ was labelled "Close", in English, until the first call: in a French panel it is "Fermer"."""
    page.goto(host_url(stack, "allowed", "shop.html"))
    wait_for_js(page, "() => window.webcall?.widgets.length")
    page.evaluate(
        """() => {
            webcall.get().destroy();
            const script = document.createElement('script');
            script.src = document.querySelector('script[data-agent]').src;
            script.dataset.agent = 'widget';
            script.dataset.lang = 'fr';
            document.body.append(script);
        }"""
    )
    widget = page.locator("webcall-widget")
    widget.locator(".launcher").click()
    expect(widget.locator("#talk")).to_be_enabled(timeout=15_000)
    close = widget.locator(".close")
    expect(close).to_have_attribute("aria-label", "Fermer")
    expect(close).to_have_attribute("lang", "fr")


def test_a_module_script_tag_is_told_to_be_a_classic_one(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """<script type="module"> has no document.currentScript, so the loader can't read its tag:
    it said "add data-agent" to a tag that had one."""
    page.goto(host_url(stack, "allowed", "widget.html"))
    expect(page.locator("webcall-widget .launcher")).to_be_visible()
    with page.expect_console_message(lambda m: m.type == "error" and "webcall:" in m.text) as said:
        page.evaluate(
            """() => {
                const script = document.createElement('script');
                script.type = 'module';
                script.src = document.querySelector('script[data-agent]').src;
                script.dataset.agent = 'widget';
                document.body.append(script);
            }"""
        )
    assert "classic <script> tag" in said.value.text, said.value.text
    assert page.locator("webcall-widget").count() == 1


def test_a_sandboxed_frame_calls_only_with_allow_same_origin(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """The sandbox docs/embedding.md asks for (allow-scripts allow-same-origin allow-forms
    allow-downloads) places a call. Without allow-same-origin the page in the frame has the
    origin "null", which webcall refuses, unreadably: the page can't say why."""
    answers: list[str] = []
    page.on(
        "response",
        lambda r: answers.append(f"{r.request.method} {r.status}") if "/api/calls" in r.url else None,
    )
    page.goto(host_url(stack, "allowed", "iframe-sandbox.html"), wait_until="load")
    documented = page.frame_locator("#documented")
    documented.locator("#talk").click()
    expect(documented.locator("#call")).to_have_attribute("data-state", "in-call", timeout=25_000)
    documented.locator("#hangup").click()
    expect(documented.locator("#call")).to_have_attribute("data-state", "ended")

    no_origin = page.frame_locator("#no-origin")
    no_origin.locator("#talk").click()
    expect(no_origin.locator("#call")).to_have_attribute("data-state", "failed", timeout=15_000)
    # Whichever the page hears first: the unreadable refusal, or the microphone that a page
    # without an origin may be refused as well.
    assert no_origin.locator("#error").get_attribute("data-code") in ("network", "mic-denied")
    assert answers.count("POST 201") == 1, answers  # the documented frame's call, and no other
