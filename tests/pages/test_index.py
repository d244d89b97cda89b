"""The list of agents at ``/``: each card offers what its agent does."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.apps import FAKE_KEYS, build_app

CATALOGUE = """
[agents.voice]
provider = "livekit"
agent_id = "webcall-demo"
title = "Voice"

[agents.chat]
provider = "livekit"
agent_id = "webcall-demo"
title = "Chatty"
text_only = "only"

[agents.callback]
provider = "convoi"
agent_id = "agt_b88d642dd68747f28305c428b209abcd"
title = "Callback"
web = false
[agents.callback.phone]
enabled = true
allowed_countries = ["US"]
phone_number_id = "phn_c38155f043624745a66d2e28c185abcd"
"""
ENV = {"CONVOI_API_KEY": FAKE_KEYS["convoi"], "CONVOI_BASE_URL": "http://127.0.0.1:9"}
# What each card does is in its link's name (a screen reader's, a voice command's); the arrow is not.
CARD = re.compile(
    r'agent-card__title">([^<]+)<.*?agent-card__action">([^<]+) <span aria-hidden="true">→<', re.S
)


def test_each_card_offers_what_its_agent_does(tmp_path: Path) -> None:
    """A phone-only agent's card said "Talk" under "start a voice call in your browser"."""
    html = build_app(tmp_path, CATALOGUE, **ENV).test_client().get("/").get_data(as_text=True)
    assert CARD.findall(html) == [("Voice", "Talk"), ("Chatty", "Chat"), ("Callback", "Call my phone")]
    assert "you will be asked to allow your microphone" in html


def test_no_word_of_the_microphone_without_a_voice_call(tmp_path: Path) -> None:
    catalogue = CATALOGUE.split("[agents.voice]")[0] + CATALOGUE.split('title = "Voice"\n', 1)[1]
    html = build_app(tmp_path, catalogue, **ENV).test_client().get("/").get_data(as_text=True)
    assert [action for _, action in CARD.findall(html)] == ["Chat", "Call my phone"]
    assert "microphone" not in html
