"""The call page's guards against what callers do by accident, in headless Chromium.

A double click on Talk, a blocked microphone, a hang-up mid-sentence, the network going away,
a Retry-After, and the console kept quiet. Real pieces, as in test_call_page.py: livekit-server,
the demo agent, gunicorn, provider fakes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
from typing import Any

import pytest
from livekit import rtc
from livekit.protocol.models import DisconnectReason, ParticipantInfo
from livekit.protocol.rtc import LeaveRequest, ParticipantUpdate, SignalResponse
from playwright.sync_api import CDPSession, Page, Playwright, Request, Response, WebSocketRoute, expect

from tests.e2e.test_call import participants
from tests.e2e.test_call_page import NO_FAKE_UI, fail_with, open_page
from tests.fakes import Fault
from tests.support.browser import events, launch_chromium, start_call, wait_for_js, wait_for_state

pytestmark = pytest.mark.e2e

# What a deliberate press needs past Talk's: Hang up ignores presses sooner (a double click).
DELIBERATE_S = 0.7


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """The microphone granted (as the fake media UI does), and the clipboard, for Copy."""
    return {**browser_context_args, "permissions": ["microphone", "clipboard-read", "clipboard-write"]}


def call_requests(page: Page) -> list[Request]:
    """Every POST /api/calls the page sends from now on."""
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/api/calls") else None)
    return sent


def hang_up(page: Page) -> None:
    """Hang up and wait for the end."""
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)


# ---------- 1. a double click (or double Enter) on Talk ----------


def test_a_double_click_on_talk_never_cancels(page: Page, stack: dict[str, Any]) -> None:
    app = stack["app"]
    sent = call_requests(page)
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.dblclick("#talk")  # Hang up appears where Talk was: the second click lands on it
    wait_for_state(page, "in-call")
    assert not events(page, "end"), events(page, "end")
    assert len(sent) == 1
    hang_up(page)


def test_a_double_enter_on_talk_never_cancels(page: Page, stack: dict[str, Any]) -> None:
    app = stack["app"]
    sent = call_requests(page)
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.evaluate("window.__keys = []; addEventListener('keydown', (e) => __keys.push(e.target.id), true)")
    page.focus("#talk")
    page.keyboard.press("Enter")  # two at once (a round trip between could take longer than a double Enter)
    page.keyboard.press("Enter")
    wait_for_state(page, "in-call")
    assert page.evaluate("__keys") == ["talk", "hangup"]  # the keyboard followed the action
    assert not events(page, "end"), events(page, "end")
    assert len(sent) == 1
    hang_up(page)


def test_enter_held_on_talk_never_hangs_up(page: Page, stack: dict[str, Any]) -> None:
    """Hang up takes the focus as the call starts: a held Enter's repeats, which come on long
    past the double press's guard, land on it and must not end the call just placed."""
    app = stack["app"]
    sent = call_requests(page)
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.focus("#talk")
    page.keyboard.down("Enter")
    expect(page.locator("#hangup")).to_be_focused()
    page.wait_for_timeout(DELIBERATE_S * 1000)
    page.keyboard.down("Enter")  # the key's repeats, on Hang up now
    page.keyboard.down("Enter")
    page.keyboard.up("Enter")
    page.wait_for_timeout(1000)
    assert not events(page, "end"), events(page, "end")
    expect(page.locator("#call")).not_to_have_attribute("data-state", "ended")
    assert len(sent) == 1
    hang_up(page)


def test_a_double_enter_handled_late_by_a_busy_page_never_cancels(page: Page, stack: dict[str, Any]) -> None:
    """The two presses are told apart by when they happened, not by when the page got to them:
    Enter pressed twice 100 ms apart (the keys' own timestamps, as the browser's input gives
    them) and handled a second apart, as a page busy joining the room might, is still a double
    Enter. Its agent never joins, so the call is still joining when the second press lands."""
    app = stack["app"]
    sent = call_requests(page)
    open_page(page, f"{app.url}/talk/nobody", app.url)
    page.focus("#talk")
    cdp = page.context.new_cdp_session(page)
    pressed = time.time()
    press_enter(cdp, pressed)
    expect(page.locator("#hangup")).to_be_focused()
    page.wait_for_timeout(1000)
    press_enter(cdp, pressed + 0.1)
    page.wait_for_timeout(1000)
    assert not events(page, "end"), events(page, "end")
    expect(page.locator("#call")).not_to_have_attribute("data-state", "ended")
    assert len(sent) == 1


def press_enter(cdp: CDPSession, at: float) -> None:
    """Enter down and up through Chrome's input (as Playwright's keyboard does), said to have
    happened at ``at`` (seconds since the epoch): the key events' and their click's timeStamp."""
    key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "timestamp": at}
    cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": "\r", "unmodifiedText": "\r", **key})
    cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **key})


def test_a_double_press_on_hang_up_places_no_new_call(page: Page, stack: dict[str, Any]) -> None:
    """Start over comes back where Hang up was, with the keyboard's focus: the second click of a
    double click, or the repeats of a held Enter, land on it and must not place (and bill) another
    call. Two deliberate presses still do."""
    app = stack["app"]
    sent = call_requests(page)
    open_page(page, f"{app.url}/talk/demo", app.url)
    for second_press in ("double click", "held Enter"):
        page.click("#talk")
        wait_for_state(page, "in-call")
        if second_press == "double click":
            page.dblclick("#hangup")
        else:
            page.focus("#hangup")
            page.keyboard.down("Enter")
            expect(page.locator("#talk")).to_be_focused()  # the keyboard follows the action…
            page.keyboard.down("Enter")  # …so the key's repeats land on Start over
            page.keyboard.down("Enter")
            page.keyboard.up("Enter")
        wait_for_state(page, "ended", 10_000)
        page.wait_for_timeout(1500)
        expect(page.locator("#call")).to_have_attribute("data-state", "ended")
        assert len(events(page, "start")) == len(sent), second_press
    assert len(sent) == 2
    page.keyboard.press("Enter")  # a press on Start over starts over
    wait_for_state(page, "in-call")
    page.focus("#hangup")
    page.keyboard.press("Enter")  # two deliberate presses in a row: hang up, then start over
    # (Playwright runs the `sent` listener only while this thread waits in one of its calls.)
    with page.expect_request(lambda r: r.url.endswith("/api/calls"), timeout=5_000):
        page.keyboard.press("Enter")
    assert len(sent) == 4
    wait_for_state(page, "in-call")
    hang_up(page)


def test_a_deliberate_hang_up_while_joining_still_cancels(page: Page, stack: dict[str, Any]) -> None:
    app = stack["app"]
    open_page(page, f"{app.url}/talk/nobody", app.url)  # its agent never joins
    page.click("#talk")
    wait_for_state(page, "waiting-agent")
    # Counted from a moment after Talk's press on the page's own clock (a busy machine can take
    # long between this process's click and the page's handler).
    page.wait_for_timeout(DELIBERATE_S * 1000)
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)
    expect(page.locator("#status")).to_have_text(re.compile("^Call cancelled"))
    assert events(page, "end")[-1]["detail"]["reason"] == "cancelled"


def test_leaving_the_page_cancels_a_call_still_joining(page: Page, stack: dict[str, Any]) -> None:
    """The page hidden for good (pagehide) while the agent is awaited: cancelled, as Hang up
    would say then; during a conversation it is hung up."""
    app = stack["app"]
    open_page(page, f"{app.url}/talk/nobody", app.url)  # its agent never joins
    page.click("#talk")
    wait_for_state(page, "waiting-agent")
    page.evaluate("dispatchEvent(new PageTransitionEvent('pagehide'))")
    wait_for_state(page, "ended", 10_000)
    assert events(page, "end")[-1]["detail"]["reason"] == "cancelled"
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    page.evaluate("dispatchEvent(new PageTransitionEvent('pagehide'))")
    wait_for_state(page, "ended", 10_000)
    assert events(page, "end")[-1]["detail"]["reason"] == "hangup"


# ---------- 2. a blocked microphone ----------

MIC_PERMISSION = "navigator.permissions.query({ name: 'microphone' }).then((s) => s.state)"


def test_a_blocked_microphone_requests_no_call(playwright: Playwright, stack: dict[str, Any]) -> None:
    app = stack["app"]
    # A real prompt-less browser with the microphone blocked for the site: Chromium reports
    # every permission a context was not granted as denied.
    with launch_chromium(playwright, NO_FAKE_UI) as browser:
        page = browser.new_context(permissions=["clipboard-read"]).new_page()
        sent = call_requests(page)
        open_page(page, f"{app.url}/talk/demo", app.url)
        assert page.evaluate(MIC_PERMISSION) == "denied"
        page.click("#talk")
        fail_with(page, "mic-denied")
        expect(page.locator("#error")).to_contain_text("Microphone access is blocked.")
        page.click("#talk")  # Try again: still blocked
        wait_for_js(page, "() => window.__events.filter((e) => e.type === 'webcall:error').length === 2")
        fail_with(page, "mic-denied")
        assert not sent, [r.url for r in sent]
        assert not events(page, "start") and not events(page, "connected")


# ---------- 3. what was still being said when the call ended ----------

# Presses Hang up the moment a line of `speaker` is on screen but not final; resolves with its id
# (null if none came within 30 s).
HANG_UP_MID_LINE = """(speaker) => new Promise((resolve) => {
  const list = document.getElementById('transcript');
  const check = () => {
    const open = list.querySelector(`li[data-speaker="${speaker}"][data-final="false"]`);
    if (!open) return false;
    document.getElementById('hangup').click();
    resolve(open.dataset.segmentId);
    return true;
  };
  if (check()) return;
  const watch = new MutationObserver(() => check() && watch.disconnect());
  watch.observe(list, { subtree: true, childList: true, characterData: true, attributes: true });
  setTimeout(() => { watch.disconnect(); resolve(null); }, 30_000);
})"""


def test_lines_open_at_hang_up_are_final_and_the_agent_s_interrupted(
    page: Page, stack: dict[str, Any]
) -> None:
    app = stack["app"]
    open_page(page, f"{app.url}/talk/demo", app.url)
    for speaker in ("agent", "user"):
        page.click("#talk")
        wait_for_state(page, "in-call")
        segment = page.evaluate(HANG_UP_MID_LINE, speaker)
        assert segment, f"no {speaker} line was open during the call"
        wait_for_state(page, "ended", 10_000)
        line = page.locator(f'#transcript li[data-segment-id="{segment}"]')
        expect(line).to_have_attribute("data-final", "true")
        expect(page.locator('#transcript li[data-final="false"]')).to_have_count(0)
        if speaker == "agent":
            expect(line).to_have_attribute("data-interrupted", "")
            expect(line).to_contain_text("— interrupted")
        else:
            expect(line).not_to_have_attribute("data-interrupted", "")
        page.evaluate("document.getElementById('announce').textContent = ''")  # (the first call's)
        page.click("#transcript-copy")
        expect(page.locator("#announce")).to_have_text("Transcript copied.")
        copied = page.evaluate("navigator.clipboard.readText()")
        words = page.evaluate("(id) => window.__events.filter((e) => e.type === 'webcall:transcript'"
                              " && e.detail.segmentId === id).at(-1).detail", segment)  # fmt: skip
        assert words["final"] is True, words
        who = "Agent" if speaker == "agent" else "You"
        mark = " (interrupted)" if speaker == "agent" else ""
        assert f"] {who}: {words['text']}{mark}\n" in copied, copied


def test_a_typed_message_that_was_not_sent_is_not_copied_as_sent(page: Page, stack: dict[str, Any]) -> None:
    """The line was marked "Not sent" on the page, but the copied transcript said "You: ..." as if
    the agent had it."""
    app = stack["app"]
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    page.click("#mute")
    # The data channel refuses to send from here on: the message cannot leave.
    page.evaluate("() => { RTCDataChannel.prototype.send = () => { throw new DOMException('gone'); }; }")
    page.fill("#chat-input", "Are you there?")
    page.locator("#chat-input").press("Enter")
    typed = page.locator('#transcript [data-speaker="user"][data-chat]', has_text="Are you there?")
    expect(typed).to_have_attribute("data-failed", "", timeout=10_000)
    expect(page.locator("#chat-input")).to_have_value("Are you there?")  # back in the box, to send again
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)
    page.click("#transcript-copy")
    expect(page.locator("#announce")).to_have_text("Transcript copied.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "] You: Are you there? (not sent)\n" in copied, copied


def test_copy_without_the_clipboard_api_gives_the_keyboard_back(page: Page, stack: dict[str, Any]) -> None:
    """Where the clipboard API is refused (an iframe not allowed `clipboard-write`, plain http),
    the copy goes through a selected text area, which took the focus and, removed, left it on
    the page's body: a keyboard or screen reader user was thrown back to the page's start."""
    app = stack["app"]
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    expect(page.locator('#transcript [data-speaker="agent"]').first).to_be_visible(timeout=15_000)
    page.click("#hangup")
    wait_for_state(page, "ended", 10_000)
    refused = "Promise.reject(new DOMException('no', 'NotAllowedError'))"
    page.evaluate(f"() => {{ navigator.clipboard.writeText = () => {refused}; }}")
    copy = page.locator("#transcript-copy")
    copy.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#announce")).to_have_text("Transcript copied.")
    expect(copy).to_be_focused()


# ---------- 4. the network goes away mid-call ----------


def test_going_offline_shows_reconnecting_at_once(page: Page, stack: dict[str, Any]) -> None:
    app = stack["app"]
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    expect(page.locator('#transcript [data-speaker="agent"]').first).to_be_visible(timeout=15_000)
    # The agent's turns show in the status but are not read out over its voice; the call's
    # phases are.
    status = page.locator("#status")
    expect(status).to_have_attribute("aria-live", "off")
    page.context.set_offline(True)
    wait_for_state(page, "reconnecting", 2_000)  # LiveKit alone takes about 15 s to notice
    expect(status).to_have_text("Connection lost · reconnecting…")
    expect(status).to_have_attribute("aria-live", "polite")
    # A message waits in the box: livekit-client would hold it, and lose it should the call not
    # come back, while the page showed it as sent.
    chat_input, send = page.locator("#chat-input"), page.locator("#chat-send")
    expect(send).to_be_disabled()
    chat_input.fill("Are you there?")
    chat_input.press("Enter")
    expect(chat_input).to_have_value("Are you there?")
    expect(page.locator("#transcript [data-chat]")).to_have_count(0)
    page.context.set_offline(False)
    wait_for_state(page, "in-call", 20_000)  # the call goes on
    expect(send).to_be_enabled()
    chat_input.press("Enter")
    expect(page.locator("#transcript [data-chat]")).to_have_text(["Are you there?"])
    expect(chat_input).to_have_value("")
    states = page.evaluate("window.__states")
    assert states[states.index("reconnecting") :] == ["reconnecting", "in-call"], states
    assert not events(page, "end")
    hang_up(page)


def test_a_connection_gone_for_good_fails_the_call_after_20_s(page: Page, stack: dict[str, Any]) -> None:
    """livekit-client asks the page's reconnect policy only between attempts, and an attempt can
    take 15 s: "reconnecting" lasted 30 s and more. The page gives up 20 s after it began to say
    so, as its policy means to."""
    app = stack["app"]
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    page.context.set_offline(True)
    wait_for_state(page, "reconnecting", 2_000)
    went = time.monotonic()
    fail_with(page, "connection-lost", timeout_ms=40_000)
    failed_after_s = time.monotonic() - went
    assert 19 <= failed_after_s <= 23, failed_after_s
    assert [e["detail"]["reason"] for e in events(page, "end")] == ["connection-lost"]
    page.context.set_offline(False)


def test_an_outage_while_the_agent_is_awaited_is_not_the_agents_failure_to_join(
    page: Page, stack: dict[str, Any]
) -> None:
    """The page gives the agent 20 s to join; livekit-client holds back its arrival while the
    connection is away. An 8 s outage of the caller's counted against the agent: one that joined
    22 s after the page failed as "The agent didn't join". The wait starts again once back."""
    app, livekit = stack["app"], stack["livekit"]
    open_page(page, f"{app.url}/talk/nobody", app.url)  # no worker: the test's own agent joins
    room = start_call(page, page.locator("#talk"))["room"]
    wait_for_state(page, "waiting-agent")
    waiting = time.monotonic()
    token = livekit.agent_token(room, "agent-late")

    async def join_at_22_s(left: asyncio.Event) -> None:
        await asyncio.sleep(22 - (time.monotonic() - waiting))
        agent = rtc.Room()
        await agent.connect(livekit.url, token)
        await asyncio.wait_for(left.wait(), 30)
        await agent.disconnect()

    async def agent_while(stop: concurrent.futures.Future[None]) -> None:
        left = asyncio.Event()
        joining = asyncio.create_task(join_at_22_s(left))
        await asyncio.wrap_future(stop)
        left.set()
        await joining

    stop: concurrent.futures.Future[None] = concurrent.futures.Future()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright owns this thread's loop
        agent = pool.submit(asyncio.run, agent_while(stop))
        try:
            page.wait_for_timeout(1_000)
            page.context.set_offline(True)
            wait_for_state(page, "reconnecting", 2_000)
            page.wait_for_timeout(8_000)
            page.context.set_offline(False)
            wait_for_state(page, "waiting-agent", 10_000)
            wait_for_state(page, "in-call", 30_000)
            assert time.monotonic() - waiting >= 21
            assert not events(page, "end")
            hang_up(page)
        finally:
            stop.set_result(None)
            agent.result(timeout=30)


def test_a_full_reconnect_is_a_lost_connection_not_the_agent_hanging_up(
    page: Page, stack: dict[str, Any]
) -> None:
    """LiveKit may ask the page to leave and join again (a leave with action RECONNECT, as when a
    connection cannot be resumed). livekit-client then drops every participant, the agent
    included, before it says it is reconnecting: the call is lost (Try again), and the agent
    did not end it.
    """
    app = stack["app"]
    signalling: list[WebSocketRoute] = []

    def through(ws: WebSocketRoute) -> None:
        ws.connect_to_server()  # LiveKit's own socket, passed through both ways
        signalling.append(ws)

    page.route_web_socket(re.compile(r"/rtc"), through)
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    expect(page.locator('#transcript [data-speaker="agent"]').first).to_be_visible(timeout=15_000)
    leave = SignalResponse(leave=LeaveRequest(action=LeaveRequest.RECONNECT, can_reconnect=True))
    signalling[-1].send(leave.SerializeToString())  # as the server would say it
    fail_with(page, "connection-lost")
    expect(page.locator("#error")).to_contain_text("The connection was lost.")
    assert [e["detail"]["reason"] for e in events(page, "end")] == ["connection-lost"]


@pytest.mark.parametrize(
    ("reason", "ended"),
    [(DisconnectReason.AGENT_ERROR, None), (DisconnectReason.CLIENT_INITIATED, "agent-left")],
    ids=["agent error", "agent left"],
)
def test_an_agent_whose_connection_or_process_failed_did_not_end_the_call(
    page: Page, stack: dict[str, Any], reason: int, ended: str | None
) -> None:
    """LiveKit says why a participant left. An agent that crashed or lost its connection
    (AGENT_ERROR, SIGNAL_CLOSE, CONNECTION_TIMEOUT, …) was shown as "The agent ended the call":
    the call fails now, as `agent-lost`, with Try again; one that left (CLIENT_INITIATED) ended it."""
    app, livekit = stack["app"], stack["livekit"]
    signalling: list[WebSocketRoute] = []

    def through(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        signalling.append(ws)

    page.route_web_socket(re.compile(r"/rtc"), through)
    open_page(page, f"{app.url}/talk/demo", app.url)
    room = start_call(page, page.locator("#talk"))["room"]
    wait_for_state(page, "in-call")
    (agent,) = [p for p in participants(livekit, room) if p.get("kind") == "AGENT"]
    gone = ParticipantInfo(
        sid=agent["sid"],
        identity=agent["identity"],
        state=ParticipantInfo.DISCONNECTED,
        disconnect_reason=reason,
    )
    signalling[-1].send(SignalResponse(update=ParticipantUpdate(participants=[gone])).SerializeToString())
    if ended is None:
        fail_with(page, "agent-lost")
        expect(page.locator("#error")).to_contain_text("The agent left the call unexpectedly.")
        assert [e["detail"]["reason"] for e in events(page, "end")] == ["agent-lost"]
    else:
        wait_for_state(page, "ended")
        expect(page.locator("#status")).to_contain_text("The agent ended the call")
        assert [e["detail"]["reason"] for e in events(page, "end")] == [ended]


def test_staying_on_a_page_that_asks_before_leaving_keeps_the_call(page: Page, stack: dict[str, Any]) -> None:
    """A host page may ask "Leave site?" before it unloads; a visitor who stays keeps talking."""
    app = stack["app"]
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    page.evaluate("addEventListener('beforeunload', (e) => { e.preventDefault(); e.returnValue = ''; })")
    asked: list[str] = []

    def stay(dialog: Any) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    page.close(run_before_unload=True)  # the visitor tries to leave, is asked, and stays
    page.wait_for_timeout(2_000)  # (dialogs are handled while Playwright waits)
    assert asked == ["beforeunload"]
    wait_for_state(page, "in-call", 1_000)
    assert not events(page, "end"), events(page, "end")
    hang_up(page)


# ---------- 5. a Retry-After ----------


def test_try_again_waits_out_the_retry_after(page: Page, stack: dict[str, Any]) -> None:
    app = stack["app"]
    ravan = stack["fakes"]["ravan"][1]
    open_page(page, f"{app.url}/talk/ravan-demo", app.url)
    ravan.faults.append(Fault("status", status=429, body={}, headers={"Retry-After": "3"}))
    requested = len(ravan.requests)
    page.click("#talk")
    fail_with(page, "provider_busy")
    talk, error = page.locator("#talk"), page.locator("#error")
    expect(talk).to_be_disabled()
    expect(talk).to_be_focused()  # the keyboard stays on Try again while it waits
    page.keyboard.press("Enter")  # and pressing it then requests nothing
    expect(error).to_contain_text(re.compile(r"You can try again in ([23] seconds|1 second)\."))
    wait_for_js(  # counting down, Talk disabled all the while: seen together in one look
        page,
        "() => document.querySelector('#talk').ariaDisabled === 'true'"  # (focusable while it waits)
        " && document.querySelector('#error').textContent.includes('You can try again in 1 second.')",
        timeout_s=4,
    )
    expect(talk).to_be_enabled(timeout=3_000)
    expect(talk).to_be_focused()
    assert len(ravan.requests) == requested + 1, "a call was requested while waiting"
    expect(error).to_contain_text("You can try again now.")
    expect(page.locator("#announce")).to_have_text("You can try again now.")
    page.click("#talk")
    wait_for_state(page, "in-call")
    hang_up(page)


# ---------- 6. the console ----------


def test_livekit_logs_only_warnings_and_errors(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    app = stack["app"]
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    expect(page.locator('#transcript [data-speaker="agent"]').first).to_be_visible(timeout=15_000)
    hang_up(page)
    page.wait_for_timeout(1_000)  # what livekit-client logs while it disconnects reaches console_log
    chatter = [line for line in console_log if line.split(":")[0] in ("info", "debug", "log", "trace")]
    assert not chatter, chatter


def test_a_microphone_refused_at_the_prompt_ends_the_call_at_once(
    playwright: Playwright, stack: dict[str, Any]
) -> None:
    app = stack["app"]
    # The permission is still to be asked ('prompt'), so the call is requested with the click;
    # the caller then refuses: the call ends there, without joining its room.
    with launch_chromium(playwright, [*NO_FAKE_UI, "--deny-permission-prompts"]) as browser:
        page = browser.new_page()
        sent = call_requests(page)
        open_page(page, f"{app.url}/talk/demo", app.url)
        assert page.evaluate(MIC_PERMISSION) == "prompt"
        pressed = time.monotonic()
        page.click("#talk")
        fail_with(page, "mic-denied", timeout_ms=5_000)
        assert time.monotonic() - pressed < 5
        assert len(sent) == 1  # sent first in the click, for speed
        page.wait_for_timeout(1_500)  # whatever was on its way has arrived by now
        assert page.locator("#call").get_attribute("data-state") == "failed"
        assert not events(page, "connected")
        assert [e["detail"]["reason"] for e in events(page, "end")] == ["mic-denied"]


# ---------- 7. what a call leaves running, and what it starts ----------


def keep_instances(cls: str, into: str) -> str:
    """An init script keeping every instance of the page's `cls` in `window[into]`."""
    return f"""
(() => {{
  const Native = window.{cls};
  window.{into} = [];
  window.{cls} = class extends Native {{
    constructor(...args) {{
      super(...args);
      window.{into}.push(this);
    }}
  }};
}})();
"""


# Every AudioContext the page makes (livekit-client's, the level meters'), kept for counting.
COUNT_AUDIO_CONTEXTS = keep_instances("AudioContext", "__audioContexts")
RUNNING_AUDIO = "() => window.__audioContexts.filter((c) => c.state !== 'closed').length"
AUDIO_STATES = "() => window.__audioContexts.map((c) => c.state)"


def test_calls_refused_before_joining_leave_no_audio_running(page: Page, stack: dict[str, Any]) -> None:
    """Each press unlocks audio in the click (an AudioContext); a call refused before its room
    was joined must close it, as a call that ended in its room does."""
    app = stack["app"]
    ravan = stack["fakes"]["ravan"][1]
    page.add_init_script(COUNT_AUDIO_CONTEXTS)
    open_page(page, f"{app.url}/talk/ravan-demo", app.url)
    for attempt in range(3):
        ravan.faults.append(Fault("status", status=400, body={"success": False, "message": "agent disabled"}))
        page.click("#talk")
        wait_for_js(
            page, f"() => window.__events.filter((e) => e.type === 'webcall:error').length === {attempt + 1}"
        )
        fail_with(page, "provider_error")
    made = page.evaluate("() => window.__audioContexts.length")
    assert made >= 3, made
    wait_for_js(page, f"() => ({RUNNING_AUDIO})() === 0")  # (closing one takes a moment)
    page.click("#talk")  # and a call that joins has its audio
    wait_for_state(page, "in-call")
    assert page.evaluate(RUNNING_AUDIO) >= 1
    hang_up(page)
    wait_for_js(page, f"() => ({RUNNING_AUDIO})() === 0")


KEEP_PEER_CONNECTIONS = keep_instances("RTCPeerConnection", "__pcs")
# True once one of the page's peer connections has sent a microphone packet.
MIC_SENT = """async () => {
  for (const pc of window.__pcs) {
    for (const s of (await pc.getStats()).values()) {
      if (s.type === 'outbound-rtp' && s.kind === 'audio' && s.packetsSent > 0) return true;
    }
  }
  return false;
}"""


def test_the_microphone_is_published_without_an_audio_context_of_its_own(
    page: Page, stack: dict[str, Any]
) -> None:
    """livekit-client listened to each new microphone track, and again at its publication, in
    AudioContexts of their own while the connection was being made, for an event the page does
    not use: a call makes only the meters' AudioContext and livekit-client's for playback."""
    app = stack["app"]
    page.add_init_script(COUNT_AUDIO_CONTEXTS)
    page.add_init_script(KEEP_PEER_CONNECTIONS)
    open_page(page, f"{app.url}/talk/ravan-demo", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    wait_for_js(page, MIC_SENT)
    page.wait_for_timeout(1_000)  # livekit-client checked 200 ms after the track and its publication
    assert page.evaluate("() => window.__audioContexts.length") == 2
    hang_up(page)


# ---------- 8. a press on Talk asks for the call before its click ----------


def press_talk(page: Page, stack: dict[str, Any]) -> tuple[list[Request], Response]:
    """Opens the demo's call page and presses Talk (held down) until our API has answered the
    call's request. Returns every POST /api/calls sent, and that answer."""
    app = stack["app"]
    sent = call_requests(page)
    open_page(page, f"{app.url}/talk/demo", app.url)
    page.hover("#talk")
    with page.expect_response(lambda r: r.url.endswith("/api/calls")) as created:
        page.mouse.down()
    return sent, created.value


def test_a_press_on_talk_asks_for_the_call_its_click_joins(page: Page, stack: dict[str, Any]) -> None:
    """The call's request leaves as the mouse button goes down on Talk (a person's click holds it
    about a tenth of a second), and the click, when it is let go, joins that call: one request."""
    sent, created = press_talk(page, stack)
    assert created.status == 201, created.text()
    assert not events(page, "start")  # still held: no click yet
    page.mouse.up()
    wait_for_state(page, "in-call")
    assert len(sent) == 1
    assert events(page, "connected")[0]["detail"]["call_id"] == created.json()["call_id"]
    hang_up(page)
    page.click("#talk", button="right")  # no click follows, and no call is asked for
    page.mouse.down(click_count=2)  # nor by the second press of a double click: its click starts none
    page.mouse.up(click_count=2)
    page.wait_for_timeout(500)
    assert len(sent) == 1
    assert len(events(page, "start")) == 1


def test_a_press_let_go_off_talk_leaves_its_call_to_the_next_click(page: Page, stack: dict[str, Any]) -> None:
    """A press let go elsewhere starts nothing; a click soon after takes the call that press asked
    for rather than asking again. Space asks at its press too: it clicks when it is let go."""
    sent, created = press_talk(page, stack)
    page.mouse.move(1, 1)
    page.mouse.up()
    page.wait_for_timeout(500)
    assert not events(page, "start")
    page.click("#talk")
    wait_for_state(page, "in-call")
    assert len(sent) == 1
    assert events(page, "connected")[0]["detail"]["call_id"] == created.json()["call_id"]
    hang_up(page)
    page.focus("#talk")
    with page.expect_request(lambda r: r.url.endswith("/api/calls")):
        page.keyboard.down("Space")
    assert len(events(page, "start")) == 1
    page.keyboard.up("Space")
    wait_for_state(page, "in-call")
    assert len(sent) == 2
    hang_up(page)


def press_talk_losing_its_request(page: Page, stack: dict[str, Any]) -> list[Request]:
    """Opens the demo's call page and presses Talk (held down) while the network drops the call's
    request (no answer; the requests after it go through). Returns every POST /api/calls sent."""
    app = stack["app"]
    sent = call_requests(page)
    open_page(page, f"{app.url}/talk/demo", app.url)
    dropped: list[bool] = []

    def drop_first(route: Any) -> None:
        if dropped:
            route.continue_()
        else:
            dropped.append(True)
            route.abort()

    page.route("**/api/calls", drop_first)
    page.hover("#talk")
    with page.expect_event("requestfailed", lambda r: r.url.endswith("/api/calls")):
        page.mouse.down()
    return sent


def test_a_click_takes_its_press_s_failed_request_as_its_own(page: Page, stack: dict[str, Any]) -> None:
    """The press's request got no answer (the network dropped it): the click shows that failure
    as if it had sent it, and Try again asks with the same Idempotency-Key (the server may have
    made that call) and joins."""
    sent = press_talk_losing_its_request(page, stack)
    page.mouse.up()
    fail_with(page, "network")
    assert len(sent) == 1
    page.click("#talk")
    wait_for_state(page, "in-call")
    assert len(sent) == 2
    assert sent[0].headers["idempotency-key"] == sent[1].headers["idempotency-key"]
    hang_up(page)


def test_a_press_again_after_a_failed_one_let_go_asks_anew(page: Page, stack: dict[str, Any]) -> None:
    """A press let go off Talk whose request failed leaves nothing for the next: pressed again,
    Talk asks again (with the same Idempotency-Key: that request got no answer) and its click
    joins, rather than showing the old failure."""
    sent = press_talk_losing_its_request(page, stack)
    page.mouse.move(1, 1)
    page.mouse.up()
    page.hover("#talk")
    with page.expect_response(lambda r: r.url.endswith("/api/calls")):
        page.mouse.down()
    page.mouse.up()
    wait_for_state(page, "in-call")
    assert not events(page, "error"), events(page, "error")
    assert len(sent) == 2
    assert sent[0].headers["idempotency-key"] == sent[1].headers["idempotency-key"]
    hang_up(page)
