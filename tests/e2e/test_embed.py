"""The embeds on a customer's site, in Chromium: the script widget and the iframe.

The ``embed_hosts`` fixture serves ``tests/embed_host/*.html`` from two other origins: one
the ``widget`` agent allows and one it doesn't. The widget is observed as a host page sees
it (the ``webcall:*`` events it records in ``window.received``) and from outside (requests,
``getStats()`` of its peer connections, screenshots).
"""

from __future__ import annotations

import base64
import gzip
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.e2e.test_call import INBOUND_AUDIO, poll
from tests.support.browser import wait_for_js, wait_on_page
from tests.support.processes import ROOT

pytestmark = pytest.mark.e2e

LOADER = ROOT / "static" / "dist" / "loader" / "embed.js"
LOADER_MAX_GZIP_BYTES = 5_000
GREETING = "Hello from the widget."

# Collect the page's peer connections before any page script runs (see test_call.py).
PEER_CONNECTIONS = """
window.__pcs = [];
const NativePC = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePC {
  constructor(...args) { super(...args); window.__pcs.push(this); }
};
"""

# How many pixels of two same-sized PNGs (data URLs) differ by more than a rounding error.
PIXEL_DIFFERENCE = """
async ([a, b]) => {
  const load = (src) => new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = reject;
    image.src = src;
  });
  const pixels = (image) => {
    const canvas = new OffscreenCanvas(image.width, image.height);
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    return context.getImageData(0, 0, image.width, image.height).data;
  };
  const [x, y] = await Promise.all([load(a), load(b)]);
  if (x.width !== y.width || x.height !== y.height) {
    return { sizes: [[x.width, x.height], [y.width, y.height]] };
  }
  const [p, q] = [pixels(x), pixels(y)];
  let differing = 0;
  for (let i = 0; i < p.length; i += 4) {
    const most = Math.max(...[0, 1, 2, 3].map((c) => Math.abs(p[i + c] - q[i + c])));
    if (most > 8) differing += 1;
  }
  return { differing, total: p.length / 4 };
}
"""


def host_url(stack: dict[str, Any], site: str, page_name: str) -> str:
    """A page of the ``allowed`` or ``denied`` customer site."""
    return f"{stack['embed_hosts'][site].origin}/{page_name}"


def received(page: Page, kind: str | None = None) -> list[dict[str, Any]]:
    """The webcall:* events the host page recorded (all, or those of one kind)."""
    events: list[dict[str, Any]] = page.evaluate("window.received")
    return [e for e in events if kind is None or e["type"] == kind]


def open_panel(widget: Locator) -> Locator:
    """Click the launcher and wait for the call UI to be ready; returns the Talk button."""
    widget.locator(".launcher").click()
    talk = widget.locator("#talk")
    expect(talk).to_be_enabled(timeout=15_000)
    return talk


def test_loader_is_small_and_carries_no_call_code() -> None:
    assert LOADER.is_file(), "static/dist/loader/embed.js is missing: run npm run build"
    code = LOADER.read_bytes()
    assert len(gzip.compress(code, compresslevel=9)) < LOADER_MAX_GZIP_BYTES
    assert b"livekit" not in code.lower() and b"RTCPeerConnection" not in code


def test_panel_answers_allowed_origins_and_tells_others_why(stack: dict[str, Any]) -> None:
    url = f"{stack['app'].url}/embed/widget/panel"
    allowed = stack["embed_hosts"]["allowed"].origin
    ok = httpx.get(url, headers={"Origin": allowed, "Sec-Fetch-Site": "cross-site"}, timeout=5)
    assert ok.status_code == 200 and ok.headers["Access-Control-Allow-Origin"] == allowed
    panel = ok.json()
    assert panel["config"]["mode"] == "widget" and re.search(
        r"/static/dist/widget-[A-Z0-9]{8}\.js$", panel["script_url"]
    )
    assert 'id="talk"' in panel["html"]
    denied = stack["embed_hosts"]["denied"].origin
    refused = httpx.get(url, headers={"Origin": denied, "Sec-Fetch-Site": "cross-site"}, timeout=5)
    # The refusal is readable by the refused page (so its widget can say why), the panel is not.
    assert refused.status_code == 403 and refused.headers["Access-Control-Allow-Origin"] == "*"
    assert refused.json()["error"]["code"] == "origin_not_allowed" and "html" not in refused.json()


def test_widget_call_on_an_allowed_site(page: Page, console_log: list[str], stack: dict[str, Any]) -> None:
    page.add_init_script(PEER_CONNECTIONS)
    page.goto(host_url(stack, "allowed", "widget.html"))
    widget = page.locator("webcall-widget")
    expect(widget.locator(".launcher")).to_have_text("Talk to Acme")
    assert page.evaluate("webcall.widgets.length") == 1

    talk = open_panel(widget)
    with page.expect_response(lambda r: r.url.endswith("/api/calls") and r.request.method == "POST") as made:
        talk.click()
    assert made.value.status == 201, made.value.text()
    assert made.value.request.post_data_json["variables"] == {"name": "Ada"}  # from data-var-name
    assert made.value.json()["ignored_variables"] == ["name"]  # the widget agent allows none

    call = widget.locator("#call")
    expect(call).to_have_attribute("data-state", "in-call", timeout=25_000)

    # The agent's audio arrives and is played, from an <audio> inside the widget, not the host page.
    first = page.evaluate(INBOUND_AUDIO)

    def playing() -> Any:
        stats = page.evaluate(INBOUND_AUDIO)
        return stats if stats["level"] > 0.01 and stats["bytes"] > first["bytes"] + 1000 else None

    assert poll(playing, timeout_s=15), f"no agent audio playing: {page.evaluate(INBOUND_AUDIO)}"
    assert page.evaluate("document.querySelectorAll('audio').length") == 0
    expect(widget.locator("audio")).to_have_count(1)
    greeting = widget.locator('#transcript [data-speaker="agent"]').first
    expect(greeting).to_contain_text(GREETING, timeout=15_000)

    # During a call a stray Escape ends nothing; ✕ says that it ends the call.
    close = widget.locator(".close")
    expect(close).to_have_attribute("aria-label", "End call and close")
    widget.locator("#hangup").focus()
    page.keyboard.press("Escape")
    page.wait_for_timeout(1_500)  # a call of a measurable length: webcall:end says at least 1 s
    expect(call).to_have_attribute("data-state", "in-call")
    expect(widget.locator(".frame")).to_be_visible()
    widget.locator("#hangup").click()
    expect(call).to_have_attribute("data-state", "ended", timeout=10_000)
    expect(close).to_have_attribute("aria-label", "Close")

    # The host page heard the whole call, each event from the widget's element.
    kinds = [e["type"] for e in received(page)]
    for kind in ("loaded", "open", "ready", "start", "connected", "transcript", "end"):
        assert kind in kinds, kinds
    assert "error" not in kinds, received(page, "error")
    assert {e["agent"] for e in received(page)} == {"widget"}
    assert any(GREETING in e["detail"]["text"] for e in received(page, "transcript"))
    end = received(page, "end")[-1]["detail"]
    assert end["reason"] == "hangup" and end["duration_s"] >= 1, end


def test_widget_on_a_denied_site_is_refused(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))
    page.goto(host_url(stack, "denied", "widget.html"))
    widget = page.locator("webcall-widget")
    widget.locator(".launcher").click()

    problem = widget.locator(".note--problem")
    expect(problem).to_contain_text("Calls aren't available on this site.")
    expect(problem).to_contain_text("This site is not allowed to start calls with this agent.")
    expect(widget.locator("#talk")).to_have_count(0)
    expect(widget.get_by_role("button", name="Try again")).to_have_count(0)  # it would be refused again
    assert received(page, "error")[0]["detail"]["code"] == "origin_not_allowed"
    # No call code was loaded and no call was asked for.
    assert not [r for r in requests if "/api/calls" in r or "widget.js" in r], requests


def test_api_refusal_shows_in_the_panel(page: Page, console_log: list[str], stack: dict[str, Any]) -> None:
    refusal = {"code": "origin_not_allowed", "message": "This site may not start calls with this agent."}
    allowed = stack["embed_hosts"]["allowed"].origin
    page.route(
        "**/api/calls",
        lambda route: route.fulfill(
            status=403,
            json={"error": refusal},
            headers={"Access-Control-Allow-Origin": allowed},
        ),
    )
    page.goto(host_url(stack, "allowed", "widget.html"))
    widget = page.locator("webcall-widget")
    open_panel(widget).click()
    expect(widget.locator("#call")).to_have_attribute("data-state", "failed", timeout=10_000)
    expect(widget.locator("#error")).to_contain_text(refusal["message"])
    assert [e["detail"]["code"] for e in received(page, "error")] == ["origin_not_allowed"]
    assert not received(page, "connected")


@pytest.mark.parametrize("site", ["allowed", "denied"])
def test_iframe_embed_follows_frame_ancestors(
    page: Page, console_log: list[str], stack: dict[str, Any], site: str
) -> None:
    page.goto(host_url(stack, site, "iframe.html"), wait_until="load")
    frame = page.locator("iframe").element_handle().content_frame()
    assert frame is not None
    ours = f"{stack['app'].url}/embed/widget"
    if site == "allowed":
        assert frame.url == ours
        expect(frame.locator("#talk")).to_be_enabled()
        return
    # Chromium refuses to render our page in the frame: it says why, and shows none of our markup.
    wait_on_page(page, lambda: any("frame-ancestors" in line for line in console_log), "the CSP's message", 5)
    assert frame.url != ours, frame.url
    assert frame.evaluate("document.querySelector('#call')") is None


def test_the_iframe_tells_its_host_page_the_call_s_events(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """Around the frame, on an allowed origin, the page hears webcall:* events as messages from
    our origin: the same call, start to end, that the frame's own DOM sees."""
    page.goto(host_url(stack, "allowed", "iframe.html"), wait_until="load")
    frame = page.frame_locator("iframe")
    frame.locator("#talk").click()
    expect(frame.locator("#call")).to_have_attribute("data-state", "in-call", timeout=20_000)
    frame.locator("#hangup").click()
    expect(frame.locator("#call")).to_have_attribute("data-state", "ended")
    ended = "() => window.received.some((m) => m.data.type === 'webcall:end') && window.received"
    messages = wait_for_js(page, ended)
    assert {m["origin"] for m in messages} == {stack["app"].url}
    assert {m["data"]["source"] for m in messages} == {"webcall"}
    types = [m["data"]["type"] for m in messages]
    assert types.index("webcall:start") < types.index("webcall:connected") < types.index("webcall:end"), types
    end = next(m["data"]["detail"] for m in messages if m["data"]["type"] == "webcall:end")
    assert end["reason"] == "hangup" and end["duration_s"] >= 0


def widget_screenshots(page: Page, url: str) -> tuple[bytes, bytes]:
    """The closed launcher, then the open panel, of the page's widget."""
    page.goto(url)
    widget = page.locator("webcall-widget")
    launcher = widget.locator(".launcher").screenshot(animations="disabled")
    open_panel(widget)
    page.mouse.move(0, 0)  # no hover effect on either
    panel = widget.locator(".frame").screenshot(animations="disabled")
    return launcher, panel


def test_host_css_and_csp_cannot_change_the_widget(
    page: Page, console_log: list[str], stack: dict[str, Any], artifacts: Path
) -> None:
    plain = widget_screenshots(page, host_url(stack, "allowed", "widget.html"))
    for host_page in ("hostile.html", "strict-csp.html"):
        shots = widget_screenshots(page, host_url(stack, "allowed", host_page))
        page.goto("about:blank")
        for name, a, b in zip(("launcher", "panel"), plain, shots, strict=True):
            (artifacts / f"embed-{name}-widget.png").write_bytes(a)
            (artifacts / f"embed-{name}-{host_page.removesuffix('.html')}.png").write_bytes(b)
            if a == b:
                continue
            urls = [f"data:image/png;base64,{base64.b64encode(shot).decode()}" for shot in (a, b)]
            difference = page.evaluate(PIXEL_DIFFERENCE, urls)
            assert "sizes" not in difference, f"{host_page} {name}: {difference}"
            assert difference["differing"] <= difference["total"] * 0.001, f"{host_page} {name}: {difference}"
    # The strict policy refused nothing the widget needs.
    assert not [line for line in console_log if "Content Security Policy" in line], console_log


def test_two_widgets_on_one_page_are_independent(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    page.goto(host_url(stack, "allowed", "two.html"))
    # Async scripts run in the order they load: find each widget by its label.
    widgets = page.locator("webcall-widget")
    sales = widgets.filter(has=page.locator(".launcher", has_text="Sales"))
    support = widgets.filter(has=page.locator(".launcher", has_text="Support"))
    expect(sales).to_have_count(1)
    expect(support).to_have_count(1)
    assert sorted(page.evaluate("webcall.widgets.map(w => w.label)")) == ["Sales", "Support"]
    sales_box, support_box = sales.bounding_box(), support.bounding_box()
    assert sales_box and support_box and support_box["x"] + support_box["width"] < sales_box["x"]
    assert support.get_attribute("data-theme") == "dark"
    # Its accent is a mid tone that neither dark nor white text reads on at 4.5:1 (white has
    # 4.3): darkened until white text does. The launcher and the dialog are named by the host's
    # label, so they take the host page's language (the panel says its own once loaded).
    launcher = support.locator(".launcher")
    expect(launcher).to_have_css("background-color", "rgb(156, 93, 93)")
    expect(launcher).to_have_css("color", "rgb(255, 255, 255)")
    assert support.locator(".wc").get_attribute("lang") is None

    # Escape closes a panel and gives the focus back to its launcher, ringed inside, on its
    # accent: outside, the ring would lie on the host page's colours, whatever they are.
    open_panel(sales)
    page.keyboard.press("Escape")
    expect(sales.locator(".frame")).to_be_hidden()
    expect(sales.locator(".launcher")).to_be_focused()
    assert sales.locator(".launcher").evaluate("e => e.matches(':focus-visible')")
    expect(sales.locator(".launcher")).to_have_css("outline-offset", "-6px")
    ring = sales.locator(".launcher").evaluate("e => getComputedStyle(e).outlineColor")
    assert ring == sales.locator(".launcher").evaluate("e => getComputedStyle(e).color"), ring

    open_panel(sales)
    expect(support.locator(".frame")).to_be_hidden()
    is_open = "Object.fromEntries(webcall.widgets.map(w => [w.label, w.isOpen]))"
    assert page.evaluate(is_open) == {"Sales": True, "Support": False}

    # The JS API opens the second one; closing the first leaves it open.
    assert page.evaluate("webcall.widgets.find(w => w.label === 'Support').open()") is True
    expect(support.locator("#talk")).to_be_enabled()
    expect(support.locator("#call")).to_have_attribute("data-theme", "dark")
    sales.locator(".close").click()
    expect(sales.locator(".frame")).to_be_hidden()
    assert page.evaluate(is_open) == {"Sales": False, "Support": True}
    page.evaluate("webcall.close()")  # every widget
    expect(support.locator(".frame")).to_be_hidden()
    # Each panel is its own: the same ids live in two shadow roots.
    expect(page.locator("webcall-widget #call")).to_have_count(2)


def test_the_js_api_says_whether_a_call_started(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """`start()` resolves true only for a call it started (false for no such widget); a panel
    closed, or a call ended, while the panel loaded starts none; a second `destroy()` takes no
    other widget with it; a widget its host takes out of the page ends its call."""
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if r.url.endswith("/api/calls") else None)
    page.goto(host_url(stack, "allowed", "two.html"))
    expect(page.locator("webcall-widget")).to_have_count(2)
    sales = "webcall.widgets.find(w => w.label === 'Sales')"
    # Closed before the panel and its call code have loaded: no call, and start() says so.
    assert page.evaluate(f"(() => {{ const p = {sales}.start(); {sales}.close(); return p; }})()") is False
    widget = page.locator("webcall-widget").filter(has=page.locator(".launcher", has_text="Sales"))
    expect(widget.locator("#talk")).to_be_enabled()
    expect(widget.locator(".frame")).to_be_hidden()
    assert requested == []

    page.evaluate("window.__ends = []; addEventListener('webcall:end', (e) => __ends.push(e.detail.reason))")
    assert page.evaluate(f"{sales}.start()") is True
    expect(widget.locator("#call")).to_have_attribute("data-state", "in-call", timeout=20_000)
    assert page.evaluate(f"{sales}.start()") is False  # one call at a time
    assert len(requested) == 1
    page.evaluate(f"{sales}.end()")
    expect(widget.locator("#call")).to_have_attribute("data-state", "ended")

    # Ended by the page before the panel and its call code have loaded (a visitor who changed their
    # mind, the page's own Cancel): no call either, and start() says so.
    support = "webcall.widgets.find(w => w.label === 'Support')"
    assert page.evaluate(f"(() => {{ const p = {support}.start(); {support}.end(); return p; }})()") is False
    support_widget = page.locator("webcall-widget").filter(has=page.locator(".launcher", has_text="Support"))
    expect(support_widget.locator("#talk")).to_be_enabled()
    expect(support_widget.locator("#call")).to_have_attribute("data-state", "ready")
    assert len(requested) == 1

    page.evaluate(
        "(() => { const w = webcall.widgets.find(w => w.label === 'Support'); w.destroy(); w.destroy(); })()"
    )
    assert page.evaluate("webcall.widgets.map(w => w.label)") == ["Sales"]
    expect(page.locator("webcall-widget")).to_have_count(1)

    # No widget for that agent (a typo, or asked before the page was parsed): a Promise of false.
    assert page.evaluate("webcall.start('nobody')") is False
    assert page.evaluate("webcall.open('nobody')") is False

    # Taken out of the page by its host (a single-page app's next view) during a conversation:
    # the call ends, and the API forgets the widget until it is put back.
    assert page.evaluate(f"{sales}.start()") is True
    expect(widget.locator("#call")).to_have_attribute("data-state", "in-call", timeout=20_000)
    page.evaluate(f"window.__sales = {sales}; __sales.element.remove()")
    # (its events no longer reach the page: it is out of the document)
    wait_for_js(page, "() => __sales.element.shadowRoot.querySelector('#call').dataset.state === 'ended'")
    assert page.evaluate("webcall.widgets.length") == 0
    page.evaluate("document.body.append(__sales.element)")
    assert page.evaluate("webcall.widgets.map(w => w.label)") == ["Sales"]

    # Removed by its host during a conversation, the widget hangs it up (not "cancelled").
    assert page.evaluate(f"{sales}.start()") is True
    expect(widget.locator("#call")).to_have_attribute("data-state", "in-call", timeout=20_000)
    page.evaluate(f"{sales}.destroy()")
    assert page.evaluate("__ends") == ["hangup", "hangup"]


@pytest.mark.parametrize("event", ["webcall:start", "webcall:state"])
def test_a_host_that_ends_the_call_as_it_starts_ends_it(
    page: Page, console_log: list[str], stack: dict[str, Any], event: str
) -> None:
    """A host's listener for the call's first events may end it at once (its own Cancel, a
    rule of its page): the call ends there, without the microphone or the room, and the next
    Talk starts a call again. Ended with `destroy()`, the widget is gone and no call goes on
    without it."""
    page.add_init_script(
        """window.__tracks = [];
        const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        navigator.mediaDevices.getUserMedia = async (constraints) => {
          const stream = await open(constraints);
          __tracks.push(...stream.getTracks());
          return stream;
        };"""
    )
    live = "__tracks.filter(t => t.readyState === 'live').length"
    page.goto(host_url(stack, "allowed", "two.html"))
    expect(page.locator("webcall-widget")).to_have_count(2)
    sales = "webcall.widgets.find(w => w.label === 'Sales')"
    widget = page.locator("webcall-widget").filter(has=page.locator(".launcher", has_text="Sales"))
    page.evaluate(
        f"""(() => {{
          window.__ends = []; window.__states = [];
          addEventListener('webcall:end', (e) => __ends.push(e.detail.reason));
          addEventListener('webcall:state', (e) => __states.push(e.detail.state));
          addEventListener({event!r}, () => {sales}.end(), {{ once: true }});
        }})()"""
    )
    assert page.evaluate(f"{sales}.start()") is True
    wait_for_js(page, "() => __ends.length === 1")
    expect(widget.locator("#call")).to_have_attribute("data-state", "ended")
    page.wait_for_timeout(1500)  # what a call that went on would do meanwhile
    assert page.evaluate("__ends") == ["cancelled"]
    assert "in-call" not in page.evaluate("__states")
    assert page.evaluate(live) == 0
    assert widget.locator("#call").get_attribute("data-state") == "ended"

    assert page.evaluate(f"{sales}.start()") is True  # the panel is free for the next call
    expect(widget.locator("#call")).to_have_attribute("data-state", "in-call", timeout=20_000)
    page.evaluate(f"{sales}.end()")
    expect(widget.locator("#call")).to_have_attribute("data-state", "ended")

    page.evaluate(f"addEventListener({event!r}, () => {sales}.destroy(), {{ once: true }})")
    assert page.evaluate(f"window.__s = {sales}; __s.start()") is True
    wait_for_js(page, "() => __ends.length === 3")
    page.wait_for_timeout(1500)
    assert page.evaluate("__ends") == ["cancelled", "hangup", "cancelled"]
    assert page.evaluate(live) == 0
    assert page.evaluate("__s.element.shadowRoot.querySelector('#call').dataset.state") != "in-call"
    assert page.evaluate("webcall.widgets.map(w => w.label)") == ["Support"]


def test_a_widget_taken_out_while_its_panel_loads_works_when_put_back(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """A single-page app moves the widget out and back (a view rendered twice) while its panel
    loads: the panel is kept, not destroyed (only destroy() does that), so Talk works when it
    is back."""
    page.goto(host_url(stack, "allowed", "two.html"))
    expect(page.locator("webcall-widget")).to_have_count(2)
    support = "webcall.widgets.find(w => w.label === 'Support')"
    page.evaluate(f"window.__s = {support}; window.__opened = __s.open(); __s.element.remove()")
    page.wait_for_timeout(500)  # the panel's fetch and code meanwhile (its styles wait for the page)
    page.evaluate("document.body.append(__s.element)")
    assert page.evaluate("__opened") is True
    assert page.evaluate("__s.start()") is True
    widget = page.locator("webcall-widget").filter(has=page.locator(".launcher", has_text="Support"))
    expect(widget.locator("#call")).to_have_attribute("data-state", "in-call", timeout=20_000)
    page.evaluate("__s.end()")
    expect(widget.locator("#call")).to_have_attribute("data-state", "ended")


@pytest.mark.parametrize("viewport", [(360, 640), (740, 360)], ids=["phone", "sideways"])
def test_on_a_small_screen_the_panel_takes_the_whole_viewport(
    page: Page, console_log: list[str], stack: dict[str, Any], viewport: tuple[int, int]
) -> None:
    width, height = viewport
    page.set_viewport_size({"width": width, "height": height})
    page.goto(host_url(stack, "allowed", "widget.html"))
    widget = page.locator("webcall-widget")
    launcher = widget.locator(".launcher")
    open_panel(widget)
    box = widget.locator(".frame").bounding_box()
    assert box == {"x": 0, "y": 0, "width": width, "height": height}, box
    expect(launcher).to_be_hidden()  # it would cover the panel
    close = widget.locator(".close").bounding_box()
    assert close and close["width"] >= 44 and close["height"] >= 44 and close["y"] >= 0, close
    expect(widget.locator("#talk")).to_be_in_viewport()
    # The page behind is out of sight: Tab goes round inside the panel, both ways.
    widget.locator(".close").focus()
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.localName") == "webcall-widget"
    expect(widget.locator(".close")).not_to_be_focused()
    page.keyboard.press("Tab")
    expect(widget.locator(".close")).to_be_focused()
    page.keyboard.press("Escape")
    expect(widget.locator(".frame")).to_be_hidden()
    expect(launcher).to_be_focused()


@pytest.mark.parametrize(
    ("embed", "viewport"),
    [
        ("widget", (1280, 800)),
        ("widget", (375, 667)),
        ("widget", (740, 360)),
        ("iframe", (375, 800)),
        ("iframe", (1100, 520)),
    ],
    ids=["widget-desktop", "widget-phone", "widget-sideways", "iframe-narrow", "iframe-short-wide"],
)
def test_during_a_call_the_controls_and_the_chat_box_stay_in_sight(
    page: Page, console_log: list[str], stack: dict[str, Any], embed: str, viewport: tuple[int, int]
) -> None:
    """The transcript gives up height for the rest: the panel's header, ✕, Hang up and chat box
    stay in the frame (the widget's, or the iframe at the README's 640 px) as the lines come."""
    width, height = viewport
    page.set_viewport_size({"width": width, "height": height})
    if embed == "widget":
        page.goto(host_url(stack, "allowed", "widget.html"))
        ui: Any = page.locator("webcall-widget")
        open_panel(ui).click()
        room, in_sight = ui.locator(".frame"), ["#agent-title", ".close", "#hangup", "#chat-input"]
    else:
        page.goto(host_url(stack, "allowed", "iframe.html"), wait_until="load")
        if height < 640:  # a frame as short as a phone held sideways: panel and transcript side by side
            page.locator("iframe").evaluate("frame => { frame.style.height = '400px'; }")
        ui = page.frame_locator("iframe")
        ui.locator("#talk").click()
        room, in_sight = page.locator("iframe"), ["#agent-title", "#hangup", "#chat-input"]
    expect(ui.locator("#call")).to_have_attribute("data-state", "in-call", timeout=25_000)
    lines = ui.locator("#transcript > li")
    for n in range(1, 7):
        ui.locator("#chat-input").fill(f"Question {n}: what does the product cost for a team of ten people?")
        ui.locator("#chat-input").press("Enter")
        expect(ui.locator('#transcript > li[data-chat][data-speaker="user"]')).to_have_count(n)

    bounds = room.bounding_box()
    assert bounds
    top, bottom = bounds["y"] - 1, bounds["y"] + bounds["height"] + 1
    for what, element in [*((s, ui.locator(s)) for s in in_sight), ("the newest line", lines.last)]:
        box = element.bounding_box()
        assert box and top <= box["y"] and box["y"] + box["height"] <= bottom, f"{what}: {box} in {bounds}"
    transcript = ui.locator("#transcript").bounding_box()
    assert transcript and transcript["height"] >= 100, transcript  # a few lines, not a slit


def test_inline_widget_renders_in_place(page: Page, console_log: list[str], stack: dict[str, Any]) -> None:
    page.goto(host_url(stack, "allowed", "inline.html"))
    widget = page.locator("#call-slot > webcall-widget")
    expect(widget.locator("#talk")).to_be_enabled(timeout=15_000)
    expect(widget.locator(".launcher")).to_have_count(0)
    box = widget.bounding_box()
    assert box and box["width"] <= 420 and box["y"] > 0  # in the page's flow, not floating


def test_an_inline_panel_that_failed_to_load_offers_try_again(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """An inline panel has no launcher to open it again: after a failed load it said "open this
    panel again" with no way to, short of reloading the host page. Try again loads it, and the
    keyboard that pressed it lands on Talk. A refused site gets no Try again (above)."""
    failures = [1]

    def fail_once(route: Route) -> None:
        if failures:
            failures.pop()
            route.abort("connectionrefused")
        else:
            route.continue_()

    page.route("**/embed/*/panel", fail_once)
    page.goto(host_url(stack, "allowed", "inline.html"))
    widget = page.locator("#call-slot > webcall-widget")
    problem = widget.locator(".note--problem")
    expect(problem).to_contain_text("We couldn't reach the call service.", timeout=15_000)
    expect(problem).to_contain_text("press Try again")
    assert [e["detail"]["code"] for e in received(page, "error")] == ["network"]
    again = widget.get_by_role("button", name="Try again")
    again.focus()
    page.keyboard.press("Enter")
    expect(widget.locator("#talk")).to_be_enabled(timeout=15_000)
    expect(widget.locator("#talk")).to_be_focused()
    expect(again).to_have_count(0)
    assert [e["type"] for e in received(page) if e["type"] in ("error", "ready")] == ["error", "ready"]


@pytest.mark.parametrize("inline", ["#nowhere", "#", "div["])
def test_a_data_inline_that_finds_nothing_is_said_not_thrown(
    page: Page, console_log: list[str], stack: dict[str, Any], inline: str
) -> None:
    """A host page's typo in data-inline (no such element, or no selector at all) is a console
    error naming it: nothing thrown into the host page."""
    page.goto(host_url(stack, "allowed", "inline.html"))
    expect(page.locator("#call-slot > webcall-widget #talk")).to_be_enabled(timeout=15_000)
    with page.expect_console_message(lambda m: m.type == "error" and "data-inline" in m.text) as said:
        page.evaluate(
            """(inline) => {
                const script = document.createElement('script');
                script.src = document.querySelector('script[data-agent]').src;
                script.dataset.agent = 'widget';
                script.dataset.inline = inline;
                document.body.append(script);
            }""",
            inline,
        )
    assert inline in said.value.text
    assert not [line for line in console_log if line.startswith("pageerror")], console_log
    assert page.locator("webcall-widget").count() == 1
