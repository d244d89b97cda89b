"""Helpers for the call page in Chromium: event capture, axe checks, screenshots, extra browsers."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright, Route, expect

from .processes import ROOT

# Debian's Chromium, headless on a closed network, with a fake microphone and loopback WebRTC.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
]  # fmt: skip
AXE_PATH = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_URL_PATH = "/static/__axe__.js"  # same origin as the page, so its CSP (script-src 'self') lets it in
SIZES = {"phone": {"width": 375, "height": 740}, "desktop": {"width": 1280, "height": 800}}
THEMES = ("light", "dark")

# Record every webcall:* event (and the state sequence) before any page script runs.
OBSERVE_EVENTS = """
window.__events = [];
window.__states = [];
for (const type of ["webcall:start", "webcall:connected", "webcall:agent-joined", "webcall:transcript",
                    "webcall:end", "webcall:error", "webcall:state", "webcall:agent-state",
                    "webcall:tool-call", "webcall:connection-quality", "webcall:feedback"]) {
  document.addEventListener(type, (e) => {
    window.__events.push({ type, detail: e.detail });
    if (type === "webcall:state") window.__states.push(e.detail.state);
  }, true);
}
"""


def chromium_path() -> str:
    """Debian's Chromium (the tests never download a browser)."""
    return shutil.which("chromium") or "/usr/bin/chromium"


@contextmanager
def launch_chromium(playwright: Playwright, args: list[str]) -> Iterator[Browser]:
    """A separate Chromium with exactly ``args`` (for microphone set-ups the session browser lacks)."""
    browser = playwright.chromium.launch(
        executable_path=chromium_path(), args=args, ignore_default_args=["--mute-audio"]
    )
    try:
        yield browser
    finally:
        browser.close()


def start_call(page: Page, talk: Any) -> dict[str, Any]:
    """Press ``talk`` (a Talk button's locator); our API's answer."""
    with page.expect_response(lambda r: r.url.endswith("/api/calls")) as created:
        talk.click()
    assert created.value.status == 201, created.value.text()
    return dict(created.value.json())


def events(page: Page, kind: str | None = None) -> list[dict[str, Any]]:
    """The webcall:* events seen so far (only ``webcall:<kind>`` when given)."""
    seen: list[dict[str, Any]] = page.evaluate("window.__events")
    return [e for e in seen if kind is None or e["type"] == f"webcall:{kind}"]


def wait_on_page(page: Page, predicate: Callable[[], Any], what: str, timeout_s: float = 10.0) -> None:
    """Let the page run until ``predicate()`` holds. Playwright's sync API runs the listeners a
    test adds (page.on("request"), "console") only while this thread waits in one of its calls:
    a loop around time.sleep would never see them change."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(50)


def wait_for_state(page: Page, state: str, timeout_ms: float = 25_000) -> None:
    """Wait until ``#call[data-state]`` is ``state``."""
    expect(page.locator("#call")).to_have_attribute("data-state", state, timeout=timeout_ms)


def wait_for_js(page: Page, expression: str, arg: Any = None, timeout_s: float = 10.0) -> Any:
    """Poll ``expression`` (a JS function of ``arg``) until truthy; page.wait_for_function would
    eval() the predicate, which the page's CSP forbids."""
    deadline = time.monotonic() + timeout_s
    while not (value := page.evaluate(expression, arg)):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {expression}")
        page.wait_for_timeout(100)
    return value


def serve_axe(page: Page, app_url: str) -> None:
    """Serve axe-core at a same-origin URL for this page's context."""

    def fulfil(route: Route) -> None:
        route.fulfill(body=AXE_PATH.read_bytes(), content_type="text/javascript")

    page.context.route(f"{app_url}{AXE_URL_PATH}", fulfil)


def axe_problems(page: Page, app_url: str) -> list[str]:
    """Run axe-core on the page as it is now; return its serious and critical violations."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(url=f"{app_url}{AXE_URL_PATH}")
    # Colours mid-transition (a theme switch fades backgrounds, not text) are no state a
    # visitor reads in: let running transitions finish first.
    page.evaluate(
        """() => Promise.all(document.getAnimations()
                 .filter((a) => a instanceof CSSTransition).map((a) => a.finished.catch(() => {})))"""
    )
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, { resultTypes: ["violations"] });
          return r.violations.filter((v) => ["serious", "critical"].includes(v.impact)).map((v) =>
            `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
        }"""
    )
    return list(result)


def assert_accessible(page: Page, app_url: str, where: str) -> None:
    """No serious or critical axe violations in the current state."""
    problems = axe_problems(page, app_url)
    assert not problems, f"axe ({where}):\n" + "\n".join(problems)


def screenshots(page: Page, folder: Path, name: str, themes: tuple[str, ...] = THEMES) -> list[Path]:
    """Screenshots of the page as it is, at phone and desktop sizes, in each colour scheme."""
    folder.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    paths = []
    for theme in themes:
        page.emulate_media(color_scheme=theme)  # type: ignore[arg-type]
        for size_name, size in SIZES.items():
            page.set_viewport_size(size)  # type: ignore[arg-type]
            path = folder / f"{name}-{size_name}-{theme}.png"
            page.screenshot(path=str(path), full_page=True, animations="disabled")
            paths.append(path)
    page.emulate_media(color_scheme="light")
    if original:
        page.set_viewport_size(original)
    return paths


def computed(page: Page, selector: str, prop: str) -> str:
    """A computed style value of the first element matching ``selector``."""
    return str(
        page.evaluate(
            "([s, p]) => getComputedStyle(document.querySelector(s)).getPropertyValue(p).trim()",
            [selector, prop],
        )
    )
