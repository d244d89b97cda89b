"""ElevenLabs' protocol on the page (static/src/protocols/elevenlabs.js), driven by Node with a
stand-in room: the agent's messages in, the transcript's lines and the agent's states out, in
orders a browser test cannot pin down."""

from __future__ import annotations

import json
from typing import Any

from tests.support.node import module_uri, run_module_script

MODULE = module_uri("static/src/protocols/elevenlabs.js")
# `steps`: ["agent", message] from the agent, ["type", text] a message the caller types.
SCRIPT = """
import { elevenLabs } from %(module)s;
const out = [];
const hooks = new Proxy({}, { get: (_, hook) => (...args) => out.push([hook, ...args]) });
const handlers = {};
const room = {
  on(event, handle) { handlers[event] = handle; return this; },
  localParticipant: { publishData: async () => {} },
};
const RoomEvent = { DataReceived: "data", ActiveSpeakersChanged: "speakers" };
const agent = elevenLabs(room, hooks, {}, { RoomEvent });
const who = { identity: "agent_1" };
agent.follow(who);
for (const [kind, value] of %(steps)s) {
  out.push(["step", kind === "type" ? value : (value.text_response_part?.type ?? value.type)]);
  if (kind === "type") await agent.sendChat(value);
  else handlers.data(new TextEncoder().encode(JSON.stringify(value)), who);
}
console.log(JSON.stringify(out));
"""


def run(*steps: list[Any]) -> list[list[Any]]:
    script = SCRIPT % {"module": json.dumps(MODULE), "steps": json.dumps(steps)}
    result: list[list[Any]] = json.loads(run_module_script(script))
    return result


def part(kind: str, text: str = "") -> list[Any]:
    return ["agent", {"type": "agent_chat_response_part", "text_response_part": {"type": kind, "text": text}}]


def response(text: str) -> list[Any]:
    return ["agent", {"type": "agent_response", "agent_response_event": {"agent_response": text}}]


def final_lines(out: list[list[Any]]) -> dict[str, str]:
    """Each agent line's last words, by its id."""
    return {
        line["id"]: line["text"] for hook, line, *_ in out if hook == "line" and line["speaker"] == "agent"
    }


def states_after(out: list[list[Any]], step: str) -> list[str]:
    """The agent's states reported by `step` (its first), up to the next step."""
    start = out.index(["step", step]) + 1
    following = [i for i, entry in enumerate(out[start:], start) if entry[0] == "step"]
    return [
        entry[1] for entry in out[start : following[0] if following else None] if entry[0] == "agentState"
    ]


SLOW = ["This answer ", "comes slowly."]


def test_a_message_typed_while_an_answer_streams_leaves_that_answer_one_line() -> None:
    """Typed mid-stream, or after its last part but before its agent_response: that response
    made a second line of the same words."""
    for typed_at in (2, 4):  # after the first part; after `stop`
        steps = [part("start"), part("delta", SLOW[0]), part("delta", SLOW[1]), part("stop")]
        steps.insert(typed_at, ["type", "And another thing"])
        steps += [response("".join(SLOW)), part("start"), part("delta", "You wrote: And another thing")]
        steps += [part("stop"), response("You wrote: And another thing")]
        lines = final_lines(run(*steps))
        assert sorted(lines.values()) == ["This answer comes slowly.", "You wrote: And another thing"], lines


def test_the_end_of_an_answer_the_caller_wrote_over_does_not_end_the_thinking() -> None:
    """The caller waits for the answer to what they typed: the end of the answer before it (its
    `stop`, its agent_response) said "listening" before the agent had begun that answer."""
    out = run(
        part("start"), part("delta", SLOW[0]), ["type", "And another thing"], part("delta", SLOW[1]),
        part("stop"), response("".join(SLOW)), part("start"), part("delta", "You wrote: it"), part("stop"),
    )  # fmt: skip
    assert states_after(out, "And another thing") == ["thinking"]
    assert states_after(out, "stop") == []  # the old answer's, and its response
    assert "listening" not in states_after(out, "agent_response")
    assert out[-2][0] == "agentState" and out[-2][1] == "listening"  # the new answer's stop


def test_a_next_answer_that_begins_with_an_earlier_line_is_a_line_of_its_own() -> None:
    """A streamed line no agent_response confirmed, then the caller's turn: the next answer is
    its own line, even when it begins with the same words."""
    out = run(
        part("start"), part("delta", "Okay."), part("stop"), ["type", "go on"],
        response("Okay. Here is the next step."),
    )  # fmt: skip
    assert sorted(final_lines(out).values()) == ["Okay.", "Okay. Here is the next step."]


def test_an_error_instead_of_an_answer_ends_the_thinking() -> None:
    out = run(["type", "hello"], ["agent", {"type": "error", "error_event": {"message": "The LLM failed."}}])
    assert states_after(out, "hello") == ["thinking"]
    assert states_after(out, "error") == ["listening"]
