"""Click to voice: from the click on Talk to the agent's first audio, in headless Chromium.

A real ``livekit-server --dev``, the demo agent and gunicorn (self-hosted LiveKit agent:
the token is minted by the app). Each call loads the page in a fresh browser context,
clicks Talk and timestamps, in the page (``performance.now()``), the page's own events and
what its peer connections report, polled every 20 ms:

- API request started and answered: the ``POST /api/calls`` fetch (resource timing);
- signal WebSocket open, first peer connection connected (wrapped constructors);
- connected: ``webcall:connected`` (room joined);
- microphone sending: the first outbound audio RTP packet (``outbound-rtp`` packetsSent > 0);
- agent joined: ``webcall:agent-joined``;
- agent speaking: the page sees ``lk.agent.state`` = ``speaking`` (``webcall:agent-state``, or
  ``#call[data-agent-state]`` on pages without that event);
- first agent audio: the inbound audio level passes 0.01 (``inbound-rtp`` audioLevel).

One warm-up call, then the medians of the measured calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from .results import Result, median_ms
from .services import call_stack, launch_chromium

NAME = "click_to_voice"
SLUG = "demo"
WARMUP_CALLS = 1
MEASURED_CALLS = 10
CONNECTED_TARGET_MS = 400
AUDIO_AFTER_SPEAKING_TARGET_MS = 1000
# Installed before any page script runs; everything lands in window.__bench, in ms.
OBSERVE = """
(() => {
  const marks = (window.__bench = {});
  const mark = (name) => { if (!(name in marks)) marks[name] = performance.now(); };
  const pcs = [];
  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...args) {
      super(...args);
      pcs.push(this);
      this.addEventListener("connectionstatechange", () => {
        if (this.connectionState === "connected") mark("pc-connected");
      });
    }
  };
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...args) {
      super(...args);
      mark("ws-created");
      this.addEventListener("open", () => mark("ws-open"), { once: true });
    }
  };
  document.addEventListener("click", (e) => { if (e.target.closest?.("#talk")) mark("click"); }, true);
  const events = { "webcall:connected": "connected", "webcall:agent-joined": "agent-joined",
                   "webcall:error": "error", "webcall:end": "end" };
  for (const [type, name] of Object.entries(events)) document.addEventListener(type, () => mark(name), true);
  document.addEventListener("webcall:state", (e) => mark("state:" + e.detail?.state), true);
  document.addEventListener("webcall:agent-state", (e) => {
    if (e.detail?.state === "speaking") mark("agent-speaking");
  }, true);
  new MutationObserver(() => {
    if (document.getElementById("call")?.dataset.agentState === "speaking") mark("agent-speaking");
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-agent-state"] });
  let polling = false;
  setInterval(async () => {
    if (!("click" in marks) || "agent-audio" in marks || "end" in marks || polling) return;
    polling = true;
    try {
      for (const pc of pcs) {
        if (pc.connectionState === "closed") continue;
        (await pc.getStats()).forEach((s) => {
          if (s.kind !== "audio") return;
          if (s.type === "outbound-rtp" && s.packetsSent > 0) mark("mic-sending");
          if (s.type === "inbound-rtp" && (s.audioLevel || 0) > 0.01) mark("agent-audio");
        });
      }
    } finally { polling = false; }
  }, 20);
})();
"""
API_TIMING = """() => {
  const entry = performance.getEntriesByType("resource").find((e) => e.name.endsWith("/api/calls"));
  return entry ? { "api-fetch": entry.startTime, "api-answered": entry.responseEnd } : {};
}"""
PHASES = [  # (label, mark, from mark)
    ("API request started (fetch)", "api-fetch", "click"),
    ("API answered (POST /api/calls)", "api-answered", "click"),
    ("signal WebSocket open", "ws-open", "click"),
    ("first peer connection connected", "pc-connected", "click"),
    ("connected (webcall:connected)", "connected", "click"),
    ("microphone published and sending (first RTP packet)", "mic-sending", "click"),
    ("agent joined (webcall:agent-joined)", "agent-joined", "click"),
    ("agent speaking (lk.agent.state seen)", "agent-speaking", "click"),
    ("first agent audio (level > 0.01)", "agent-audio", "click"),
    ("first agent audio after agent speaking", "agent-audio", "agent-speaking"),
]


def one_call(browser: Any, url: str) -> dict[str, float]:
    """Load the page, click Talk, wait for the agent's voice, hang up; the page's marks in ms."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(OBSERVE)
        page.goto(url, wait_until="load")
        page.wait_for_selector("#talk:not([disabled])", timeout=15_000)
        page.click("#talk")
        page.wait_for_function(
            "() => ['agent-audio', 'end'].some((m) => m in window.__bench)", timeout=30_000, polling=50
        )
        marks: dict[str, float] = page.evaluate("() => window.__bench")
        if "agent-audio" not in marks:
            status = page.text_content("#status")
            raise RuntimeError(f"the call ended before the agent was heard: {status!r}, marks {marks}")
        marks.update(page.evaluate(API_TIMING))
        page.click("#hangup")
        page.wait_for_selector('#call[data-state="ended"]', timeout=10_000)
        return marks
    finally:
        context.close()


def run(log_dir: Path) -> list[Result]:
    """Median time of each phase over the measured calls, with the two targets."""
    calls: list[dict[str, float]] = []
    with call_stack(log_dir) as stack, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            url = f"{stack.app.url}/talk/{SLUG}"
            for index in range(WARMUP_CALLS + MEASURED_CALLS):
                marks = one_call(browser, url)
                if index >= WARMUP_CALLS:
                    calls.append(marks)
        finally:
            browser.close()
    rows = []
    for label, end, start in PHASES:
        spans = [c[end] - c[start] for c in calls if end in c and start in c]
        median = median_ms(spans)
        spread = f" (min {min(spans):.0f}, max {max(spans):.0f})" if spans else ""
        value = f"{median:.0f} ms{spread}"
        measure = f"click → {label}" if start == "click" else label
        if end == "connected":
            rows.append(
                Result(NAME, measure, value, f"< {CONNECTED_TARGET_MS} ms", median < CONNECTED_TARGET_MS)
            )
        elif start == "agent-speaking":
            target = f"< {AUDIO_AFTER_SPEAKING_TARGET_MS} ms"
            rows.append(Result(NAME, measure, value, target, median < AUDIO_AFTER_SPEAKING_TARGET_MS))
        else:
            rows.append(Result(NAME, measure, value))
    rows.append(Result(NAME, "calls measured (after warm-up)", f"{len(calls)} (+{WARMUP_CALLS})"))
    return rows
