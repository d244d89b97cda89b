"""Retell's transcript windows merged into the whole conversation (static/src/protocols/
retell-transcript.js, which imports nothing), run by Node as the page runs it."""

from __future__ import annotations

import json
from typing import Any

from tests.support.node import module_uri, run_module_script

MODULE = module_uri("static/src/protocols/retell-transcript.js")


def merged(*windows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The conversation after each of `windows` in turn, as the page keeps it."""
    script = (
        f"import {{ mergeTranscript }} from {json.dumps(MODULE)};\n"
        f"let lines = [];\n"
        f"for (const window of {json.dumps(windows)}) lines = mergeTranscript(lines, window).lines;\n"
        "console.log(JSON.stringify(lines));\n"
    )
    result: Any = json.loads(run_module_script(script))
    return list(result)


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def agent(text: str) -> dict[str, str]:
    return {"role": "agent", "content": text}


def test_a_first_line_the_recogniser_rewrites_is_one_line() -> None:
    """The caller speaks first and Retell revises what it heard: the first line was kept beside
    its revision (and went, as a final line, into the copied transcript)."""
    assert merged([user("I need tree")], [user("I need three tickets")]) == [user("I need three tickets")]
    assert merged([user("I need tree")], [user("I need three tickets"), agent("Sure")]) == [
        user("I need three tickets"), agent("Sure"),
    ]  # fmt: skip


def test_lines_grow_and_new_ones_follow() -> None:
    windows = [
        [agent("Hi")],
        [agent("Hi, how can I help?")],
        [agent("Hi, how can I help?"), user("book for tree")],
        [agent("Hi, how can I help?"), user("book for three"), agent("Sure")],
    ]
    assert merged(*windows) == [agent("Hi, how can I help?"), user("book for three"), agent("Sure")]


def test_a_window_past_the_start_of_a_long_conversation_keeps_the_older_lines() -> None:
    said = [agent("one"), user("two"), agent("three"), user("four"), agent("five"), user("six")]
    assert merged(said[:5], said[1:6]) == said


def test_an_older_line_the_recogniser_rewrites_is_still_one_line() -> None:
    """The caller's line revised once the agent had begun its answer: the window was taken for
    new lines and the whole of it added again beside the old ones."""
    windows = [
        [agent("Hi, how can I help?"), user("book for tree"), agent("Sure")],
        [agent("Hi, how can I help?"), user("Book for three."), agent("Sure, for")],
    ]
    assert merged(*windows) == [agent("Hi, how can I help?"), user("Book for three."), agent("Sure, for")]
    said = [agent("one"), user("two"), agent("three"), user("book for tree"), agent("Sure")]
    revised = [agent("three"), user("Book for three."), agent("Sure, for"), user("Thanks")]
    assert merged(said, revised[1:3]) == [*said[:3], *revised[1:3]]
    assert merged(said, revised) == [*said[:2], *revised]


def test_a_line_grown_in_other_case_and_punctuation_is_the_same_line() -> None:
    assert merged(
        [agent("one"), user("two"), agent("hello there")],
        [user("Two."), agent("Hello, there! How are you?")],
    ) == [agent("one"), user("Two."), agent("Hello, there! How are you?")]
