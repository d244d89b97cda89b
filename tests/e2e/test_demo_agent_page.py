"""Talk to the demo agent from the call page: Chromium's fake microphone speaks known words.

Real pieces only (LiveKit, the demo agent, gunicorn, Chromium). The microphone plays a
WAV made with espeak-ng: "Hello there." at once (the call's API answer is held back
2.5 s, so those words land in livekit-client's pre-connect buffer before the agent
joins), then a sentence, words said over the agent's answer to it (barge-in), then "Bye bye."
and "Goodbye." (for when the first is misheard), with pauses for the agent's answers.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import api
from playwright.sync_api import Browser, Page, Route, expect

from tests.demo_agent.caller import word_error_rate, words_of

pytestmark = pytest.mark.e2e

EARLY_WORDS = "Hello there."
PHRASE = "I would like to hear about your product."
RELIABLE = ["would", "like", "about", "your", "product"]
# Said over the agent's answer, which starts 0.7-1.5 s after the phrase and runs 3.2 s, or
# about 2 s when words were lost ("I heard: you about your product" once ended before a
# barge-in 2.6 s after the phrase): 1.6 s after it falls inside both.
BARGE_IN = "Testing one two three."
# (seconds of silence before, words) on the fake microphone
# Goodbye twice, as a caller whose first one was misheard would (on a loaded machine "Bye bye."
# once came out as "ru body"); the call ends at the first the agent understands.
SCRIPT = [
    (0.3, EARLY_WORDS), (14.0, PHRASE), (1.6, BARGE_IN), (9.0, "Bye bye."), (6.0, "Goodbye."), (30.0, ""),
]  # fmt: skip
API_DELAY_S = 2.5

# Every version of every transcript line, as the page shows it, with the element it is in.
OBSERVE = """
window.__versions = [];
window.__events = [];
let elements = 0;
new MutationObserver(() => {
  for (const li of document.querySelectorAll('#transcript li')) {
    li.__n ||= ++elements;
    const last = window.__versions.findLast((v) => v.element === li.__n);
    const version = { element: li.__n, segment: li.dataset.segmentId, speaker: li.dataset.speaker,
                      text: li.textContent, final: li.dataset.final === 'true' };
    if (!last || last.text !== version.text || last.final !== version.final) window.__versions.push(version);
  }
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
document.addEventListener('webcall:end', (e) => window.__events.push(e.detail), true);
"""


@pytest.fixture(scope="module")
def conversation_wav(artifacts: Path) -> Path:
    """The caller's side of the conversation, 48 kHz mono, for Chromium's fake microphone."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    assert espeak and sox, "espeak-ng and sox are needed for test speech: run scripts/bootstrap --test"
    parts = []
    for index, (pause_s, words) in enumerate(SCRIPT):
        part = artifacts / f"conversation-{index}.wav"
        if words:
            subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", str(part), words], check=True)
            subprocess.run(
                [
                    sox,
                    str(part),
                    "-r",
                    "48000",
                    "-c",
                    "1",
                    "-b",
                    "16",
                    str(part) + ".wav",
                    "pad",
                    str(pause_s),
                ],
                check=True,
            )
        else:
            subprocess.run(
                [
                    sox,
                    "-n",
                    "-r",
                    "48000",
                    "-c",
                    "1",
                    "-b",
                    "16",
                    str(part) + ".wav",
                    "trim",
                    "0",
                    str(pause_s),
                ],
                check=True,
            )
        parts.append(str(part) + ".wav")
    path = artifacts / "conversation.wav"
    subprocess.run([sox, *parts, str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def talking_browser(
    browser_type: Any, browser_type_launch_args: dict[str, Any], conversation_wav: Path
) -> Iterator[Browser]:
    """A Chromium of its own whose microphone speaks the conversation (the others' says one sentence)."""
    args = [
        a for a in browser_type_launch_args["args"] if not a.startswith("--use-file-for-fake-audio-capture")
    ]
    browser = browser_type.launch(
        **{
            **browser_type_launch_args,
            "args": [*args, f"--use-file-for-fake-audio-capture={conversation_wav}"],
        }
    )
    yield browser
    browser.close()


def agent_attributes(livekit: Any, room: str) -> dict[str, str]:
    """The demo agent's participant attributes, read from the server ({} once it has gone)."""
    token = api.AccessToken(livekit.api_key, livekit.api_secret).with_grants(
        api.VideoGrants(room_admin=True, room=room)
    )
    response = httpx.post(
        f"{livekit.http_url}/twirp/livekit.RoomService/ListParticipants",
        json={"room": room},
        headers={"Authorization": f"Bearer {token.to_jwt()}"},
        timeout=5,
    )
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    for participant in response.json().get("participants", []):
        if participant.get("kind") == "AGENT" or participant["identity"].startswith("agent-"):
            return dict(participant.get("attributes", {}))
    return {}


def test_caller_words_show_up_the_agent_answers_them_and_ends_the_call_on_goodbye(
    talking_browser: Browser, stack: dict[str, Any], artifacts: Path
) -> None:
    app, livekit = stack["app"], stack["livekit"]
    context = talking_browser.new_context()
    page: Page = context.new_page()
    page.add_init_script(OBSERVE)

    def hold_back(route: Route) -> None:
        """Answer the call request late, so the first words are spoken before the agent joins."""
        time.sleep(API_DELAY_S)
        route.continue_()

    page.route("**/api/calls", hold_back)
    try:
        page.goto(f"{app.url}/talk/demo")
        with page.expect_response(lambda r: r.url.endswith("/api/calls"), timeout=20_000) as created:
            page.click("#talk")
        room = created.value.json()["room"]
        expect(page.locator("#call")).to_have_attribute("data-state", "in-call", timeout=25_000)

        # The words said before the agent joined: recognised in the pre-connect buffer.
        caller_lines = page.locator('#transcript [data-speaker="user"][data-final="true"]')
        expect(caller_lines.first).to_contain_text("hello", timeout=20_000)
        # (the count reaches the attributes a moment after the line reaches the page)
        deadline, attributes = time.monotonic() + 10, {}
        while time.monotonic() < deadline:
            attributes = agent_attributes(livekit, room)
            if int(attributes.get("webcall.demo.preconnect_words", "0")) >= 1:
                break
            time.sleep(0.2)
        assert int(attributes.get("webcall.demo.preconnect_words", "0")) >= 1, attributes

        # The sentence: its line grows through interim versions, then turns final in place.
        expect(caller_lines.filter(has_text="product")).to_have_count(1, timeout=30_000)
        heard = caller_lines.filter(has_text="product").text_content() or ""
        print(f"\nthe page shows {heard!r} for {PHRASE!r}: WER {word_error_rate(PHRASE, heard):.2f}")
        # The sentence, not any noise: most of its plain words (synthetic speech through Opus on
        # a loaded machine loses a word now and then: "i you about your product" was seen).
        found = [word for word in RELIABLE if word in words_of(heard)]
        assert len(found) >= 3, f"only {found} of {RELIABLE} in {heard!r}"
        versions = [v for v in page.evaluate("window.__versions") if v["speaker"] == "user"]
        line = next(v for v in versions if v["final"] and "product" in v["text"])
        same = [v for v in versions if v["element"] == line["element"]]
        assert any(not v["final"] for v in same), same  # an interim version first, in the same element
        assert {v["segment"] for v in same} == {line["segment"]}

        # The agent's answer starts to say what it heard, and is cut: the page marks the line.
        reply = page.locator('#transcript [data-speaker="agent"][data-final="true"]').filter(
            has_text="I heard"
        )
        expect(reply.first).to_have_attribute("data-interrupted", "", timeout=20_000)
        print(f"the cut answer reads {reply.first.text_content()!r}")

        # Goodbye: the agent says goodbye and leaves; the page says the agent ended the call.
        expect(page.locator("#call")).to_have_attribute("data-state", "ended", timeout=40_000)
        expect(page.locator("#status")).to_contain_text("The agent ended the call")
        assert page.evaluate("window.__events")[-1]["reason"] == "agent-left"
        page.screenshot(path=str(artifacts / "screenshots" / "demo-agent-conversation.png"), full_page=True)
    finally:
        context.close()
