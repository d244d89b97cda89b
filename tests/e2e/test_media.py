"""Beyond the voice, in Chromium: the agent's avatar video, the caller's camera and screen, a
chat without the microphone, and push-to-talk.

Real pieces only, as in test_call.py: livekit-server, the demo agent (its avatar option
draws its own visualizer into video frames; it counts the frames it receives and reports
push-to-talk turns as participant attributes), gunicorn and headless Chromium, whose fake
devices give a camera, a screen and a microphone that speaks. Each state is run through
axe-core and photographed at both sizes, light and dark, into test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import api
from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_call import participants, poll
from tests.support.browser import assert_accessible, screenshots, serve_axe, wait_for_js, wait_for_state
from tests.support.livekit_server import LiveKitServer

pytestmark = pytest.mark.e2e

# Before any page script: peer connections, every webcall:* event, and each getUserMedia and
# getDisplayMedia call (what it asked for), with the screen tracks it got.
OBSERVE = """
window.__pcs = [];
window.__events = [];
window.__asked = [];
window.__screens = [];
const NativePC = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePC {
  constructor(...args) { super(...args); window.__pcs.push(this); }
};
for (const type of ["start", "state", "connected", "agent-joined", "agent-state", "transcript", "end",
                    "error", "video-started", "video-stopped", "push-to-talk", "agent-voice"]) {
  document.addEventListener(`webcall:${type}`, (e) => window.__events.push({ type, detail: e.detail }), true);
}
const devices = navigator.mediaDevices;
const getUserMedia = devices.getUserMedia.bind(devices);
devices.getUserMedia = (constraints) => {
  window.__asked.push({ audio: Boolean(constraints?.audio), video: Boolean(constraints?.video) });
  return getUserMedia(constraints);
};
const getDisplayMedia = devices.getDisplayMedia.bind(devices);
devices.getDisplayMedia = async (options) => {
  const stream = await getDisplayMedia(options);
  window.__screens.push(...stream.getVideoTracks());
  return stream;
};
"""

# What the page sends and receives over WebRTC, by kind.
RTP = """
async () => {
  const out = { sentVideoFrames: 0, sentVideoEncodings: 0, sentVideoWidth: 0, receivedVideoFrames: 0 };
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed") continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video") {
        out.sentVideoFrames += s.framesEncoded || 0;
        out.sentVideoEncodings += 1;
        out.sentVideoWidth = Math.max(out.sentVideoWidth, s.frameWidth || 0);
      }
      if (s.type === "inbound-rtp" && s.kind === "video") out.receivedVideoFrames += s.framesDecoded || 0;
    });
  }
  return out;
}
"""


@pytest.fixture
def shots(artifacts: Path) -> Path:
    """Where this file's screenshots go."""
    return artifacts / "screenshots"


def events(page: Page, kind: str) -> list[Any]:
    """The details of the webcall:<kind> events so far."""
    return [e["detail"] for e in page.evaluate("window.__events") if e["type"] == kind]


def start_call(page: Page, app_url: str, slug: str, *, muted: bool = True) -> str:
    """Open the agent's call page, press Talk and wait until the agent is in; the room's name.

    `muted`: the caller mutes at once, so the fake microphone's speech (which the demo agent
    may mishear as "bye") cannot end a call that is about something else.
    """
    page.add_init_script(OBSERVE)
    serve_axe(page, app_url)
    page.goto(f"{app_url}/talk/{slug}")
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    with page.expect_response(lambda r: r.url.endswith("/api/calls")) as created:
        page.click("#talk")
    wait_for_state(page, "in-call")
    if muted:
        page.click("#mute")
        expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    return str(created.value.json()["room"])


# What Chromium answers when the visitor closes its prompt without choosing, for the next
# request of a camera only.
DISMISS_THE_NEXT_CAMERA_PROMPT = """() => {
  const ask = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  let once = true;
  navigator.mediaDevices.getUserMedia = (constraints) => {
    if (once && constraints?.video) {
      once = false;
      return Promise.reject(new DOMException('Permission dismissed', 'NotAllowedError'));
    }
    return ask(constraints);
  };
}"""


def agent_attributes(server: LiveKitServer, room: str) -> dict[str, str]:
    """The demo agent's participant attributes, from the server."""
    for participant in participants(server, room):
        if participant.get("kind") == "AGENT":
            return dict(participant.get("attributes", {}))
    return {}


def caller(server: LiveKitServer, room: str) -> dict[str, Any]:
    """The caller as the server sees it: its permission and its tracks."""
    return next(p for p in participants(server, room) if p.get("kind") != "AGENT")


def room_service(server: LiveKitServer, method: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call one RoomService method on the server (as an operator would)."""
    token = api.AccessToken(server.api_key, server.api_secret).with_grants(
        api.VideoGrants(room_admin=True, room=body["room"])
    )
    response = httpx.post(
        f"{server.http_url}/twirp/livekit.RoomService/{method}",
        json=body,
        headers={"Authorization": f"Bearer {token.to_jwt()}"},
        timeout=5,
    )
    response.raise_for_status()
    return dict(response.json())


# ---------- the agent's video ----------


def test_the_agents_avatar_plays_in_place_of_the_visualizer_and_goes_when_its_track_does(
    page: Page, console_log: list[str], stack: dict[str, Any], shots: Path
) -> None:
    app, livekit = stack["app"], stack["livekit"]
    room = start_call(page, app.url, "avatar")
    tile = page.locator("#agent-video")
    video = tile.locator("video")
    expect(tile).to_have_attribute("data-playing", "", timeout=15_000)
    expect(video).to_be_visible()
    expect(page.locator("#agent-level")).to_be_hidden()
    # Frames from the agent's avatar, decoded on the page: its 256×256 drawing, moving.
    decoded = poll(
        lambda: page.evaluate(
            "(v) => v.videoWidth && v.getVideoPlaybackQuality().totalVideoFrames > 30 && "
            "[v.videoWidth, v.videoHeight, v.getVideoPlaybackQuality().totalVideoFrames]",
            video.element_handle(),
        ),
        timeout_s=15,
    )
    assert decoded and decoded[:2] == [256, 256], decoded
    assert page.evaluate(RTP)["receivedVideoFrames"] > 10
    assert events(page, "video-started") == [{"source": "agent"}]
    # The agent's state is still said in words.
    expect(page.locator("#status")).to_have_text(re.compile("Agent is (speaking|listening|thinking)"))
    expect(page.locator("#status")).to_have_text(re.compile("^Agent is listening"), timeout=15_000)
    assert_accessible(page, app.url, "agent video")
    screenshots(page, shots, "agent-video")

    # The video stops coming (the caller's subscription is dropped on the server): the orb returns.
    me = caller(livekit, room)
    agent = next(p for p in participants(livekit, room) if p.get("kind") == "AGENT")
    video_sid = next(t["sid"] for t in agent["tracks"] if t.get("type") == "VIDEO")
    room_service(
        livekit,
        "UpdateSubscriptions",
        {"room": room, "identity": me["identity"], "track_sids": [video_sid], "subscribe": False},
    )
    expect(page.locator("#agent-level")).to_be_visible(timeout=10_000)
    expect(tile).to_be_hidden()
    assert events(page, "video-stopped") == [{"source": "agent"}]
    assert page.locator("#call").get_attribute("data-state") == "in-call"  # the call goes on
    page.click("#hangup")
    wait_for_state(page, "ended")


def test_a_voice_only_agent_loads_no_media_code(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    scripts: list[str] = []
    page.on("request", lambda r: r.resource_type == "script" and scripts.append(r.url))
    start_call(page, stack["app"].url, "demo")
    page.wait_for_timeout(2_000)
    media = [
        url
        for url in scripts
        if re.search(r"/(agent-video|camera|screen-share|push-to-talk|text-only)-", url)
    ]
    assert media == [], media
    page.click("#hangup")


# ---------- the caller's camera and screen ----------


def test_the_camera_is_asked_for_only_when_turned_on_and_reaches_the_agent(
    page: Page, console_log: list[str], stack: dict[str, Any], shots: Path
) -> None:
    app, livekit = stack["app"], stack["livekit"]
    room = start_call(page, app.url, "vision")
    camera = page.locator("#camera")
    expect(camera).to_be_visible()
    expect(camera).to_have_attribute("aria-pressed", "false")
    assert not [a for a in page.evaluate("window.__asked") if a["video"]], "the camera was asked for too soon"
    assert_accessible(page, app.url, "camera offered")

    # The visitor closes the browser's camera prompt: said so (not "blocked"), the call goes on,
    # and Camera asks again.
    page.evaluate(DISMISS_THE_NEXT_CAMERA_PROMPT)
    camera.click()
    expect(page.locator("#error")).to_have_attribute("data-code", "camera-dismissed", timeout=10_000)
    expect(page.locator("#error")).to_contain_text("The camera prompt was closed.")
    expect(camera).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#call")).to_have_attribute("data-state", "in-call")
    camera.click()
    expect(camera).to_have_attribute("aria-pressed", "true", timeout=10_000)
    expect(page.locator("#error")).to_be_hidden()
    preview = page.locator("#self-view video")
    expect(preview).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('#self-view video')).transform").startswith(
        "matrix(-1"
    ), "the preview is mirrored"
    assert [a for a in page.evaluate("window.__asked") if a["video"]] == [{"audio": False, "video": True}]
    # Sent once (no simulcast for one viewer), within the resolution cap, and received by the agent.
    sent = poll(lambda: (rtp := page.evaluate(RTP))["sentVideoFrames"] > 30 and rtp, timeout_s=15)
    assert sent and sent["sentVideoEncodings"] == 1 and 0 < sent["sentVideoWidth"] <= 960, sent
    seen = poll(
        lambda: int((a := agent_attributes(livekit, room)).get("webcall.demo.camera_frames", "0")) > 30 and a,
        timeout_s=15,
    )
    assert seen and seen["webcall.demo.camera_live"] == "true", seen
    width, height = (int(n) for n in seen["webcall.demo.camera_size"].split("x"))
    assert 0 < width <= 960 and 0 < height <= 540, seen
    assert events(page, "video-started") == [{"source": "camera"}]
    # The camera picker knows the camera now.
    page.locator("#devices summary").click()
    expect(page.locator("#camera-field")).to_be_visible()
    assert page.locator("#camera-select option").count() >= 1
    assert_accessible(page, app.url, "camera on")
    screenshots(page, shots, "camera-on")

    camera.click()
    expect(camera).to_have_attribute("aria-pressed", "false", timeout=10_000)
    expect(page.locator("#self-view")).to_be_hidden()
    assert events(page, "video-stopped") == [{"source": "camera"}]
    page.click("#hangup")
    wait_for_state(page, "ended")


# A camera that says it faces away from the caller (a phone's back camera): what Chromium's
# getSettings() reports for one; its fake camera says nothing of where it faces.
BACK_CAMERA = """
const settingsOf = MediaStreamTrack.prototype.getSettings;
MediaStreamTrack.prototype.getSettings = function () {
  const found = settingsOf.call(this);
  return this.kind === 'video' ? { ...found, facingMode: 'environment' } : found;
};
"""


def test_a_back_camera_is_previewed_as_the_agent_sees_it(page: Page, stack: dict[str, Any]) -> None:
    """A front camera's preview is a mirror; a back camera's (a document held up to it) was
    mirrored too, its writing backwards: it is shown as sent."""
    page.add_init_script(BACK_CAMERA)
    start_call(page, stack["app"].url, "vision")
    page.click("#camera")
    expect(page.locator("#camera")).to_have_attribute("aria-pressed", "true", timeout=10_000)
    expect(page.locator("#self-view video")).to_be_visible()
    expect(page.locator("#self-view")).to_have_attribute("data-facing", "environment")
    transform = page.evaluate("getComputedStyle(document.querySelector('#self-view video')).transform")
    assert transform == "none", transform
    page.click("#hangup")
    wait_for_state(page, "ended")
    expect(page.locator("#self-view")).to_be_hidden()
    assert page.locator("#self-view video").count() == 0


def test_a_camera_on_from_the_start_is_asked_for_with_the_call(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    app, livekit = stack["app"], stack["livekit"]
    room = start_call(page, app.url, "watcher")
    expect(page.locator("#camera")).to_have_attribute("aria-pressed", "true", timeout=10_000)
    expect(page.locator("#self-view video")).to_be_visible()
    assert [a for a in page.evaluate("window.__asked") if a["video"]] == [{"audio": False, "video": True}]
    seen = poll(
        lambda: int(agent_attributes(livekit, room).get("webcall.demo.camera_frames", "0")) > 10, timeout_s=15
    )
    assert seen, agent_attributes(livekit, room)
    page.click("#hangup")
    wait_for_state(page, "ended")
    expect(page.locator("#self-view")).to_be_hidden()
    # The camera's stop is told before the end, which is the call's last word.
    kinds = [e["type"] for e in page.evaluate("window.__events")]
    assert "video-stopped" in kinds and kinds[-1] == "end", kinds


def test_a_camera_on_from_the_start_survives_an_answer_slower_than_the_sdks_15_s_wait(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """The camera was captured and published at the click: livekit-client drops a track that
    waits 15 s for its room (408), so after a slow answer the call went on without it
    ("Your camera couldn't be shared"). It starts once the room is entered."""
    app = stack["app"]

    def slow(route: Any) -> None:
        time.sleep(16)  # the browser goes on meanwhile: the SDK's 15 s run out
        route.continue_()

    page.route("**/api/calls", slow)
    page.add_init_script(OBSERVE)
    page.goto(f"{app.url}/talk/watcher")
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    page.click("#talk")
    wait_for_state(page, "in-call", 40_000)
    page.click("#mute")
    expect(page.locator("#camera")).to_have_attribute("aria-pressed", "true", timeout=10_000)
    expect(page.locator("#error")).to_be_hidden()
    assert events(page, "video-started") == [{"source": "camera"}]
    page.click("#hangup")
    wait_for_state(page, "ended")


def test_screen_share_starts_and_ends_cleanly_with_the_browsers_stop_sharing(
    page: Page, console_log: list[str], stack: dict[str, Any], shots: Path
) -> None:
    app, livekit = stack["app"], stack["livekit"]
    room = start_call(page, app.url, "vision")
    share = page.locator("#screen-share")
    expect(share).to_be_visible()
    share.click()
    expect(share).to_have_attribute("aria-pressed", "true", timeout=10_000)
    seen = poll(
        lambda: int((a := agent_attributes(livekit, room)).get("webcall.demo.screen_frames", "0")) > 5 and a,
        timeout_s=15,
    )
    assert seen and seen["webcall.demo.screen_live"] == "true", seen
    assert caller(livekit, room)["permission"]["can_publish_sources"] == [
        "MICROPHONE",
        "CAMERA",
        "SCREEN_SHARE",
    ]
    assert events(page, "video-started") == [{"source": "screen"}]
    expect(page.locator("#announce")).to_have_text("You are sharing your screen.")
    assert_accessible(page, app.url, "sharing the screen")
    screenshots(page, shots, "screen-share")

    # The browser's own "Stop sharing" stops the track and fires its `ended` event.
    page.evaluate(
        "window.__screens.forEach((track) => { track.stop(); track.dispatchEvent(new Event('ended')); })"
    )
    expect(share).to_have_attribute("aria-pressed", "false", timeout=10_000)
    assert events(page, "video-stopped") == [{"source": "screen"}]
    gone = poll(
        lambda: agent_attributes(livekit, room).get("webcall.demo.screen_live") == "false", timeout_s=10
    )
    assert gone, agent_attributes(livekit, room)
    assert not [t for t in caller(livekit, room).get("tracks", []) if t.get("source") == "SCREEN_SHARE"]
    assert page.locator("#call").get_attribute("data-state") == "in-call"
    page.click("#hangup")
    wait_for_state(page, "ended")


# The browser's answer to a camera or screen request, held until the test grants it: a caller
# still deciding on the permission prompt or the screen picker. What it then captured is kept.
HOLD_CAPTURE = """
window.__held = [];
window.__grant = () => window.__held.splice(0).forEach((release) => release());
window.__captured = [];
const mediaDevices = navigator.mediaDevices;
for (const name of ["getUserMedia", "getDisplayMedia"]) {
  const ask = mediaDevices[name].bind(mediaDevices);
  mediaDevices[name] = async (constraints) => {
    if (name === "getUserMedia" && !constraints?.video) return ask(constraints);
    await new Promise((release) => window.__held.push(release));
    const stream = await ask(constraints);
    window.__captured.push(...stream.getTracks());
    return stream;
  };
}
"""


@pytest.mark.parametrize("control", ["camera", "screen-share"])
def test_a_camera_or_screen_granted_after_the_call_ended_stops_at_once(
    page: Page, console_log: list[str], stack: dict[str, Any], control: str
) -> None:
    # livekit-client's own set…Enabled() kept such a track capturing until its publication timed
    # out, 15 s later: the camera's light on (or the screen shared) after the caller hung up.
    page.add_init_script(HOLD_CAPTURE)
    start_call(page, stack["app"].url, "vision")
    button = page.locator(f"#{control}")
    button.click()
    assert poll(lambda: page.evaluate("window.__held.length === 1"), timeout_s=5)
    page.click("#hangup")
    wait_for_state(page, "ended")

    page.evaluate("window.__grant()")
    assert poll(lambda: page.evaluate("window.__captured.length > 0"), timeout_s=5)
    states = "window.__captured.map((track) => track.readyState)"
    stopped = poll(
        lambda: "live" not in (seen := page.evaluate(states)) and seen, timeout_s=3, interval_s=0.1
    )
    assert stopped, f"still capturing after the call ended: {page.evaluate(states)}"
    expect(button).to_have_attribute("aria-pressed", "false")
    assert not events(page, "video-started"), page.evaluate("window.__events")
    after_end = page.evaluate("window.__events.map((e) => e.type)")
    assert after_end[-1] == "end" and "error" not in after_end, after_end


# ---------- a chat without the microphone ----------


def test_chat_instead_never_asks_for_the_microphone_and_gets_the_agents_text(
    page: Page, console_log: list[str], stack: dict[str, Any], shots: Path
) -> None:
    app, livekit = stack["app"], stack["livekit"]
    page.add_init_script(OBSERVE)
    serve_axe(page, app.url)
    page.goto(f"{app.url}/talk/chat")
    chat_start = page.locator("#chat-start")
    expect(chat_start).to_be_enabled()
    expect(page.locator("#talk")).to_have_text(re.compile("Talk to Chat agent"))
    assert_accessible(page, app.url, "chat offered")
    screenshots(page, shots, "chat-offered")
    with page.expect_response(lambda r: r.url.endswith("/api/calls")) as created:
        chat_start.click()
    assert created.value.request.post_data_json["mode"] == "text"
    room = created.value.json()["room"]
    wait_for_state(page, "in-call")
    states = [e["state"] for e in events(page, "state")]
    assert "requesting-mic" not in states, states
    assert events(page, "start") == [{"agent": "chat", "mode": "text"}]
    expect(page.locator("#chat-input")).to_be_focused()  # the keyboard goes where the talking is
    expect(page.locator("#mute")).to_be_hidden()

    # The greeting arrives as text, and so does the answer to a typed question.
    agent_lines = page.locator('#transcript [data-speaker="agent"][data-final="true"]')
    expect(agent_lines.first).to_contain_text("Hello, type to me.", timeout=15_000)
    page.fill("#chat-input", "What can you do?")
    page.press("#chat-input", "Enter")
    expect(agent_lines.nth(1)).to_be_visible(timeout=15_000)
    # Only text: a screen reader reads the reply out (the status says no more than "replying").
    expect(page.locator("#announce")).to_have_text(agent_lines.last.inner_text(), timeout=5_000)
    expect(page.locator("#status")).to_have_text(
        re.compile("Agent is (replying|thinking…|waiting for your message)")
    )

    # Never asked for the microphone, never published one; the server would not have let it.
    assert page.evaluate("window.__asked") == []
    me = caller(livekit, room)
    assert not me.get("tracks") and not me["permission"].get("can_publish_sources"), me
    assert me["permission"].get("can_publish") is not True
    # The agent's voice is there but silent until the caller turns it on.
    speaker = page.locator("#speaker")
    expect(speaker).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("[...document.querySelectorAll('#call audio')].every((a) => a.muted)")
    # What livekit-client's startAudio() does ("Turn on sound", iOS coming back to the page):
    # every element it attached unmuted. The voice stays off until the caller turns it on.
    page.evaluate("document.querySelectorAll('#call audio').forEach((a) => { a.muted = false; })")
    wait_for_js(page, "() => [...document.querySelectorAll('#call audio')].every((a) => a.muted)")
    assert_accessible(page, app.url, "chat")
    screenshots(page, shots, "chat")
    speaker.click()
    expect(speaker).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("[...document.querySelectorAll('#call audio')].every((a) => !a.muted)")
    assert events(page, "agent-voice") == [{"on": True}]
    # Now the agent says its replies: a screen reader does not read them out over its voice.
    page.evaluate("document.getElementById('announce').textContent = ''")
    page.fill("#chat-input", "What can you do?")
    page.press("#chat-input", "Enter")
    expect(agent_lines.nth(2)).to_be_visible(timeout=15_000)
    page.wait_for_timeout(500)  # (an announcement is written 50 ms after it is made)
    expect(page.locator("#announce")).to_have_text("")
    page.click("#hangup")
    wait_for_state(page, "ended")
    assert page.evaluate("window.__asked") == []
    # Talk starts a call by voice: it says so, not "Start over" of the chat; another chat is first.
    expect(page.locator("#talk")).to_have_text(re.compile("Talk to Chat agent"))
    expect(chat_start).to_be_focused()


# ---------- push-to-talk ----------

SENTENCE = "I would like to hear about your product."
# Whether each audio track the page sends is enabled (LiveKit mutes a microphone by disabling it).
MIC_ENABLED = """() => window.__pcs.flatMap((pc) => pc.getSenders())
  .filter((sender) => sender.track?.kind === "audio").map((sender) => sender.track.enabled)"""


@pytest.fixture(scope="module")
def walkie_browser(
    browser_type: Any, browser_type_launch_args: dict[str, Any], artifacts: Path
) -> Iterator[Browser]:
    """A Chromium whose microphone says a sentence the demo agent knows, pauses, and again."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    assert espeak and sox, "espeak-ng and sox are needed for test speech: run scripts/bootstrap --test"
    raw, wav = artifacts / "walkie-raw.wav", artifacts / "walkie.wav"
    subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", str(raw), SENTENCE], check=True)
    # The sentence twice, then a pause longer than a voice-activity detector's end of turn.
    sox_args = ["-r", "48000", "-c", "1", "-b", "16", str(wav), "pad", "0.2", "1.2"]
    subprocess.run([sox, str(raw), str(raw), *sox_args], check=True)
    args = [a for a in browser_type_launch_args["args"] if not a.startswith("--use-file-for-fake-audio")]
    browser = browser_type.launch(
        **{**browser_type_launch_args, "args": [*args, f"--use-file-for-fake-audio-capture={wav}"]}
    )
    yield browser
    browser.close()


@pytest.fixture
def walkie_page(walkie_browser: Browser) -> Iterator[Page]:
    """A page of its own in the walkie browser (its context closed after the test)."""
    context = walkie_browser.new_context()
    yield context.new_page()
    context.close()


def released_turns(livekit: LiveKitServer, room: str, count: int) -> dict[str, str]:
    """The agent's attributes once it has seen `count` turns end on release (within 5 s)."""
    seen = poll(
        lambda: (a := agent_attributes(livekit, room)).get("webcall.demo.released_turns") == str(count) and a,
        timeout_s=5,
    )
    assert seen, agent_attributes(livekit, room)
    return dict(seen)


def test_push_to_talk_sends_audio_only_while_held_and_the_turn_ends_on_release(
    walkie_page: Page, stack: dict[str, Any], shots: Path
) -> None:
    app, livekit = stack["app"], stack["livekit"]
    page = walkie_page
    room = start_call(page, app.url, "walkie", muted=False)
    ptt = page.locator("#ptt")
    expect(ptt).to_be_visible()
    expect(ptt).to_be_focused()  # Space talks at once, instead of pressing Hang up
    expect(page.locator("#mute")).to_be_hidden()
    expect(page.locator("#status")).to_have_text("Agent is listening", timeout=20_000)
    assert page.evaluate(MIC_ENABLED) == [False]  # published muted: the speech plays on, unsent
    assert_accessible(page, app.url, "push-to-talk")
    screenshots(page, shots, "push-to-talk")

    # Held with the mouse for 3 s: one turn, which ends on release.
    box = ptt.bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    held_at = time.monotonic()
    expect(ptt).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#status")).to_have_text("You are talking · release to send")
    assert page.evaluate(MIC_ENABLED) == [True]
    assert_accessible(page, app.url, "push-to-talk held")
    screenshots(page, shots, "push-to-talk-held")
    page.wait_for_timeout(max(0, 3_000 - (time.monotonic() - held_at) * 1000))
    page.mouse.up()
    held_s = time.monotonic() - held_at
    expect(ptt).to_have_attribute("aria-pressed", "false")
    assert page.evaluate(MIC_ENABLED) == [False]
    seen = released_turns(livekit, room, 1)
    print(
        f"\nheld {held_s:.2f} s; the agent's turn: {seen['webcall.demo.last_turn_s']} s, "
        f"peak {seen['webcall.demo.turn_peak_dbfs']} dBFS; "
        f"between turns {seen['webcall.demo.idle_peak_dbfs']} dBFS"
    )
    assert seen["webcall.demo.last_turn_end"] == "release"
    # The agent's turn lasted as long as the hold (give or take the RPC calls' trips on a
    # busy machine): it ended on release, not on a silence, of which the speech has several.
    assert abs(float(seen["webcall.demo.last_turn_s"]) - held_s) < 1.0, (seen, held_s)
    # Speech while held; silence before (the muted track), whatever the microphone heard.
    assert float(seen["webcall.demo.turn_peak_dbfs"]) > -35, seen
    assert float(seen["webcall.demo.idle_peak_dbfs"]) < -60, seen
    user_lines = page.locator('#transcript [data-speaker="user"][data-final="true"]')
    expect(user_lines).to_have_count(1, timeout=15_000)
    agent_lines = page.locator('#transcript [data-speaker="agent"][data-final="true"]')
    expect(agent_lines).to_have_count(2, timeout=20_000)  # the greeting, and the answer
    assert [e["talking"] for e in events(page, "push-to-talk")] == [True, False]

    # Space held does the same, with the keyboard on the button…
    expect(page.locator("#status")).to_have_text("Agent is listening", timeout=20_000)
    ptt.focus()
    page.keyboard.down(" ")
    expect(ptt).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(1_500)
    page.keyboard.up(" ")
    expect(ptt).to_have_attribute("aria-pressed", "false")
    seen = released_turns(livekit, room, 2)
    assert float(seen["webcall.demo.idle_peak_dbfs"]) < -60, seen  # silent between the turns too
    # Enter (a click without a pointer, as assistive technology sends) starts a turn that the
    # next press ends, and the status line says so.
    expect(page.locator("#status")).to_have_text("Agent is listening", timeout=20_000)
    ptt.press("Enter")
    expect(ptt).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#status")).to_have_text("You are talking · press to send")
    expect(ptt).to_contain_text("Press to send")
    page.wait_for_timeout(1_000)
    ptt.press("Enter")
    expect(ptt).to_have_attribute("aria-pressed", "false")
    released_turns(livekit, room, 3)
    # …but not while typing: spaces in the message box are spaces.
    page.locator("#chat-input").press_sequentially("a b c")
    expect(page.locator("#chat-input")).to_have_value("a b c")
    assert [e["talking"] for e in events(page, "push-to-talk")] == [True, False] * 3
    page.click("#hangup")
    wait_for_state(page, "ended")


def test_push_to_talk_pressed_again_at_once_goes_on_with_the_same_turn(
    walkie_page: Page, stack: dict[str, Any]
) -> None:
    """A caller who lets go and presses again at once (a stutter, a slipped finger): the turn
    goes on, so the agent hears it whole. Its end_turn waited TAIL_MS after the release, and the
    new press's start_turn waited behind it: the first words of the second hold were lost."""
    app, livekit = stack["app"], stack["livekit"]
    page = walkie_page
    room = start_call(page, app.url, "walkie", muted=False)
    ptt = page.locator("#ptt")
    expect(page.locator("#status")).to_have_text("Agent is listening", timeout=20_000)
    ptt.focus()
    page.keyboard.down(" ")
    held_at = time.monotonic()
    expect(ptt).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(1_500)
    page.keyboard.up(" ")
    let_go_at = time.monotonic()
    page.keyboard.down(" ")
    gap_s = time.monotonic() - let_go_at
    assert gap_s < 0.15, gap_s  # within the 200 ms the page waits before ending a turn
    page.wait_for_timeout(1_500)
    assert page.evaluate(MIC_ENABLED) == [True]
    page.keyboard.up(" ")
    held_s = time.monotonic() - held_at
    expect(ptt).to_have_attribute("aria-pressed", "false")
    released_turns(livekit, room, 1)
    page.wait_for_timeout(1_000)  # a second turn, had the press begun one, has ended by now
    seen = agent_attributes(livekit, room)
    turn_s = float(seen["webcall.demo.last_turn_s"])
    print(f"\nheld {held_s:.2f} s, let go for {gap_s * 1000:.0f} ms; the agent's turn: {turn_s} s")
    assert (seen["webcall.demo.released_turns"], seen["webcall.demo.last_turn_end"]) == ("1", "release")
    # From the first press to the last release (and the tail): not a turn begun at the second.
    assert held_s - 0.5 < turn_s < held_s + 1.0, (turn_s, held_s)
    # The page still showed each press and release.
    assert [e["talking"] for e in events(page, "push-to-talk")] == [True, False, True, False]
    page.click("#hangup")
    wait_for_state(page, "ended")


# ---------- a microphone lost mid-call ----------

# Every microphone track the page is given; `window.__failMic` makes the next ones fail to open.
LOSABLE_MIC = """
const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
window.__mics = [];
navigator.mediaDevices.getUserMedia = (constraints) => window.__failMic
  ? Promise.reject(new DOMException("Could not start audio source", "NotReadableError"))
  : open(constraints).then((stream) => { window.__mics.push(...stream.getAudioTracks()); return stream; });
"""
# The device goes away, with no other to fall back on: the browser ends the live track.
UNPLUG = """() => {
  window.__failMic = true;
  for (const track of window.__mics.filter((t) => t.readyState === "live")) {
    track.stop();
    track.dispatchEvent(new Event("ended"));
  }
}"""


def mic_muted(server: LiveKitServer, room: str) -> bool | None:
    """Whether the server sees the caller's microphone muted (None: not published)."""
    tracks = [t for t in caller(server, room).get("tracks", []) if t.get("source") == "MICROPHONE"]
    return bool(tracks[0].get("muted")) if tracks else None


def test_a_microphone_lost_mid_call_is_said_and_comes_back_at_unmute(
    page: Page, stack: dict[str, Any]
) -> None:
    """An unplugged microphone with nothing to fall back on: livekit-client mutes it, and the
    page said only "muted", as if the caller had pressed Mute. It says the microphone stopped
    (webcall:error mic-lost), the call goes on, and an unmute that finds a device clears it."""
    app, livekit = stack["app"], stack["livekit"]
    page.add_init_script(LOSABLE_MIC)
    room = start_call(page, app.url, "demo", muted=False)
    assert poll(lambda: mic_muted(livekit, room) is False, timeout_s=10)
    page.evaluate(UNPLUG)
    error = page.locator("#error")
    expect(error).to_contain_text("Your microphone stopped", timeout=10_000)
    expect(error).to_contain_text("press Mute (or M)")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    assert events(page, "error")[-1]["code"] == "mic-lost"
    assert poll(lambda: mic_muted(livekit, room) is True, timeout_s=10)
    expect(page.locator("#call")).to_have_attribute("data-state", "in-call")

    page.evaluate("window.__failMic = false")  # plugged back in
    page.click("#mute")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "false", timeout=10_000)
    expect(error).to_be_hidden()
    assert poll(lambda: mic_muted(livekit, room) is False, timeout_s=10)
    assert page.evaluate(MIC_ENABLED) == [True]
    page.click("#hangup")
    wait_for_state(page, "ended")


# ---------- a camera lost mid-call ----------

# The browser's own getUserMedia and enumerateDevices, for the cameras emulated below to wrap.
DEVICES = """
const devices = navigator.mediaDevices;
const open = devices.getUserMedia.bind(devices);
const list = devices.enumerateDevices.bind(devices);
"""
# Every camera track the page is given. Once one is unplugged (`window.__goneCamera`, its id), it
# is no longer listed, and a request for it by id is refused as Chromium refuses it; one without
# an id still gets Chromium's fake camera, standing for another camera that is there.
LOSABLE_CAMERA = DEVICES + """
window.__cameras = [];
window.__goneCamera = null;
const asksForGone = (video) => [video?.deviceId?.exact].flat().some((id) => id && id === window.__goneCamera);
devices.getUserMedia = (constraints) => asksForGone(constraints?.video)
  ? Promise.reject(new OverconstrainedError("deviceId", "Requested device not found"))
  : open(constraints).then((stream) => { window.__cameras.push(...stream.getVideoTracks()); return stream; });
devices.enumerateDevices = () => list().then((all) => all.filter((d) => d.deviceId !== window.__goneCamera));
"""  # fmt: skip
# The camera in use is unplugged: the browser ends its live track and says the devices changed
# (returns the camera's id).
UNPLUG_CAMERA = """() => {
  const live = window.__cameras.filter((t) => t.readyState === "live");
  window.__goneCamera = live[0].getSettings().deviceId;
  for (const track of live) {
    track.stop();
    track.dispatchEvent(new Event("ended"));
  }
  navigator.mediaDevices.dispatchEvent(new Event("devicechange"));
  return window.__goneCamera;
}"""
# The same while the camera is off (a camera off is stopped: nothing ends), given its id.
UNPLUG_CAMERA_OFF = """(id) => {
  window.__goneCamera = id;
  navigator.mediaDevices.dispatchEvent(new Event("devicechange"));
}"""
# A live camera track being sent.
CAMERA_SENT = """() => window.__pcs.flatMap((pc) => pc.getSenders())
  .some((s) => s.track?.kind === "video" && s.track.readyState === "live" && s.track.enabled)"""


def camera_muted(server: LiveKitServer, room: str) -> bool | None:
    """Whether the server sees the caller's camera muted (None: not published)."""
    tracks = [t for t in caller(server, room).get("tracks", []) if t.get("source") == "CAMERA"]
    return bool(tracks[0].get("muted")) if tracks else None


def camera_picked(page: Page, stack: dict[str, Any]) -> tuple[str, str]:
    """A call to the vision agent with the camera on, picked in the picker (remembered, and asked
    for by its id from then on): the room and the camera's id."""
    page.add_init_script(LOSABLE_CAMERA)
    room = start_call(page, stack["app"].url, "vision")
    camera = page.locator("#camera")
    camera.click()
    expect(camera).to_have_attribute("aria-pressed", "true", timeout=10_000)
    # The agent sees it before the caller picks it (as a caller would take a moment to).
    live = "webcall.demo.camera_live"
    assert poll(lambda: agent_attributes(stack["livekit"], room).get(live) == "true", timeout_s=15)
    page.locator("#devices summary").click()
    picked = page.locator("#camera-select").input_value()
    page.select_option("#camera-select", picked)
    wait_for_js(page, "() => window.__cameras.length === 2")  # opened again, by its id
    assert page.evaluate("localStorage.getItem('webcall.device.videoinput')") == picked
    assert poll(lambda: camera_muted(stack["livekit"], room) is False, timeout_s=10)
    return room, picked


def test_a_camera_lost_mid_call_is_said_and_camera_starts_one_that_is_there(
    page: Page, stack: dict[str, Any]
) -> None:
    """The caller's picked camera is unplugged: livekit-client asks for it again by its id, then
    mutes it without a word, and Camera unmuted that publication, asking for the same device ("No
    camera was found" for the rest of the call). The page says the camera stopped (webcall:error
    camera-lost), the call goes on, and Camera starts the camera that is there."""
    livekit = stack["livekit"]
    room, picked = camera_picked(page, stack)
    camera, error, preview = page.locator("#camera"), page.locator("#error"), page.locator("#self-view")
    assert page.evaluate(UNPLUG_CAMERA) == picked
    expect(error).to_contain_text("Your camera stopped", timeout=10_000)
    expect(error).to_contain_text("press Camera again")
    expect(error).to_have_attribute("data-code", "camera-lost")
    assert [e["code"] for e in events(page, "error")] == ["camera-lost"]
    expect(camera).to_have_attribute("aria-pressed", "false")
    expect(preview).to_be_hidden()
    assert events(page, "video-stopped") == [{"source": "camera"}]
    assert poll(lambda: camera_muted(livekit, room) is None, timeout_s=10), caller(livekit, room)
    live = "webcall.demo.camera_live"  # the agent's: whether a camera track of the caller's plays
    assert poll(lambda: agent_attributes(livekit, room).get(live) == "false", timeout_s=10)
    expect(page.locator("#call")).to_have_attribute("data-state", "in-call")
    expect(page.locator(f'#camera-select option[value="{picked}"]')).to_have_count(0)  # no longer listed

    camera.click()  # the remembered camera is gone: the one that is there
    expect(camera).to_have_attribute("aria-pressed", "true", timeout=10_000)
    expect(error).to_be_hidden()
    expect(preview.locator("video")).to_be_visible()
    assert events(page, "video-started") == [{"source": "camera"}] * 2
    wait_for_js(page, CAMERA_SENT)
    assert poll(lambda: camera_muted(livekit, room) is False, timeout_s=10), caller(livekit, room)
    seen = poll(
        lambda: (
            (a := agent_attributes(livekit, room)).get(live) == "true"
            and int(a.get("webcall.demo.camera_frames", "0")) > 10
            and a
        ),
        timeout_s=15,
    )
    assert seen, agent_attributes(livekit, room)  # the agent sees the caller again
    page.click("#hangup")
    wait_for_state(page, "ended")


def test_a_camera_unplugged_while_off_is_not_asked_for_again(page: Page, stack: dict[str, Any]) -> None:
    """A camera turned off is stopped, so its unplugging ends nothing: Camera then unmuted its
    publication, which asked for the vanished device by its id ("No camera was found", another
    camera there or not). Camera captures the camera that is there."""
    livekit = stack["livekit"]
    room, picked = camera_picked(page, stack)
    camera, error = page.locator("#camera"), page.locator("#error")
    camera.click()
    expect(camera).to_have_attribute("aria-pressed", "false")
    assert poll(lambda: camera_muted(livekit, room) is True, timeout_s=10)
    page.evaluate(UNPLUG_CAMERA_OFF, picked)
    expect(page.locator(f'#camera-select option[value="{picked}"]')).to_have_count(0)  # no longer listed
    camera.click()
    expect(camera).to_have_attribute("aria-pressed", "true", timeout=10_000)
    expect(error).to_be_hidden()
    assert events(page, "error") == []
    wait_for_js(page, CAMERA_SENT)
    assert poll(lambda: camera_muted(livekit, room) is False, timeout_s=10), caller(livekit, room)
    page.click("#hangup")
    wait_for_state(page, "ended")


# A camera plugged in, listed first once `window.__plugIn()` ran: asked for by its id, Chromium's
# fake camera stands for it (its track says so).
PLUGGABLE_CAMERA = DEVICES + """
const USB = { deviceId: "usb-camera", groupId: "usb-camera", kind: "videoinput", label: "USB Camera" };
let plugged = false;
window.__listed = 0; // device lists handed out
window.__plugIn = () => {
  plugged = true;
  devices.dispatchEvent(new Event("devicechange"));
};
devices.enumerateDevices = () =>
  list().then((all) => {
    window.__listed += 1;
    return plugged ? [{ ...USB, toJSON: () => USB }, ...all] : all;
  });
devices.getUserMedia = async (constraints) => {
  const video = constraints?.video;
  if (![video?.deviceId?.exact ?? video?.deviceId].flat().includes(USB.deviceId)) return open(constraints);
  const { deviceId, ...rest } = video;
  const stream = await open({ ...constraints, video: rest });
  for (const track of stream.getVideoTracks()) {
    const settings = track.getSettings.bind(track);
    track.getSettings = () => ({ ...settings(), deviceId: USB.deviceId });
  }
  return stream;
};
"""  # fmt: skip


def test_the_camera_picker_follows_a_camera_livekit_moves_to_by_itself(
    page: Page, stack: dict[str, Any]
) -> None:
    """A camera plugged in mid-call and listed first: livekit-client moves the call to it (the
    caller was on the first camera listed). The picker showed the camera the call left, so
    choosing that one again did nothing (an option already selected fires no change); and after
    a reconnect it showed the remembered camera, not the one in use."""
    livekit = stack["livekit"]
    page.add_init_script(PLUGGABLE_CAMERA)
    room = start_call(page, stack["app"].url, "vision")
    camera, picker = page.locator("#camera"), page.locator("#camera-select")
    camera.click()
    expect(camera).to_have_attribute("aria-pressed", "true", timeout=10_000)
    assert poll(lambda: camera_muted(livekit, room) is False, timeout_s=10)
    page.locator("#devices summary").click()
    first = picker.input_value()
    page.select_option("#camera-select", first)  # picked: remembered
    assert page.evaluate("localStorage.getItem('webcall.device.videoinput')") == first
    # livekit-client compares the devices with those it last listed (here, before the camera
    # was allowed: no ids): a change of nothing first, listed by it and by the pickers.
    listed = page.evaluate("window.__listed")
    page.evaluate("navigator.mediaDevices.dispatchEvent(new Event('devicechange'))")
    wait_for_js(page, "(n) => window.__listed >= n + 2", listed)
    page.evaluate("window.__plugIn()")
    expect(picker.locator("option")).to_have_count(2)
    expect(picker).to_have_value("usb-camera", timeout=10_000)
    assert page.evaluate("localStorage.getItem('webcall.device.videoinput')") == first  # not picked
    assert events(page, "error") == []
    page.context.set_offline(True)  # a reconnect marks the microphone in use again, and only it
    wait_for_state(page, "reconnecting", 5_000)
    page.context.set_offline(False)
    wait_for_state(page, "in-call", 20_000)
    expect(picker).to_have_value("usb-camera", timeout=10_000)
    page.select_option("#camera-select", first)  # back to the first one: it takes
    wait_for_js(
        page,
        """(id) => window.__pcs.flatMap((pc) => pc.getSenders())
          .some((s) => s.track?.kind === "video" && s.track.readyState === "live"
            && s.track.getSettings().deviceId === id)""",
        first,
    )
    expect(picker).to_have_value(first)
    page.click("#hangup")
    wait_for_state(page, "ended")


def test_push_to_talk_says_when_the_microphone_is_lost_or_cannot_open(
    page: Page, stack: dict[str, Any]
) -> None:
    """Push-to-talk has no Mute button: a microphone lost while held, and a press that cannot
    open it again (a failure the page swallowed, so the caller talked to no one), are said with
    what to do there; a press that works clears it."""
    app = stack["app"]
    page.add_init_script(LOSABLE_MIC)
    start_call(page, app.url, "walkie", muted=False)
    ptt, error = page.locator("#ptt"), page.locator("#error")
    ptt.focus()
    page.keyboard.down(" ")
    expect(ptt).to_have_attribute("aria-pressed", "true")
    wait_for_js(page, "() => window.__pcs.some((pc) => pc.getSenders().some((s) => s.track?.enabled))")
    page.evaluate(UNPLUG)  # while held
    expect(error).to_contain_text("Your microphone stopped", timeout=10_000)
    expect(error).to_contain_text("hold to talk again")
    expect(error).not_to_contain_text("Mute")
    page.keyboard.up(" ")
    assert [e["code"] for e in events(page, "error")] == ["mic-lost"]

    page.keyboard.down(" ")  # the device is still gone
    expect(error).to_contain_text("couldn't be turned back on", timeout=10_000)
    expect(error).to_contain_text("hold to talk again")
    page.keyboard.up(" ")
    assert [e["code"] for e in events(page, "error")] == ["mic-lost", "unmute-failed"]

    page.evaluate("window.__failMic = false")
    page.keyboard.down(" ")
    expect(error).to_be_hidden(timeout=10_000)
    wait_for_js(page, f"() => ({MIC_ENABLED})().includes(true)")
    page.keyboard.up(" ")
    expect(page.locator("#call")).to_have_attribute("data-state", "in-call")
    page.click("#hangup")
    wait_for_state(page, "ended")


# A page of the app's origin (an origin the walkie agent allows) holding the inline widget.
PTT_HOST = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host</title></head>
<body><button id="host-button">A button of the host page</button><div id="slot"></div>
<script src="{app}/embed.js" data-agent="walkie" data-inline="#slot" async></script></body></html>"""


def test_push_to_talk_in_a_widget_ends_when_space_is_let_go_outside_it(
    page: Page, stack: dict[str, Any]
) -> None:
    """A widget hears only its own keys: holding Space on Hold to talk, the caller clicks a button of
    the host page (the window keeps the focus, so no blur) and lets go there. The turn ends, the
    microphone closes, and the button is not left pressed (nor pressed again by the keyup)."""
    app = stack["app"].url
    page.add_init_script(OBSERVE)
    page.goto(f"{app}/healthz")  # the app's origin, then a host page of it
    page.set_content(PTT_HOST.format(app=app))
    page.locator("#talk").click()
    expect(page.locator("#call")).to_have_attribute("data-state", "in-call", timeout=30_000)
    ptt = page.locator("#ptt")
    ptt.focus()
    page.keyboard.down(" ")
    expect(ptt).to_have_attribute("aria-pressed", "true")
    wait_for_js(page, f"() => ({MIC_ENABLED})().includes(true)")
    page.click("#host-button")
    page.keyboard.up(" ")
    expect(ptt).to_have_attribute("aria-pressed", "false", timeout=5_000)
    wait_for_js(page, f"() => !({MIC_ENABLED})().includes(true)")
    ptt.focus()  # and inside it, as before: a press and a release, no click left behind
    page.keyboard.down(" ")
    expect(ptt).to_have_attribute("aria-pressed", "true")
    page.keyboard.up(" ")
    expect(ptt).to_have_attribute("aria-pressed", "false", timeout=5_000)
    page.wait_for_timeout(300)
    expect(ptt).to_have_attribute("aria-pressed", "false")
    page.locator("#hangup").click()
    expect(page.locator("#call")).to_have_attribute("data-state", "ended", timeout=10_000)


# ---------- inside the embeds ----------


def test_the_script_embed_shows_the_avatar_and_starts_a_chat_from_the_host_page(
    page: Page, console_log: list[str], stack: dict[str, Any], shots: Path
) -> None:
    page.goto(f"{stack['embed_hosts']['allowed'].origin}/media.html")
    avatar, chat = (
        page.locator('webcall-widget[data-agent="avatar"]'),
        page.locator('webcall-widget[data-agent="chat"]'),
    )
    expect(avatar.locator("#talk")).to_be_enabled(timeout=15_000)
    expect(chat.locator("#chat-start")).to_be_enabled(timeout=15_000)

    # The avatar, in the widget's shadow root; the host page hears webcall:video-started.
    avatar.locator("#talk").click()
    expect(avatar.locator("#call")).to_have_attribute("data-state", "in-call", timeout=25_000)
    avatar.locator("#mute").click()
    expect(avatar.locator("#agent-video")).to_have_attribute("data-playing", "", timeout=15_000)
    expect(avatar.locator("#agent-video video")).to_be_visible()
    expect(avatar.locator("#agent-level")).to_be_hidden()
    started = [e for e in page.evaluate("window.received") if e["type"] == "video-started"]
    assert started == [{"type": "video-started", "agent": "avatar", "detail": {"source": "agent"}}]
    avatar.locator("#hangup").click()
    expect(avatar.locator("#call")).to_have_attribute("data-state", "ended", timeout=10_000)
    expect(avatar.locator("#agent-level")).to_be_visible()
    page.evaluate("window.asked = []")

    # The host page's own button starts a chat: no microphone asked for, the agent's text arrives.
    page.click("#chat-with-us")
    expect(chat.locator("#call")).to_have_attribute("data-state", "in-call", timeout=25_000)
    line = chat.locator('#transcript [data-speaker="agent"][data-final="true"]').first
    expect(line).to_contain_text("Hello, type to me.", timeout=15_000)
    starts = [
        e["detail"] for e in page.evaluate("window.received") if e["type"] == "start" and e["agent"] == "chat"
    ]
    assert starts == [{"agent": "chat", "mode": "text"}]
    assert page.evaluate("window.asked") == []
    page.screenshot(path=str(shots / "embed-avatar-and-chat.png"), full_page=True)
    chat.locator("#hangup").click()
    expect(chat.locator("#call")).to_have_attribute("data-state", "ended", timeout=10_000)


def test_the_iframe_embed_uses_the_camera_only_where_the_host_page_allows_it(
    page: Page, console_log: list[str], stack: dict[str, Any], shots: Path
) -> None:
    page.goto(f"{stack['embed_hosts']['allowed'].origin}/iframe-media.html", wait_until="load")
    for frame_id, allowed in (("granted", True), ("plain", False)):
        frame = page.frame_locator(f"#{frame_id}")
        expect(frame.locator("#talk")).to_be_enabled(timeout=15_000)
        frame.locator("#talk").click()
        expect(frame.locator("#call")).to_have_attribute("data-state", "in-call", timeout=25_000)
        frame.locator("#mute").click()
        frame.locator("#camera").click()
        if allowed:
            expect(frame.locator("#camera")).to_have_attribute("aria-pressed", "true", timeout=10_000)
            expect(frame.locator("#self-view video")).to_be_visible()
            expect(frame.locator("#screen-share")).to_be_visible()
        else:
            # Without allow="camera" the browser refuses: said in plain words, and the call goes on.
            expect(frame.locator("#error")).to_have_attribute("data-code", "camera-denied", timeout=10_000)
            expect(frame.locator("#error")).to_contain_text("Camera access is blocked.")
            expect(frame.locator("#camera")).to_have_attribute("aria-pressed", "false")
            expect(frame.locator("#call")).to_have_attribute("data-state", "in-call")
            # Screen capture is not offered where the page may not use it.
            expect(frame.locator("#screen-share")).to_be_hidden()
        page.locator(f"#{frame_id}").screenshot(path=str(shots / f"iframe-camera-{frame_id}.png"))
        frame.locator("#hangup").click()
        expect(frame.locator("#call")).to_have_attribute("data-state", "ended", timeout=10_000)
