"""Whole calls with agents that speak Retell's and ElevenLabs' own protocols, in Chromium.

The Retell and ElevenLabs fakes create each call's room on the local LiveKit server, and the
platform's agent (tests/support/protocol_agents.py, a `livekit` rtc participant) joins it,
speaks (espeak-ng) and talks the platform's protocol. The page is checked from outside (DOM,
events, ``getStats()``), and the agent checks what the page sent it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_call import INBOUND_AUDIO, poll
from tests.e2e.test_embed import PEER_CONNECTIONS, host_url, received
from tests.support.browser import (
    OBSERVE_EVENTS,
    assert_accessible,
    events,
    screenshots,
    serve_axe,
    start_call,
    wait_for_state,
)
from tests.support.protocol_agents import ElevenLabsAgent, RetellAgent

pytestmark = pytest.mark.e2e


def agent_audio_plays(page: Page) -> dict[str, Any]:
    """The agent's voice reaches the page and is played: inbound bytes grow, with a real level."""
    first = page.evaluate(INBOUND_AUDIO)

    def playing() -> Any:
        stats = page.evaluate(INBOUND_AUDIO)
        return stats if stats["level"] > 0.01 and stats["bytes"] > first["bytes"] + 1000 else None

    best = poll(playing, timeout_s=20)
    assert best, f"no agent audio playing in the page: {first} then {page.evaluate(INBOUND_AUDIO)}"
    return dict(best)


def received_lines(page: Page) -> list[dict[str, Any]]:
    """Every transcript line (or change to one) the host page heard of, in order."""
    return [e["detail"] for e in received(page, "transcript")]


def test_a_retell_call(page: Page, console_log: list[str], stack: dict[str, Any], artifacts: Path) -> None:
    app = stack["app"]
    page.add_init_script(PEER_CONNECTIONS)
    page.add_init_script(OBSERVE_EVENTS)
    serve_axe(page, app.url)
    page.goto(f"{app.url}/talk/retell-demo")
    answer = start_call(page, page.locator("#talk"))
    assert answer["provider"] == "retell" and "protocol" not in answer
    agent = stack["protocol_agents"].agent(answer["room"])
    assert isinstance(agent, RetellAgent)
    wait_for_state(page, "in-call")
    expect(page.locator("#chat")).to_be_hidden()  # Retell's agent reads nothing from the page

    agent_audio_plays(page)
    # The whole conversation, though each update carried only its last two utterances.
    lines = page.locator("#transcript li")
    said = [agent.GREETING, agent.CALLER[0], agent.REPLY, agent.CALLER[1], agent.FAREWELL]
    expect(lines).to_have_text(said, timeout=45_000)
    speakers = lines.evaluate_all("(items) => items.map((item) => item.dataset.speaker)")
    assert speakers == ["agent", "user", "agent", "user", "agent"]
    # The newest line is final once its turn is over: the greeting when the agent stopped
    # talking (before the caller said a word), the farewell while the call goes on.
    expect(lines.last).to_have_attribute("data-final", "true", timeout=15_000)
    said_lines = [e["detail"] for e in events(page, "transcript")]
    first_heard = next(i for i, line in enumerate(said_lines) if line["speaker"] == "user")
    greeted = [line for line in said_lines[:first_heard] if line["text"] == agent.GREETING and line["final"]]
    assert greeted, said_lines
    states = {e["detail"]["state"] for e in events(page, "agent-state")}
    assert {"speaking", "thinking", "listening"} <= states, states
    assert poll(lambda: agent.heard_speech_s > 0.5, timeout_s=10), "the agent did not hear the caller"
    assert_accessible(page, app.url, "a Retell call")
    screenshots(page, artifacts / "screenshots", "retell-in-call")  # no text box: Retell reads none

    # Retell's agent hangs up by leaving: the call is over for the page too.
    agent.leave()
    wait_for_state(page, "ended", 15_000)
    expect(page.locator("#status")).to_contain_text("The agent ended the call")
    assert events(page, "end")[-1]["detail"]["reason"] == "agent-left"
    assert agent.received == [] and agent.problems == []


def test_an_elevenlabs_call_on_a_host_page(page: Page, console_log: list[str], stack: dict[str, Any]) -> None:
    page.add_init_script(PEER_CONNECTIONS)
    page.goto(host_url(stack, "allowed", "tools.html"))
    widget = page.locator("webcall-widget")
    call, transcript = widget.locator("#call"), widget.locator("#transcript")
    expect(widget.locator("#talk")).to_be_enabled(timeout=20_000)
    answer = start_call(page, widget.locator("#talk"))
    initiation = answer["protocol"]["initiation"]
    assert initiation == {"type": "conversation_initiation_client_data", "dynamic_variables": {"name": "Ada"}}
    agent = stack["protocol_agents"].agent(answer["room"])
    assert isinstance(agent, ElevenLabsAgent)
    expect(call).to_have_attribute("data-state", "in-call", timeout=25_000)

    # The initiation went first, though the host page sent context on webcall:agent-joined; the
    # agent used its variable.
    greeting = transcript.locator('[data-speaker="agent"]').first
    expect(greeting).to_have_text("Hello Ada, this is the ElevenLabs agent.", timeout=15_000)
    assert agent.received[0] == initiation
    assert page.evaluate("window.toldOnJoin") == [True]
    agent_audio_plays(page)
    assert poll(lambda: agent.heard_speech_s > 0.5, timeout_s=15), "the agent did not hear the caller"
    heard = transcript.locator('[data-speaker="user"]', has_text="Hello agent, can you hear me?")
    expect(heard).to_have_attribute("data-final", "true", timeout=20_000)
    # ElevenLabs' guesses grew the caller's line in place before its final words replaced them.
    expect(transcript.locator('[data-speaker="user"]')).to_have_count(1)
    segment = heard.get_attribute("data-segment-id")
    growth = [(line["text"], line["final"]) for line in received_lines(page) if line["segmentId"] == segment]
    guesses = [(guess, False) for guess in ElevenLabsAgent.GUESSES]
    assert growth == [*guesses, ("Hello agent, can you hear me?", True)], growth
    expect(transcript.locator('[data-speaker="agent"]', has_text="Yes, I can hear you.")).to_be_visible()
    states = [e["detail"]["state"] for e in received(page, "agent-state")]
    assert "speaking" in states and "listening" in states, states  # from the room's active speakers
    kinds = [e["type"] for e in received(page)]
    assert kinds.index("agent-joined") < kinds.index("agent-state"), kinds

    # Typed chat: the answer streams into one line that grows in place.
    chat = widget.locator("#chat-input")
    chat.fill("Hi there")
    chat.press("Enter")
    reply = transcript.locator('[data-speaker="agent"]', has_text="You wrote: Hi there")
    expect(reply).to_have_attribute("data-final", "true", timeout=15_000)
    expect(reply).to_have_count(1)
    segment = reply.get_attribute("data-segment-id")
    growth = [line["text"] for line in received_lines(page) if line["segmentId"] == segment]
    assert growth[0] == "You" and growth[-1] == "You wrote: Hi there", growth
    assert {"type": "user_message", "text": "Hi there"} in agent.received

    # That answer was text only: the agent is not left thinking once it is given.
    def listening() -> bool:
        """Whether the newest agent state the host page heard is `listening`."""
        return bool(received(page, "agent-state")[-1]["detail"]["state"] == "listening")

    assert poll(listening, timeout_s=10), received(page, "agent-state")

    # A client tool: the host page answers the webcall:tool-call event through the JS API.
    chat.fill("use the tool")
    chat.press("Enter")
    told = transcript.locator('[data-speaker="agent"]', has_text="The tool answered: Order 42 has shipped.")
    expect(told).to_be_visible(timeout=15_000)
    (asked,) = [e["detail"] for e in received(page, "tool-call")]
    assert asked["tool_name"] == "lookup_order" and asked["parameters"] == {"order": "42"}
    assert page.evaluate("window.answered") == [True]
    (result,) = agent.tool_results
    assert (result["tool_call_id"], result["is_error"]) == (asked["tool_call_id"], False)

    # The same, with the call's fields in the message itself (as shared/providers/README.md lists them).
    chat.fill("use the tool, flat")
    chat.press("Enter")
    told = transcript.locator('[data-speaker="agent"]', has_text="The tool answered: Order 7 has shipped.")
    expect(told).to_be_visible(timeout=15_000)
    asked_flat = received(page, "tool-call")[-1]["detail"]
    assert asked_flat["tool_name"] == "lookup_order" and asked_flat["parameters"] == {"order": "7"}
    assert page.evaluate("window.answered") == [True, True]
    _, result = agent.tool_results
    assert (result["tool_call_id"], result["is_error"]) == (asked_flat["tool_call_id"], False)

    # A correction rewrites the agent's line in place: as ElevenLabs' SDK sends it, and with its
    # fields in the message itself.
    for said in ("correct yourself", "correct yourself, flat"):
        chat.fill(said)
        chat.press("Enter")
        corrected = transcript.locator('[data-speaker="agent"]', has_text="I said it right.").last
        expect(corrected).to_have_attribute("data-final", "true", timeout=15_000)
        expect(transcript).not_to_contain_text("I said this wrong.")
    expect(transcript.locator('[data-speaker="agent"]', has_text="I said it right.")).to_have_count(2)
    # No agent_response confirmed that streamed line: the next turn's answer is a line of its own.
    chat.fill("answer at once")
    chat.press("Enter")
    whole = transcript.locator('[data-speaker="agent"]', has_text="A whole answer, not streamed.")
    expect(whole).to_have_attribute("data-final", "true", timeout=15_000)
    expect(corrected).to_have_count(1)
    assert whole.get_attribute("data-segment-id") != corrected.get_attribute("data-segment-id")
    # A message typed while an answer streams: that answer's own agent_response completes its
    # line (it made a second line of the same words), and the new message's answer has its own.
    chat.fill("answer slowly")
    chat.press("Enter")
    slow = transcript.locator('[data-speaker="agent"]', has_text="This answer")
    expect(slow).to_have_text("This answer comes slowly.", timeout=15_000)  # its agent_response held back
    chat.fill("And another thing")
    chat.press("Enter")
    another = transcript.locator('[data-speaker="agent"]', has_text="You wrote: And another thing")
    expect(another).to_have_attribute("data-final", "true", timeout=15_000)
    expect(slow).to_have_text("This answer comes slowly.")
    expect(slow).to_have_attribute("data-final", "true")
    # A guess at the caller's words that ends with none is taken away.
    chat.fill("mishear")
    chat.press("Enter")
    expect(transcript.locator('[data-speaker="agent"]', has_text="I heard nothing there.")).to_be_visible(
        timeout=15_000
    )
    assert any(line["text"] == "Um maybe" for line in received_lines(page)), "the guess was not shown"
    expect(transcript).not_to_contain_text("Um maybe")

    # An error instead of an answer: the agent is not left thinking for good. (Once the answer
    # before is said: its voice, heard after its text, clears thinking too.)
    assert poll(lambda: not agent.voice.locked(), timeout_s=15), "the agent is still talking"
    expect(call).to_have_attribute("data-agent-state", "listening", timeout=5_000)
    page.wait_for_timeout(1_000)  # LiveKit's last word on who speaks
    before = len(received(page, "agent-state"))
    chat.fill("fail")
    chat.press("Enter")
    assert poll(
        lambda: "thinking" in [e["detail"]["state"] for e in received(page, "agent-state")[before:]],
        timeout_s=10,
    )
    assert poll(listening, timeout_s=10), received(page, "agent-state")[before:]
    assert any("the agent reported an error" in line for line in console_log), console_log

    # Context from the host page, through the JS API.
    sent = page.evaluate("() => window.webcall.get('elevenlabs-demo').sendContext('On the orders page.')")
    assert sent is True
    contexts = ["The caller is on the orders page.", "On the orders page."]
    assert poll(lambda: agent.contexts == contexts, timeout_s=5), agent.contexts

    # Interrupted once its voice had gone quiet, a whole answer is cut where the correction says.
    expect(call).to_have_attribute("data-agent-state", "listening", timeout=15_000)
    chat.fill("interrupt your answer")
    chat.press("Enter")
    answer = transcript.locator('[data-speaker="agent"]', has_text=re.compile(r"^A whole answer —"))
    expect(answer).to_have_text("A whole answer — interrupted", timeout=15_000)
    expect(answer).to_have_attribute("data-interrupted", "")

    # An interruption cuts the agent's line (marked as such); what it streams after that is dropped.
    chat.fill("interrupt yourself")
    chat.press("Enter")
    cut = transcript.locator('[data-speaker="agent"]', has_text="This is a long answer that will be")
    expect(cut).to_have_count(1, timeout=15_000)
    expect(cut).to_have_text("This is a long answer that will be — interrupted")
    expect(cut).to_have_attribute("data-interrupted", "")
    expect(cut.locator(".transcript__mark")).to_have_text("— interrupted")
    cut_id = cut.get_attribute("data-segment-id")
    marked = [line for line in received_lines(page) if line["segmentId"] == cut_id]
    assert marked[-1]["interrupted"] is True and marked[-1]["text"] == "This is a long answer that will be"
    page.wait_for_timeout(1_000)
    expect(transcript).not_to_contain_text("cut off here")

    # Every ping got its pong; hanging up ends the call for the agent too.
    assert agent.pings_sent >= 5 and agent.unanswered_pings() == [], agent.received
    widget.locator("#hangup").click()
    expect(call).to_have_attribute("data-state", "ended", timeout=10_000)
    assert poll(agent.done.is_set, timeout_s=10), "the agent is still in the call"
    assert agent.problems == []
    assert received(page, "end")[-1]["detail"]["reason"] == "hangup"

    # The transcript the caller keeps says which line was cut off.
    with page.expect_download() as download_info:
        widget.locator("#transcript-download").click()
    kept = Path(download_info.value.path()).read_text()
    assert re.search(
        r"^\[\d\d:\d\d:\d\d\] Agent: This is a long answer that will be \(interrupted\)$", kept, re.M
    ), kept


def test_an_elevenlabs_tool_nobody_answers(page: Page, console_log: list[str], stack: dict[str, Any]) -> None:
    app = stack["app"]
    page.add_init_script(OBSERVE_EVENTS)
    serve_axe(page, app.url)
    page.goto(f"{app.url}/talk/elevenlabs-demo")
    answer = start_call(page, page.locator("#talk"))
    agent = stack["protocol_agents"].agent(answer["room"])
    wait_for_state(page, "in-call")
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator('#transcript [data-speaker="agent"]').first).to_have_text(
        re.compile("this is the ElevenLabs agent"), timeout=15_000
    )
    assert_accessible(page, app.url, "an ElevenLabs call")

    page.fill("#chat-input", "use the tool")
    page.locator("#chat-input").press("Enter")
    failed = page.locator('#transcript [data-speaker="agent"]', has_text="The tool failed:")
    expect(failed).to_have_text("The tool failed: The page did not answer in 10 s.", timeout=20_000)
    assert [e["detail"]["tool_name"] for e in events(page, "tool-call")] == ["lookup_order"]
    (result,) = agent.tool_results
    assert result["is_error"] is True
    page.click("#hangup")
    wait_for_state(page, "ended")
    assert agent.problems == []


def test_an_elevenlabs_agent_that_joins_after_the_caller(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    """What the page sends first reaches an agent that was not in the room yet when it connected."""
    app = stack["app"]
    page.add_init_script(OBSERVE_EVENTS)
    page.goto(f"{app.url}/talk/elevenlabs-late")
    answer = start_call(page, page.locator("#talk"))
    agent = stack["protocol_agents"].agent(answer["room"])
    wait_for_state(page, "waiting-agent")
    wait_for_state(page, "in-call")
    expect(page.locator('#transcript [data-speaker="agent"]').first).to_have_text(
        "Hello there, this is the ElevenLabs agent.", timeout=15_000
    )
    assert agent.received[0] == answer["protocol"]["initiation"]
    page.click("#hangup")
    wait_for_state(page, "ended")
    assert agent.problems == []
