"""Turn latency: from the end of the caller's speech to the agent's first reply audio, in the page.

A real ``livekit-server --dev``, the demo agent and gunicorn; headless Chromium's fake
microphone speaks a WAV made with espeak-ng: after the greeting, the same short sentence
("Testing one two three.") eleven times, 6 s apart, so every reply ("I heard: …") ends
before the next turn. An init script polls the page's peer connections every 20 ms and
turns each audio stat's ``totalAudioEnergy`` / ``totalSamplesDuration`` into the level of
that 20 ms: the microphone's (``media-source``) and the agent's as played (``inbound-rtp``).
A turn's latency is from the last loud microphone sample before the reply to the first loud
agent sample after it (loud: above -40 dBFS), timestamped with the stats' own clock.
The first turn is a warm-up; the median of the next ten is reported.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.support.browser import CHROMIUM_ARGS

from .machine import CHROMIUM
from .results import Result, median_ms
from .services import call_stack

NAME = "turn_latency"
SLUG = "demo"
SENTENCE = "Testing one two three."
TURNS = 11  # one warm-up, then ten measured
GREETING_ROOM_S = 6.0  # silence first, while the agent joins and greets
BETWEEN_TURNS_S = 6.0
TARGET_MS = 1500
# Installed before any page script runs; finished turns land in window.__turns (ms).
OBSERVE = """
(() => {
  const pcs = [];
  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...args) { super(...args); pcs.push(this); }
  };
  const LOUD = 0.01;  // RMS amplitude, -40 dBFS
  const previous = {};
  let lastMicLoud = null, agentLoud = false, waiting = false, polling = false;
  window.__turns = [];
  setInterval(async () => {
    if (polling) return;
    polling = true;
    try {
      for (const pc of pcs) {
        if (pc.connectionState === "closed") continue;
        (await pc.getStats()).forEach((s) => {
          if (s.kind !== "audio" || !["media-source", "inbound-rtp"].includes(s.type)) return;
          const last = previous[s.id];
          previous[s.id] = s;
          if (!last || s.totalSamplesDuration <= last.totalSamplesDuration) return;
          const seconds = s.totalSamplesDuration - last.totalSamplesDuration;
          const power = (s.totalAudioEnergy - last.totalAudioEnergy) / seconds;
          const loud = Math.sqrt(Math.max(power, 0)) > LOUD;
          if (s.type === "media-source") {
            if (loud) { lastMicLoud = s.timestamp; waiting = true; }
          } else {
            if (loud && !agentLoud && waiting && lastMicLoud !== null && s.timestamp - lastMicLoud > 100) {
              window.__turns.push(s.timestamp - lastMicLoud);
              waiting = false;
            }
            agentLoud = loud;
          }
        });
      }
    } finally { polling = false; }
  }, 20);
})();
"""


def speech_wav(directory: Path) -> Path:
    """The caller's side: silence for the greeting, then the sentence `TURNS` times."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if not espeak or not sox:
        raise RuntimeError("espeak-ng and sox are needed: run scripts/bootstrap --test")
    raw, turn, path = directory / "raw.wav", directory / "turn.wav", directory / "turns.wav"
    subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", str(raw), SENTENCE], check=True)
    subprocess.run(
        [sox, str(raw), "-r", "48000", "-c", "1", "-b", "16", str(turn), "pad", "0", str(BETWEEN_TURNS_S)],
        check=True,
    )
    turns = [str(turn)] * TURNS
    subprocess.run([sox, *turns, str(path), "pad", str(GREETING_ROOM_S), "30"], check=True)
    return path


def one_call(browser: Any, url: str) -> list[float]:
    """Click Talk, let the microphone take its turns, hang up; each turn's latency in ms."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(OBSERVE)
        page.goto(url, wait_until="load")
        page.wait_for_selector("#talk:not([disabled])", timeout=15_000)
        page.click("#talk")
        timeout_ms = int((GREETING_ROOM_S + TURNS * (BETWEEN_TURNS_S + 2) + 30) * 1000)
        page.wait_for_function(f"() => window.__turns.length >= {TURNS}", timeout=timeout_ms, polling=500)
        turns: list[float] = page.evaluate("() => window.__turns")
        page.click("#hangup")
        return turns
    finally:
        context.close()


def run(log_dir: Path) -> list[Result]:
    """Median turn latency over ten turns of one call (after one warm-up turn)."""
    with tempfile.TemporaryDirectory(prefix="webcall-bench-") as directory:
        wav = speech_wav(Path(directory))
        with call_stack(log_dir) as stack, sync_playwright() as playwright:
            args = [a for a in CHROMIUM_ARGS if not a.startswith("--use-file-for-fake-audio-capture")]
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[*args, f"--use-file-for-fake-audio-capture={wav}"],
                ignore_default_args=["--mute-audio"],
            )
            try:
                turns = one_call(browser, f"{stack.app.url}/talk/{SLUG}")
            finally:
                browser.close()
    measured = turns[1:TURNS]
    median = median_ms(measured)
    value = f"{median:.0f} ms (min {min(measured):.0f}, max {max(measured):.0f})"
    return [
        Result(
            NAME,
            "end of caller's speech → first reply audio in the page, median of 10",
            value,
            f"< {TARGET_MS} ms",
            median < TARGET_MS,
        ),  # fmt: skip
        Result(NAME, "turns measured (after warm-up)", f"{len(measured)} (+1)"),
    ]
