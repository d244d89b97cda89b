"""The iframe embed takes the JS API's two calls as messages from the page around it, in Chromium.

``tests/embed_host/iframe-tools.html``, on the allowed site, frames the ElevenLabs agent (the
fake of tests/support/protocol_agents.py) and does by ``postMessage`` what tools.html does
through the script embed's handle: sends context when the agent joins and answers its client
tool. Two other frames on that page (``intruder.html``, one from the same site and one from
the denied one) answer the tool first and send context too; the call's frame must take neither.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_call import poll
from tests.e2e.test_embed import host_url
from tests.support.browser import start_call, wait_for_js
from tests.support.protocol_agents import ElevenLabsAgent

pytestmark = pytest.mark.e2e

CONTEXT = "The caller is on the orders page."

# The frame's messages of one kind, once there are `count` of them.
MESSAGES = """([kind, count]) => {
  const messages = window.received.filter((m) => m.type === kind);
  return messages.length >= count && messages;
}"""


def test_the_host_page_answers_the_framed_agent_s_tool_and_sends_context(
    page: Page, console_log: list[str], stack: dict[str, Any]
) -> None:
    page.goto(host_url(stack, "allowed", "iframe-tools.html"), wait_until="load")
    for site in ("allowed", "denied"):
        page.evaluate("(src) => window.addIntruder(src)", host_url(stack, site, "intruder.html"))
    frame = page.frame_locator("#call")
    call, transcript = frame.locator("#call"), frame.locator("#transcript")
    expect(frame.locator("#talk")).to_be_enabled(timeout=20_000)
    answer = start_call(page, frame.locator("#talk"))
    agent = stack["protocol_agents"].agent(answer["room"])
    assert isinstance(agent, ElevenLabsAgent)
    expect(call).to_have_attribute("data-state", "in-call", timeout=25_000)

    # Context, sent by the page on webcall:agent-joined (held back until the initiation went).
    (sent,) = wait_for_js(page, MESSAGES, ["context-sent", 1])
    assert sent["detail"] == {"sent": True}
    assert poll(lambda: agent.contexts, timeout_s=10) == [CONTEXT]

    # A client tool: the page hears webcall:tool-call and answers it by message.
    chat = frame.locator("#chat-input")
    chat.fill("use the tool")
    chat.press("Enter")
    told = transcript.locator('[data-speaker="agent"]', has_text="The tool answered: Order 42 has shipped.")
    expect(told).to_be_visible(timeout=15_000)
    (asked,) = [e["detail"] for e in wait_for_js(page, MESSAGES, ["tool-call", 1])]
    assert asked["tool_name"] == "lookup_order" and asked["parameters"] == {"order": "42"}
    (result,) = agent.tool_results
    assert result["tool_call_id"] == asked["tool_call_id"]
    assert (result["result"], result["is_error"]) == ("Order 42 has shipped.", False)
    # Each well-formed answer got a reply (the second too late: the call was answered); the
    # malformed ones none.
    replies = [e["detail"] for e in wait_for_js(page, MESSAGES, ["tool-answered", 2])]
    call_id = asked["tool_call_id"]
    assert [(r["tool_call_id"], r["answered"]) for r in replies] == [(call_id, True), (call_id, False)]

    # The other frames' answer and context came first and went nowhere: the agent heard the
    # page's alone, and nothing it did not ask for.
    assert agent.contexts == [CONTEXT]
    assert agent.problems == []
    assert len(wait_for_js(page, MESSAGES, ["context-sent", 1])) == 1
    frame.locator("#hangup").click()
    expect(call).to_have_attribute("data-state", "ended")
