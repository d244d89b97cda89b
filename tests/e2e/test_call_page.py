"""The call page in headless Chromium: every state and failure, what it says, and how it looks.

Real pieces, as in test_call.py: livekit-server, the demo agent, gunicorn, provider fakes.
Microphone set-ups the session browser can't give (blocked, absent) get their own Chromium.
Each state is checked for what the page says (``#call[data-state]``, ``#error[data-code]``,
``#status``), run through axe-core, and photographed into test-artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit import rtc
from playwright.sync_api import BrowserContext, Page, Playwright, expect

from tests.e2e.test_call import poll
from tests.e2e.test_media import LOSABLE_MIC, UNPLUG, caller, mic_muted
from tests.fakes import Fault
from tests.support.apps import DEMO_AGENT_NAME
from tests.support.browser import (
    CHROMIUM_ARGS,
    OBSERVE_EVENTS,
    assert_accessible,
    computed,
    events,
    launch_chromium,
    screenshots,
    serve_axe,
    start_call,
    wait_for_js,
    wait_for_state,
)
from tests.support.livekit_server import start_livekit_server
from tests.support.processes import python_argv, start, wait_until
from tests.support.stack import start_app_server
from webapp.history.store import CallQuery, CallStore
from webapp.pages.demo_links import sign_demo_link, verify_demo_link

pytestmark = pytest.mark.e2e

LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48"><rect width="48" height="48" rx="12" '
    'fill="#f59e0b"/><path d="M14 34 24 12l10 22" stroke="#fff" stroke-width="5" fill="none"/></svg>'
)
DARK_BG = "rgb(14, 16, 20)"
LIGHT_BG = "rgb(245, 246, 248)"
# The session's flags without the fake permission UI: Chromium then denies what would be asked.
NO_FAKE_UI = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"]
# Without the fake devices: a machine with no microphone at all.
NO_MICROPHONE = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-device-for-media-stream"]
# How far the transcript is scrolled from its newest line.
FROM_BOTTOM_PX = "(({ scrollHeight, scrollTop, clientHeight }) => scrollHeight - scrollTop - clientHeight)"
FROM_BOTTOM_PX += "(document.getElementById('transcript'))"


@pytest.fixture
def shots(artifacts: Path) -> Path:
    """Where this file's screenshots go."""
    return artifacts / "screenshots"


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """Clipboard access, for the transcript's Copy button; the microphone granted, as the fake
    media UI grants it (a context granted some permissions reports the others denied, and the
    page places no call while the microphone is denied)."""
    return {**browser_context_args, "permissions": ["microphone", "clipboard-read", "clipboard-write"]}


def open_page(page: Page, url: str, app_url: str) -> Page:
    """Load a call page with event capture, axe and the branded agent's logo available."""
    page.add_init_script(OBSERVE_EVENTS)
    serve_axe(page, app_url)
    page.context.route(
        "https://logo.example/**", lambda route: route.fulfill(body=LOGO_SVG, content_type="image/svg+xml")
    )
    page.goto(url)
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    return page


def fail_with(page: Page, code: str, timeout_ms: float = 15_000) -> None:
    """The call failed with ``code``: state, error box and status all say so."""
    wait_for_state(page, "failed", timeout_ms)
    expect(page.locator("#error")).to_have_attribute("data-code", code)
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#status")).to_have_text("Call failed")
    expect(page.locator("#talk")).to_have_text(re.compile("Try again"))
    assert any(e["detail"]["code"] == code for e in events(page, "error")), events(page)


# ---------- the whole call: states, presence, transcript, chat, mute, devices, keeping it ----------

# Which microphone each getUserMedia call opened, by label.
RECORD_MICROPHONES = """
window.__microphones = [];
const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  const stream = await getUserMedia(constraints);
  stream.getAudioTracks().forEach((track) => window.__microphones.push(track.label));
  return stream;
};
"""


# The transcript cut to two lines' height (as a smaller window or a phone's keyboard would).
SHRINK_TRANSCRIPT = "document.getElementById('transcript').style.flex = '0 0 90px'"


# The status line and the agent's state attribute, read in the same instant.
LISTENING_WHILE_MUTED = """() =>
    document.querySelector('#status').textContent.replace(/\\s+/g, ' ').trim()
        === 'Agent is listening · you are muted'
    && document.querySelector('#call').dataset.agentState === 'listening'"""


def test_a_call_from_start_to_transcript(
    page: Page, console_log: list[str], stack: dict[str, Any], shots: Path
) -> None:
    app = stack["app"]
    page.add_init_script(RECORD_MICROPHONES)
    open_page(page, f"{app.url}/talk/demo", app.url)
    call = page.locator("#call")
    expect(call).to_have_attribute("data-state", "ready")
    expect(page.locator("#status")).to_have_text("Ready when you are")
    expect(page.locator("#talk")).to_have_text(re.compile("Talk to Demo agent"))
    expect(page.locator("#talk")).to_be_enabled()
    assert_accessible(page, app.url, "ready")
    screenshots(page, shots, "ready")
    expect(page.locator("#transcript")).not_to_have_attribute("tabindex", "0")  # empty: no Tab stop

    # Keyboard only: Tab reaches Talk, with a visible focus ring, and Enter starts the call.
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "talk":
            break
    expect(page.locator("#talk")).to_be_focused()
    expect(page.locator("#talk")).to_have_css("outline-style", "solid")
    expect(page.locator("#talk")).to_have_css("outline-width", "3px")
    page.keyboard.press("Enter")
    wait_for_state(page, "in-call")
    expect(page.locator("#hangup")).to_be_focused()  # the keyboard follows the action
    states = page.evaluate("window.__states")
    # Forward only, never anything else on the way: "waiting-agent" shows only while the agent is
    # not yet in the room when the page connects (the demo agent is often there first), and a
    # microphone slower than the room's connection goes from "requesting-mic" past "connecting".
    order = ["requesting-mic", "connecting", "waiting-agent", "in-call"]
    seen = states[: states.index("in-call") + 1]
    assert set(seen) <= set(order) and seen == sorted(set(seen), key=order.index), states
    assert seen[0] == "requesting-mic", states

    # Agent presence: its state drives the status line, its real audio drives the orb.
    expect(page.locator("#status")).to_have_text(re.compile("Agent is (speaking|listening|thinking)"))
    expect(page.locator("#agent-level[data-active]")).to_be_attached(timeout=15_000)
    expect(page.locator('#transcript [data-speaker="agent"]').first).to_contain_text(
        "Hello there! I am the webcall demo agent.", timeout=15_000
    )
    expect(page.locator("#transcript")).to_have_attribute("tabindex", "0")  # lines: it may scroll
    # The fake microphone repeats its three sentences every few seconds and the agent answers
    # each: on a loaded machine its answers can run back to back for longer than a wait. Muted,
    # the caller says nothing more, so the agent ends up listening (the status says both). Speech
    # from before the mute can still be recognised and answered after that: status and state are
    # read together, in one look, or the next answer could fall between the two.
    page.click("#mute")
    wait_for_js(page, LISTENING_WHILE_MUTED, timeout_s=45)
    page.click("#mute")
    expect(page.locator("#status")).to_have_text(re.compile("^Agent is (speaking|listening|thinking)…?$"))
    agent_states = {e["detail"]["state"] for e in events(page, "agent-state")}
    assert agent_states == {"thinking", "speaking", "listening"}, agent_states  # as documented
    kinds = [e["type"] for e in events(page)]  # the agent, then what it is doing
    assert kinds.index("webcall:agent-joined") < kinds.index("webcall:agent-state"), kinds
    # The caller's own level while the fake microphone speaks.
    expect(page.locator("#mic-level[data-active]")).to_be_attached(timeout=15_000)
    expect(page.locator("#timer")).to_be_visible()
    expect(page.locator("#timer")).to_have_text(re.compile(r"^00:\d\d$"))
    assert_accessible(page, app.url, "in call")
    page.emulate_media(color_scheme="dark")
    assert_accessible(page, app.url, "in call, dark")
    page.emulate_media(color_scheme="light")
    screenshots(page, shots, "in-call")
    # Down to a 320 px phone without sideways scrolling.
    page.set_viewport_size({"width": 320, "height": 640})
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.set_viewport_size({"width": 1280, "height": 800})

    # Mute with the keyboard shortcut (anywhere in the page but a text field) and the button.
    hang_up_at = page.locator("#hangup").bounding_box()
    page.locator("#transcript").press("m")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#status")).to_contain_text("you are muted")
    # The longer status (two lines here) moves no button from under the pointer.
    assert page.locator("#hangup").bounding_box() == hang_up_at
    # The status is not read out in a call: a screen reader hears the shortcut's effect here.
    expect(page.locator("#announce")).to_have_text("Microphone muted")
    page.click("#mute")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#status")).not_to_contain_text("muted")
    # On a layout that writes another letter on that key (Russian: ь), the same key mutes.
    page.locator("#transcript").dispatch_event("keydown", {"key": "ь", "code": "KeyM"})
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    page.click("#mute")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "false")

    # Typed chat: "m" in the text field is a letter, not a mute; the agent answers in words.
    page.locator("#chat-input").press_sequentially("Hello from my keyboard")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "false")
    page.locator("#chat-input").press("Enter")
    expect(page.locator("#chat-input")).to_have_value("")
    typed = page.locator('#transcript [data-speaker="user"][data-chat]')
    expect(typed).to_have_text("Hello from my keyboard")
    expect(
        page.locator('#transcript [data-speaker="agent"]', has_text="I heard: Hello from my keyboard")
    ).to_be_visible(timeout=30_000)  # after any spoken answers still queued

    # Auto-scroll stops when the reader scrolls up, and "Latest" takes them back down.
    # Room for 2 lines: a reader at the newest line stays there (the list keeps its scrollTop when
    # it shrinks, and a line arriving then found the reader "scrolled up"). The caller's own line
    # always scrolls into view, and one sent as the list shrinks (in one task: its scroll event
    # came after the shrink and before the list's resize was seen, and read as the reader's) too.
    page.fill("#chat-input", "Second message")
    page.evaluate(f"document.getElementById('chat').requestSubmit(); {SHRINK_TRANSCRIPT}")
    wait_for_js(page, f"() => {FROM_BOTTOM_PX} < 48")
    expect(page.locator("#transcript-latest")).to_be_hidden()
    expect(page.locator("#transcript li", has_text="I heard: Second message")).to_be_attached(timeout=30_000)
    page.fill("#chat-input", "Third message")
    page.locator("#chat-input").press("Enter")
    assert page.evaluate(FROM_BOTTOM_PX) < 48
    page.evaluate("document.getElementById('transcript').scrollTop = 0")  # the reader scrolls up
    expect(page.locator("#transcript li", has_text="I heard: Third message")).to_be_attached(timeout=30_000)
    assert page.evaluate(FROM_BOTTOM_PX) > 100  # the reader stays where they were
    expect(page.locator("#transcript-latest")).to_be_visible()
    page.click("#transcript-latest")
    expect(page.locator("#transcript-latest")).to_be_hidden()
    expect(page.locator("#transcript")).to_be_focused()  # not the page: the button has gone
    assert page.evaluate(FROM_BOTTOM_PX) < 48
    page.evaluate("document.getElementById('transcript').style.flex = ''")

    # Microphone and speaker pickers, usable mid-call.
    page.click("#devices summary")
    mic_options = page.locator("#mic-select option")
    expect(mic_options).to_have_count(3)  # Chromium's fake default, 1 and 2
    # One picked while muted opens at unmute (livekit-client restarts the track): that one is metered.
    page.click("#mute")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    page.select_option("#mic-select", label="Fake Audio Input 2")
    page.click("#mute")
    wait_for_js(page, "() => window.__microphones.at(-1) === 'Fake Audio Input 2'")
    expect(page.locator("#mic-level[data-active]")).to_be_attached(timeout=15_000)
    page.select_option("#mic-select", label="Fake Audio Input 1")
    wait_for_js(page, "() => window.__microphones.at(-1) === 'Fake Audio Input 1'")
    expect(page.locator("#speaker-field")).to_be_visible()
    speaker = page.select_option("#speaker-select", label="Fake Audio Output 1")[0]
    wait_for_js(page, "(id) => document.querySelector('#call audio')?.sinkId === id", speaker)
    expect(call).to_have_attribute("data-state", "in-call")

    # Hang up: ended with the duration; the transcript can be copied and downloaded.
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)
    expect(page.locator("#status")).to_have_text(re.compile(r"^Call ended · \d+:\d\d$"))
    expect(page.locator("#talk")).to_have_text(re.compile("Start over"))
    expect(page.locator("#talk")).to_be_focused()
    end = events(page, "end")[-1]["detail"]
    assert end["reason"] == "hangup" and end["duration_s"] >= 1, end
    for kind in ("start", "connected", "agent-joined", "transcript", "end"):
        assert events(page, kind), f"no webcall:{kind}"

    page.click("#transcript-copy")
    expect(page.locator("#announce")).to_have_text("Transcript copied.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("Call with Demo agent\n"), copied
    assert re.search(r"^\[\d\d:\d\d:\d\d\] Agent: Hello there! I am the webcall demo agent\.$", copied, re.M)
    assert re.search(r"^\[\d\d:\d\d:\d\d\] You: Hello from my keyboard$", copied, re.M), copied
    with page.expect_download() as download_info:
        page.click("#transcript-download")
    download = download_info.value
    assert re.fullmatch(r"transcript-demo-\d{4}-\d\d-\d\d-\d{4}\.txt", download.suggested_filename)
    saved = Path(download.path()).read_text()
    assert saved == copied
    assert_accessible(page, app.url, "ended")
    screenshots(page, shots, "ended")

    # Start over: a fresh call with an empty transcript, on the microphone picked before.
    page.click("#talk")
    expect(page.locator("#transcript li")).to_have_count(0)
    wait_for_state(page, "in-call")
    assert page.evaluate("window.__microphones.at(-1)") == "Fake Audio Input 1"
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)
    assert not [line for line in console_log if line.startswith("pageerror")], console_log


# ---------- consent, branding, themes ----------


def test_consent_is_asked_once_and_remembered(page: Page, stack: dict[str, Any], shots: Path) -> None:
    app = stack["app"]
    page.emulate_media(color_scheme="light")
    open_page(page, f"{app.url}/talk/branded", app.url)
    talk, consent = page.locator("#talk"), page.locator("#consent-accept")
    expect(page.locator("#consent-text")).to_contain_text("This call is recorded and transcribed")
    expect(consent).not_to_be_checked()
    # The checkbox is named "I agree" and described by the notice it agrees to.
    expect(consent).to_have_accessible_description(re.compile("This call is recorded and transcribed"))
    expect(talk).to_be_disabled()
    talk.click(force=True)  # a disabled button does nothing
    assert page.locator("#call").get_attribute("data-state") == "ready"

    # The agent's look: dark theme even though the system prefers light, its accent and logo.
    assert computed(page, "body", "background-color") == DARK_BG
    assert computed(page, "#call", "--accent") == "#0f766e"
    expect(page.locator("#talk")).to_have_css("background-color", "rgb(15, 118, 110)")
    expect(page.locator(".agent__logo")).to_have_attribute("src", "https://logo.example/acme.svg")
    assert page.evaluate("document.querySelector('.agent__logo').naturalWidth") > 0
    assert_accessible(page, app.url, "consent, dark theme")

    consent.check()
    expect(talk).to_be_enabled()
    screenshots(page, shots, "branded-consent", themes=("dark",))
    page.reload()
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    expect(consent).to_be_checked()
    expect(talk).to_be_enabled()
    consent.uncheck()  # taking it back asks again
    expect(talk).to_be_disabled()
    page.reload()
    expect(page.locator("#consent-accept")).not_to_be_checked()


def test_consent_given_in_one_tab_holds_in_the_others(page: Page, stack: dict[str, Any]) -> None:
    """Two call pages of the same agent: accepting (or taking back) the notice in one changes the
    other at once, not at its next reload."""
    app = stack["app"]
    first = open_page(page, f"{app.url}/talk/branded", app.url)
    second = open_page(page.context.new_page(), f"{app.url}/talk/branded", app.url)
    expect(second.locator("#talk")).to_be_disabled()
    first.locator("#consent-accept").check()
    expect(second.locator("#consent-accept")).to_be_checked()
    expect(second.locator("#talk")).to_be_enabled()
    second.locator("#consent-accept").uncheck()
    expect(first.locator("#consent-accept")).not_to_be_checked()
    expect(first.locator("#talk")).to_be_disabled()


def test_in_a_short_window_talk_is_in_sight(page: Page, stack: dict[str, Any]) -> None:
    """A phone held sideways, or a laptop zoomed to 200%: 360 px of height."""
    app = stack["app"]
    page.set_viewport_size({"width": 740, "height": 360})
    open_page(page, f"{app.url}/talk/demo", app.url)
    expect(page.locator("#talk")).to_be_in_viewport(ratio=1)


def test_system_theme_follows_the_browser(page: Page, stack: dict[str, Any], shots: Path) -> None:
    app = stack["app"]
    open_page(page, f"{app.url}/talk/demo", app.url)
    expect(page.locator("#call")).to_have_attribute("data-theme", "system")
    page.emulate_media(color_scheme="light")
    assert computed(page, "body", "background-color") == LIGHT_BG
    assert computed(page, ".call__panel", "background-color") == "rgb(255, 255, 255)"
    page.emulate_media(color_scheme="dark")
    assert computed(page, "body", "background-color") == DARK_BG
    assert computed(page, ".call__panel", "background-color") == "rgb(23, 26, 33)"
    # Embedded in an iframe: the same UI, compact.
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 375, "height": 640})
    page.goto(f"{app.url}/embed/demo")
    expect(page.locator("#call")).to_have_attribute("data-mode", "embed")
    assert computed(page, ".orb", "width") == "108px"
    assert computed(page, ".page", "padding-top") == "8px"
    page.screenshot(path=str(shots / "embed-idle-phone-light.png"), full_page=True)
    # Reduced motion: the orb stops moving (audio.js also paints its level only as on/off).
    assert computed(page, ".orb__core", "transition-duration") != "0s"
    page.emulate_media(reduced_motion="reduce")
    assert computed(page, ".orb__core", "transition-duration") == "0s"


# ---------- the microphone: blocked, absent, in use ----------


def test_microphone_blocked(playwright: Playwright, stack: dict[str, Any], shots: Path) -> None:
    app = stack["app"]
    with launch_chromium(playwright, [*NO_FAKE_UI, "--deny-permission-prompts"]) as browser:
        page = open_page(browser.new_page(), f"{app.url}/talk/demo", app.url)
        page.click("#talk")
        fail_with(page, "mic-denied")
        expect(page.locator("#error")).to_contain_text("Microphone access is blocked.")
        expect(page.locator("#error")).to_contain_text("site settings icon left of the address bar")
        assert_accessible(page, app.url, "failed: microphone blocked")
        screenshots(page, shots, "failed")


def test_no_microphone(playwright: Playwright, stack: dict[str, Any]) -> None:
    app = stack["app"]
    with launch_chromium(playwright, NO_MICROPHONE) as browser:
        page = open_page(browser.new_page(), f"{app.url}/talk/demo", app.url)
        page.click("#talk")
        fail_with(page, "mic-missing")
        expect(page.locator("#error")).to_contain_text("No microphone was found.")


@pytest.mark.parametrize(
    ("error", "code", "words"),
    [
        # Another program holds the device.
        ("'Could not start audio source', 'NotReadableError'", "mic-busy", "Another app or browser tab"),
        # The visitor closed the prompt without choosing (a block says "Permission denied"):
        # asking again prompts again, so no steps through the site settings.
        ("'Permission dismissed', 'NotAllowedError'", "mic-dismissed", "The microphone prompt was closed."),
    ],
)
def test_microphone_in_use_or_its_prompt_closed(page: Page, stack: dict[str, Any], error: str, code: str,
                                                words: str) -> None:  # fmt: skip
    """What Chromium's getUserMedia answers in each case, and what the page says."""
    app = stack["app"]
    reject = f"Promise.reject(new DOMException({error}))"
    page.add_init_script(f"navigator.mediaDevices.getUserMedia = () => {reject};")
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    fail_with(page, code)
    expect(page.locator("#error")).to_contain_text(words)
    expect(page.locator("#error")).not_to_contain_text("site settings")


def test_a_microphone_that_cannot_come_back_at_unmute_says_so_and_the_call_goes_on(
    page: Page, stack: dict[str, Any]
) -> None:
    """Unmuting reopens the microphone when another one was picked while muted (or the device
    went away): a getUserMedia that fails there left the caller muted with no word of why.
    The page says so, the call goes on, and the next unmute that works clears it. The next
    call's clock then starts at 00:00, not at this one's time."""
    app = stack["app"]
    page.add_init_script(
        "const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);"
        "navigator.mediaDevices.getUserMedia = (c) => window.__failMic"
        " ? Promise.reject(new DOMException('Could not start audio source', 'NotReadableError')) : open(c);"
    )
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call", 20_000)
    page.click("#mute")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    page.click("#devices summary")
    page.select_option("#mic-select", label="Fake Audio Input 2")  # opened at unmute
    page.evaluate("window.__failMic = true")
    page.click("#mute")
    expect(page.locator("#error")).to_contain_text("couldn't be turned back on", timeout=10_000)
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")  # still muted, as it is
    assert events(page, "error")[-1]["detail"]["code"] == "unmute-failed"
    expect(page.locator("#call")).to_have_attribute("data-state", "in-call")
    page.evaluate("window.__failMic = false")
    page.click("#mute")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#timer")).not_to_have_text("00:00", timeout=5_000)
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)
    # The next call's clock starts from nothing (it shows while reconnecting, even before the agent).
    page.click("#talk")
    assert page.locator("#timer").text_content() == "00:00"
    wait_for_state(page, "in-call", 20_000)
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)


def test_an_answer_slower_than_the_sdks_15_s_wait_still_sends_the_microphone(
    page: Page, stack: dict[str, Any]
) -> None:
    """The microphone opens in the click, and livekit-client drops one that waits 15 s for its
    room (a PublishTrackError, 408): after an answer that slow (the page waits 20 s) the call
    failed, though it had been created. It opens again once the room is entered."""
    app = stack["app"]

    def slow(route: Any) -> None:
        time.sleep(16)  # the browser goes on meanwhile: the SDK's 15 s run out
        route.continue_()

    page.route("**/api/calls", slow)
    open_page(page, f"{app.url}/talk/demo", app.url)
    with page.expect_response(lambda r: r.url.endswith("/api/calls"), timeout=30_000) as created:
        page.click("#talk")
    room = created.value.json()["room"]
    wait_for_state(page, "in-call", 20_000)
    expect(page.locator("#error")).to_be_hidden()

    # The server sees the caller's microphone published, and the page meters it.
    def microphone_published() -> bool:
        tracks = caller(stack["livekit"], room).get("tracks", [])
        return any(track.get("source") == "MICROPHONE" for track in tracks)

    wait_until(microphone_published, timeout_s=10, what="the caller's microphone in the room")
    expect(page.locator("#mic-level[data-active]")).to_be_attached(timeout=10_000)
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)


# ---------- a sales demo link ----------

PRIVATE_AGENTS_TOML = """\
[agents.demo]
provider = "livekit"
agent_id = "webcall-demo"
title = "Demo agent"
description = "Your own voice agent, ready to try."
greeting = "Hello {{name}}! I am the webcall demo agent."
variables = { name = "there" }
allowed_variables = ["name"]
accent_color = "#b45309"
"""
SECRET_KEY = "call-page-test-secret-0123456789abcdef"


def start_private_app(livekit: Any, log_dir: Path) -> Any:
    """An app of our own (a known secret key, one agent) on ``livekit``."""
    env = {**livekit.env(), "WEBCALL_SECRET_KEY": SECRET_KEY}
    return start_app_server(env, log_dir, agents_toml=PRIVATE_AGENTS_TOML)


def test_sales_demo_link(page: Page, stack: dict[str, Any], artifacts: Path, shots: Path) -> None:
    app = start_private_app(stack["livekit"], artifacts / "logs" / "call-page-demo-link")
    try:
        variables = {"company": "Acme", "name": "Jo"}
        token = sign_demo_link(SECRET_KEY, "demo", variables, int(time.time()) + 600, label="Acme pilot")
        referers: list[str] = []  # what the page's own requests send: its origin, not the token
        page.on("request", lambda r: referers.append(r.all_headers().get("referer", "")))
        open_page(page, f"{app.url}/demo/demo?t={token}", app.url)
        expect(page.locator("#call")).to_have_attribute("data-mode", "demo")
        expect(page.locator(".agent--hero")).to_be_visible()
        expect(page.locator(".agent__prepared")).to_have_text("Prepared for Acme")
        expect(page.locator(".agent__welcome")).to_contain_text("Hi Jo")
        assert_accessible(page, app.url, "sales demo")
        screenshots(page, shots, "demo-idle")
        with page.expect_request(lambda r: r.url.endswith("/api/calls")) as sent:
            page.click("#talk")
        assert sent.value.post_data_json == {"agent": "demo", "demo_token": token, "mode": "voice"}
        assert f"{app.url}/" in referers and not any(token in referer for referer in referers), referers
        wait_for_state(page, "in-call")
        # The link's variables reached the agent.
        expect(page.locator('#transcript [data-speaker="agent"]').first).to_contain_text(
            "Hello Jo!", timeout=15_000
        )
        screenshots(page, shots, "demo-in-call", themes=("light",))
        assert "Acme pilot" not in page.content()  # the operator's label is for the call log alone
        page.click("#hangup")
        wait_for_state(page, "ended", 10_000)
        # The call log says which link the call came through.
        store = CallStore(app.database_url)
        try:
            (record,), total = store.search(CallQuery(demo_link=verify_demo_link(SECRET_KEY, token).link_id))
        finally:
            store.close()
        assert (total, record.agent, record.outcome) == (1, "demo", "created")
        assert record.demo_link_label == "Acme pilot"
    finally:
        app.process.stop()


# ---------- what the service can refuse: the agent, the provider, the rate limit, the clock ----------


# The microphone's prompt left open: getUserMedia answers when the test says.
HOLD_MICROPHONE = """
const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (constraints) => new Promise((resolve, reject) => {
  window.__answerPrompt = () => getUserMedia(constraints).then(resolve, reject);
});
"""


def test_the_joining_states_pass_axe(page: Page, stack: dict[str, Any]) -> None:
    """Issue 3: axe finds nothing serious "in any state": held in each state a call goes through
    before it is in the room (the microphone's prompt open, then the token on its way)."""
    app = stack["app"]
    page.add_init_script(HOLD_MICROPHONE)
    held: list[Any] = []
    page.route("**/api/calls", lambda route: held.append(route))
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    wait_for_state(page, "requesting-mic")
    assert_accessible(page, app.url, "requesting the microphone")
    page.evaluate("window.__answerPrompt()")
    wait_for_state(page, "connecting")
    for _ in range(200):  # (Playwright hands the request over while the page is being waited on)
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the call's request never came"
    assert_accessible(page, app.url, "connecting")
    held[0].continue_()
    wait_for_state(page, "in-call")


def test_the_clock_and_the_limit_run_from_the_agents_answer_while_the_prompt_is_open(
    page: Page, stack: dict[str, Any]
) -> None:
    """The room is joined while the caller decides on the microphone prompt, and the agent
    answers and talks: the clock (and max_call_s, which only the page enforces for a hosted
    provider) waited for the prompt, so a caller who never answered it kept a paid call going."""
    app = stack["app"]
    page.add_init_script(HOLD_MICROPHONE)
    open_page(page, f"{app.url}/talk/short", app.url)  # max_call_s = 10
    page.click("#talk")
    wait_for_state(page, "requesting-mic")
    wait_for_js(page, "() => window.__events.some((e) => e.type === 'webcall:agent-joined')", timeout_s=20)
    expect(page.locator("#call")).to_have_attribute("data-state", "requesting-mic")  # the prompt open
    wait_for_state(page, "ended", timeout_ms=20_000)
    ended = events(page, "end")[-1]["detail"]
    # (10 s from the join: the agent's time to join, a second or two at most, is not talked.)
    assert ended["reason"] == "time-limit" and 8 <= ended["duration_s"] <= 11, ended


def test_the_limit_counts_from_the_join_as_the_servers_does_for_an_agent_slow_to_join(
    page: Page, stack: dict[str, Any]
) -> None:
    """Self-hosted LiveKit's room is deleted max_call_s after its creation, the page's join. An
    agent joining 4 s later started the page's clock and limit then: the server deleted the room
    2 s before the page's limit, and the caller read "The call was closed" with time still left.
    The limit counts from the join now: the page ends the call first, at the time limit."""
    app, livekit = stack["app"], stack["livekit"]
    open_page(page, f"{app.url}/talk/capped", app.url)  # max_call_s = 10; no agent of its own
    room = start_call(page, page.locator("#talk"))["room"]
    wait_for_state(page, "waiting-agent")
    joined = time.monotonic()
    token = livekit.agent_token(room, "agent-slow")

    async def join_late_and_stay() -> None:
        await asyncio.sleep(4)
        agent = rtc.Room()
        await agent.connect(livekit.url, token)
        gone = asyncio.Event()
        agent.on("disconnected", lambda _reason: gone.set())
        await asyncio.wait_for(gone.wait(), 30)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright owns this thread's loop
        staying = pool.submit(asyncio.run, join_late_and_stay())
        wait_for_state(page, "in-call", timeout_ms=15_000)
        wait_for_state(page, "ended", timeout_ms=20_000)
        ended_after_s = time.monotonic() - joined
        staying.result(timeout=30)  # the room deleted (or the page gone): the agent was let go
    ended = events(page, "end")[-1]["detail"]
    assert ended["reason"] == "time-limit", ended
    # 10 s after the join, seen up to a second late (Playwright's expect polls once a second by
    # then); from the agent's join it would have been 14 s.
    assert 8 <= ended_after_s <= 12 and 5 <= ended["duration_s"] <= 7, (ended_after_s, ended)


def test_failures_from_the_service(page: Page, context: BrowserContext, stack: dict[str, Any]) -> None:
    app = stack["app"]
    # An agent nobody serves: the page gives up after 20 s. Meanwhile the other failures run.
    waiting = open_page(context.new_page(), f"{app.url}/talk/nobody", app.url)
    waiting.click("#talk")
    wait_for_state(waiting, "waiting-agent")
    expect(waiting.locator("#status")).to_have_text("Waiting for the agent…")
    expect(waiting.locator("#hangup")).to_be_visible()
    assert_accessible(waiting, app.url, "waiting for the agent")

    # The provider refuses, then says it is busy: its words never reach the page, ours do.
    ravan = stack["fakes"]["ravan"][1]
    open_page(page, f"{app.url}/talk/ravan-demo", app.url)
    ravan.faults.append(Fault("status", status=400, body={"success": False, "message": "agent disabled"}))
    with page.expect_response(lambda r: r.url.endswith("/api/calls")) as refused:
        page.click("#talk")
    fail_with(page, "provider_error")
    expect(page.locator("#error strong")).to_have_text("The voice service could not start the call.")
    expect(page.locator("#error")).to_have_text(
        "The voice service could not start the call. Please try again shortly."
    )
    # The server's reference for it (its X-Request-ID, also in the call log), so a screenshot
    # of the problem leads to its log lines and record.
    request_id = refused.value.headers["x-request-id"]
    expect(page.locator("#error-ref")).to_have_text(f"Reference: {request_id}")
    assert_accessible(page, app.url, "failed: provider error")
    ravan.faults.append(Fault("status", status=429, body={}, headers={"Retry-After": "7"}))
    page.click("#talk")
    fail_with(page, "provider_busy")
    expect(page.locator("#error")).to_contain_text("You can try again in 7 seconds.")

    # A call with a time limit: the time left shows, then the page hangs up by itself.
    page.goto(f"{app.url}/talk/limited")
    page.click("#talk")
    wait_for_state(page, "in-call")
    expect(page.locator("#time-left")).to_have_text(re.compile(r"^0:(10|0\d) left$"))
    expect(page.locator("#time-left")).to_have_attribute("data-warning", "")
    wait_for_state(page, "ended", 15_000)
    # (10 s from the join, the agent's answer a second or two later)
    expect(page.locator("#status")).to_have_text(
        re.compile(r"^Time limit reached · call ended · 0:(0[89]|1[01])$")
    )
    expect(page.locator("#time-left")).to_be_hidden()  # a call's own: not beside "call ended"
    assert events(page, "end")[-1]["detail"]["reason"] == "time-limit"

    # One call an hour from this address (counted per gunicorn worker, so at most three tries).
    for _ in range(3):
        with page.expect_response(lambda r: r.url.endswith("/api/calls")) as answer:
            page.click("#talk")
        if answer.value.status == 429:
            break
        wait_for_state(page, "in-call")  # (a press while it joins, so soon after Talk's, is ignored)
        page.click("#hangup")
        wait_for_state(page, "ended")
    fail_with(page, "rate_limited")
    expect(page.locator("#error")).to_contain_text("You can try again in 1 hour.")
    assert_accessible(page, app.url, "failed: rate limited")
    assert events(page, "error")[-1]["detail"]["retry_after_s"] > 3000

    fail_with(waiting, "agent-timeout", timeout_ms=25_000)
    expect(waiting.locator("#error")).to_contain_text("The agent didn't join the call.")
    assert_accessible(waiting, app.url, "failed: agent did not join")


# ---------- audio playback blocked by the browser ----------

# Chromium lets a MediaStream-backed <audio> play without a gesture (its autoplay policy exempts
# WebRTC media), so the block never happens there; Safari does block it. This plays Safari's
# part: play() refuses until the caller has pressed something on the page (a trusted event:
# Playwright's clicks are, its evaluate() and expect() polling are not). The call starts from
# script, with no gesture at all.
SAFARI_AUTOPLAY_AND_AUTOSTART = """
let gesture = false;
for (const type of ["pointerdown", "keydown"]) {
  addEventListener(type, (e) => { gesture = gesture || e.isTrusted; }, true);
}
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () {
  if (!gesture) return Promise.reject(new DOMException("play() needs a user gesture", "NotAllowedError"));
  return play.call(this);
};
const autoplay = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, "autoplay");
Object.defineProperty(HTMLMediaElement.prototype, "autoplay", {
  ...autoplay,
  set(on) { autoplay.set.call(this, on && gesture); },
});
document.addEventListener("webcall:error", (e) => console.log(`webcall:error ${e.detail.code}`));
addEventListener("DOMContentLoaded", function go() {
  if (document.querySelector("#call[data-ready]")) document.getElementById("talk").click();
  else setTimeout(go, 50);
});
"""


def test_playback_blocked_until_the_caller_turns_sound_on(page: Page, stack: dict[str, Any]) -> None:
    app = stack["app"]
    serve_axe(page, app.url)
    page.add_init_script(SAFARI_AUTOPLAY_AND_AUTOSTART)
    blocked = "webcall:error playback-blocked"
    with page.expect_console_message(lambda m: m.text == blocked, timeout=25_000):
        page.goto(f"{app.url}/talk/demo")
    expect(page.locator("#error")).to_have_attribute("data-code", "playback-blocked")
    expect(page.locator("#error")).to_contain_text("Your browser paused the agent's voice.")
    expect(page.locator("#resume-audio")).to_be_visible()
    expect(page.locator("#resume-audio")).to_be_focused()
    expect(page.locator("#call")).to_have_attribute("data-state", "in-call")
    assert_accessible(page, app.url, "playback blocked")
    assert page.evaluate("[...document.querySelectorAll('#call audio')].every((a) => a.paused)")
    page.click("#resume-audio")
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#resume-audio")).to_be_hidden()
    expect(page.locator("#call :focus")).to_have_count(1)  # the keyboard stays in the call
    # The agent's voice plays, and the meters (whose AudioContext waited for a gesture) run.
    assert page.evaluate("[...document.querySelectorAll('#call audio')].some((a) => !a.paused)")
    expect(page.locator("#agent-level[data-active]")).to_be_attached(timeout=15_000)
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)


# Whether "Turn on sound" shows as each problem is said (webcall:error follows the UI's update).
RESUME_AT_EACH_ERROR = """
document.addEventListener("webcall:error", (e) => {
  const shown = !document.getElementById("resume-audio").hidden;
  console.log(`${e.detail.code}: Turn on sound ${shown ? "shown" : "hidden"}`);
});
"""


def test_turn_on_sound_stays_while_another_problem_is_shown(page: Page, stack: dict[str, Any]) -> None:
    """The agent's voice blocked, then the microphone lost: its problem takes the warning's
    place, and "Turn on sound" stays (nothing else may bring it back) until the voice plays."""
    app, livekit = stack["app"], stack["livekit"]
    page.add_init_script(SAFARI_AUTOPLAY_AND_AUTOSTART)
    page.add_init_script(LOSABLE_MIC)
    page.add_init_script(RESUME_AT_EACH_ERROR)
    said_blocked = "webcall:error playback-blocked"
    blocked = page.expect_console_message(lambda m: m.text == said_blocked, timeout=25_000)
    with page.expect_response(lambda r: r.url.endswith("/api/calls")) as created, blocked:
        page.goto(f"{app.url}/talk/demo")
    room = created.value.json()["room"]
    assert poll(lambda: mic_muted(livekit, room) is False, timeout_s=10)  # published, and live
    # The agent's voice is here, and paused (livekit-client may call audio blocked, then fine,
    # before any track: its AudioContext's state alone).
    paused = "[...document.querySelectorAll('#call audio')].filter((a) => a.paused).length"
    wait_for_js(page, f"() => {paused} > 0 && !document.getElementById('resume-audio').hidden")
    with page.expect_console_message(lambda m: m.text.startswith("mic-lost:"), timeout=10_000) as said:
        page.evaluate(UNPLUG)
    assert said.value.text == "mic-lost: Turn on sound shown"
    expect(page.locator("#resume-audio")).to_be_visible()
    page.click("#resume-audio")
    expect(page.locator("#resume-audio")).to_be_hidden()
    assert page.evaluate("[...document.querySelectorAll('#call audio')].some((a) => !a.paused)")
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)


# ---------- the LiveKit server goes away mid-call ----------


@pytest.fixture
def own_stack(artifacts: Path) -> Iterator[dict[str, Any]]:
    """A LiveKit server, demo agent and app of this test's own, so it may stop the server."""
    log_dir = artifacts / "logs" / "call-page-own-stack"
    livekit = start_livekit_server(log_dir)
    env = {**livekit.env(), "WEBCALL_DEMO_AGENT_NAME": DEMO_AGENT_NAME}
    agent = start("demo-agent", python_argv("-m", "webapp.demo_agent"), env=env, log_dir=log_dir)
    app = None
    try:
        app = start_private_app(livekit, log_dir)
        wait_until(lambda: "registered" in agent.log().lower(), timeout_s=60, what="the agent", process=agent)
        yield {"app": app, "livekit": livekit}
    finally:
        if app is not None:
            app.process.stop()
        agent.stop()
        livekit.process.stop()


def test_connection_lost_when_the_server_stops(page: Page, own_stack: dict[str, Any]) -> None:
    app, livekit = own_stack["app"], own_stack["livekit"]
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    expect(page.locator('#transcript [data-speaker="agent"]').first).to_be_visible(timeout=15_000)
    started = time.monotonic()
    livekit.process.popen.kill()  # gone at once (SIGTERM would wait for the room to empty)
    wait_for_state(page, "reconnecting", 10_000)
    expect(page.locator("#status")).to_have_text("Connection lost · reconnecting…")
    assert_accessible(page, app.url, "reconnecting")
    fail_with(page, "connection-lost", timeout_ms=40_000)
    assert time.monotonic() - started < 35  # the page gives up after about 20 s, not LiveKit's 45
    expect(page.locator("#error")).to_contain_text("The connection was lost.")
    assert_accessible(page, app.url, "failed: connection lost")
    assert page.evaluate("window.__states")[-3:] == ["in-call", "reconnecting", "failed"]
