"""The whole path, for real: click Talk in Chromium and converse with the demo agent.

Real pieces only: ``livekit-server --dev``, the demo agent worker, the app under
gunicorn, provider fakes over HTTP, and headless Chromium whose fake microphone
plays a spoken WAV. Nothing is mocked; the browser is observed from outside
(``getStats()`` of its peer connections, DOM state, and the server's room API).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from livekit import api
from playwright.sync_api import Page, Route, expect

from tests.support.livekit_server import LiveKitServer

pytestmark = pytest.mark.e2e
PRECONNECT_BYTES = "webcall.demo.preconnect_bytes"

# Collect the page's peer connections and its DOM events before any page script runs.
OBSERVE = """
window.__pcs = [];
window.__events = [];
const NativePC = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePC {
  constructor(...args) { super(...args); window.__pcs.push(this); }
};
for (const type of ["webcall:start", "webcall:connected", "webcall:agent-joined",
                    "webcall:transcript", "webcall:end", "webcall:error"]) {
  document.addEventListener(type, (e) => window.__events.push({ type, detail: e.detail }), true);
}
"""

INBOUND_AUDIO = """
async () => {
  let bytes = 0, level = 0, energy = 0;
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed") continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        bytes += s.bytesReceived || 0;
        level = Math.max(level, s.audioLevel || 0);
        energy += s.totalAudioEnergy || 0;
      }
    });
  }
  return { bytes, level, energy };
}
"""


def participants(server: LiveKitServer, room: str) -> list[dict[str, Any]]:
    """The room's participants, as the LiveKit server's RoomService reports them.

    Spoken over Twirp's JSON form with httpx: Playwright's sync API already runs an
    event loop on this thread, so the async LiveKitAPI client cannot be used here.
    """
    token = (
        api.AccessToken(server.api_key, server.api_secret)
        .with_grants(api.VideoGrants(room_admin=True, room=room))
        .to_jwt()
    )
    response = httpx.post(
        f"{server.http_url}/twirp/livekit.RoomService/ListParticipants",
        json={"room": room},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return list(response.json().get("participants", []))


def poll(check: Any, *, timeout_s: float, interval_s: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy; return the last value."""
    deadline = time.monotonic() + timeout_s
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = check()
    return value


@pytest.mark.parametrize(
    ("slug", "provider", "greeting"),
    [
        ("demo", "livekit", "Hello there! I am the webcall demo agent."),
        ("convoi-demo", "convoi", "Hi, this is the Convoi agent speaking."),
        ("ravan-demo", "ravan", "demo agent"),
    ],
)
def test_talk_to_the_agent(
    page: Page, console_log: list[str], stack: dict[str, Any], slug: str, provider: str, greeting: str
) -> None:
    app, livekit = stack["app"], stack["livekit"]
    page.add_init_script(OBSERVE)

    def hold_back(route: Route) -> None:
        """Answer the call request a second late: the microphone records (for the pre-connect
        buffer) before the agent can be in the room. Were the agent to subscribe within the
        page's busy first half second, livekit-client's recorder could close its stream before
        reading a single chunk (it drops those whose bytes come after its stop) and send none."""
        time.sleep(1.0)
        route.continue_()

    page.route("**/api/calls", hold_back)
    page.goto(f"{app.url}/talk/{slug}")
    call = page.locator("#call")
    expect(call).to_have_attribute("data-state", "ready")
    expect(page.locator("#talk")).to_be_enabled()

    with page.expect_response(lambda r: r.url.endswith("/api/calls")) as created:
        page.click("#talk")
    answer = created.value.json()
    assert created.value.status == 201 and answer["provider"] == provider
    room, identity = answer["room"], answer["identity"]

    # The page reaches the call, with the agent present.
    expect(call).to_have_attribute("data-state", "in-call", timeout=25_000)

    # The agent's audio arrives and is played: inbound bytes grow, with a real audio level.
    first = page.evaluate(INBOUND_AUDIO)

    def playing() -> Any:
        stats = page.evaluate(INBOUND_AUDIO)
        return stats if stats["level"] > 0.01 and stats["bytes"] > first["bytes"] + 1000 else None

    best = poll(playing, timeout_s=15)
    assert best, f"no agent audio playing in the page: {first} then {page.evaluate(INBOUND_AUDIO)}"
    assert best["energy"] > 0

    # The agent's greeting shows up in the transcript.
    expect(page.locator('#transcript [data-speaker="agent"]').first).to_contain_text(greeting, timeout=15_000)

    # The agent hears the caller: speech-level energy, measured by the agent, read from the server.
    def agent_heard() -> Any:
        for p in participants(livekit, room):
            heard = p.get("attributes", {}).get("webcall.demo.heard_speech_s")
            if p["identity"] != identity and heard and float(heard) > 0.5:
                return p["attributes"]
        return None

    heard = poll(agent_heard, timeout_s=20)
    assert heard, f"the agent did not hear the caller: {participants(livekit, room)}"
    assert float(heard["webcall.demo.peak_dbfs"]) > -40

    # The pre-connect buffer: audio captured before the agent joined reached the agent (the
    # agent reports it once decoded, which may come after the live speech it heard). Its
    # length depends on how fast the agent joins; that the buffer's words are kept is proven
    # by content in test_demo_agent_page.py.
    def preconnect_reported() -> Any:
        for p in participants(livekit, room):
            if p["identity"] != identity and int(p.get("attributes", {}).get(PRECONNECT_BYTES, "0")) > 0:
                return p["attributes"]
        return None

    assert poll(preconnect_reported, timeout_s=10), participants(livekit, room)

    # Hang up: the page says so, and the caller has left the room on the server.
    page.click("#hangup")
    expect(call).to_have_attribute("data-state", "ended", timeout=10_000)
    gone = poll(lambda: identity not in {p["identity"] for p in participants(livekit, room)}, timeout_s=10)
    assert gone, "the caller is still in the room after hanging up"

    events = [e["type"] for e in page.evaluate("window.__events")]
    for expected in (
        "webcall:start",
        "webcall:connected",
        "webcall:agent-joined",
        "webcall:transcript",
        "webcall:end",
    ):
        assert expected in events, events
