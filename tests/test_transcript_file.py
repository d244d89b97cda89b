"""The transcript as the caller keeps it (static/src/transcript-file.js's `transcriptText`), run
by Node as the page runs it."""

from __future__ import annotations

import json

from tests.support.node import module_uri, run_module_script

MODULE = module_uri("static/src/transcript-file.js")


def transcript_text(entries: list[dict[str, object]]) -> str:
    """The file's text for `entries` (each `at` given as seconds after 10:00:00)."""
    script = (
        f"import {{ transcriptText }} from {json.dumps(MODULE)};\n"
        "const at = (s) => new Date(2026, 0, 1, 10, 0, s);\n"
        f"const entries = {json.dumps(entries)}.map((e) => ({{ ...e, at: at(e.at) }}));\n"
        "const details = { title: 'Demo', startedAt: at(0), durationS: 65 };\n"
        "process.stdout.write(transcriptText(entries, details));\n"
    )
    return run_module_script(script)


def test_each_entry_is_a_line_headed_by_its_time_and_speaker() -> None:
    text = transcript_text(
        [
            {"speaker": "agent", "text": "Hello.", "at": 1, "interrupted": True},
            {"speaker": "user", "text": "Are you there?", "at": 4, "failed": True},
        ]
    )
    assert text == (
        "Call with Demo\n2026-01-01 10:00:00 · 1:05\n\n"
        "[10:00:01] Agent: Hello. (interrupted)\n"
        "[10:00:04] You: Are you there? (not sent)\n"
    )


def test_a_reply_of_several_lines_stays_under_its_heading() -> None:
    """An agent's reply with a list: its lines came out flush left, with no time or speaker, and
    read as entries of their own."""
    text = transcript_text(
        [
            {
                "speaker": "agent",
                "text": "Our plans:\n- Basic\r\n- Pro\r- Max\n",
                "at": 2,
                "interrupted": True,
            },
            {"speaker": "user", "text": "Max, please.", "at": 9},
        ]
    )
    assert text.split("\n")[3:] == [
        "[10:00:02] Agent: Our plans:",
        "    - Basic",
        "    - Pro",
        "    - Max (interrupted)",
        "[10:00:09] You: Max, please.",
        "",
    ]
