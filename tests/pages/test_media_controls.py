"""The call page's media controls: in the markup only for agents that use them, in the page
config the script reads, and in the script embed's panel alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.support.apps import build_app
from tests.support.apps import page_config as config

CATALOGUE = """
[agents.voice]
provider = "livekit"
agent_id = "webcall-demo"
title = "Voice"
allowed_origins = ["https://shop.example.com"]

[agents.everything]
provider = "livekit"
agent_id = "webcall-demo"
title = "Everything"
camera = "on"
screen_share = true
text_only = "allowed"
push_to_talk = true
avatar = true
allowed_origins = ["https://shop.example.com"]

[agents.chat]
provider = "livekit"
agent_id = "webcall-demo"
title = "Chatty"
text_only = "only"
"""
MEDIA_IDS = ("chat-start", "ptt", "camera", "self-view", "camera-select", "screen-share", "speaker")


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    """The app with a voice-only agent, one with everything, and a chat-only one."""
    return build_app(tmp_path, CATALOGUE).test_client()


def ids(html: str) -> set[str]:
    """Every element id in ``html``."""
    return set(re.findall(r'\bid="([^"]+)"', html))


def test_a_voice_agent_has_no_media_controls_but_room_for_its_video(client: FlaskClient) -> None:
    html = client.get("/talk/voice").get_data(as_text=True)
    assert not ids(html) & set(MEDIA_IDS)
    assert "agent-video" in ids(html)  # agent_video is on by default: it costs nothing unused
    media = config(html)["media"]
    assert media == {
        "agent_video": True, "camera": "off", "screen_share": False, "text_only": "off",
        "push_to_talk": False,
    }  # fmt: skip
    assert "Audio devices" in html


def test_every_control_of_an_agent_that_uses_them_all(client: FlaskClient) -> None:
    html = client.get("/talk/everything").get_data(as_text=True)
    assert set(MEDIA_IDS) <= ids(html)
    assert re.search(r'<button id="ptt"[^>]*aria-keyshortcuts="Space"', html)
    assert "avatar" not in config(html)["media"]  # the worker's business, not the page's
    assert ">Devices</summary>" in html


def test_a_chat_only_agent_offers_a_chat_and_no_microphone(client: FlaskClient) -> None:
    html = client.get("/talk/chat").get_data(as_text=True)
    assert "Chat with Chatty" in html and "Talk to Chatty" not in html
    found = ids(html)
    assert "speaker" in found and not found & {"chat-start", "mic-select", "ptt", "camera"}


def test_the_script_embeds_panel_carries_the_same_controls(client: FlaskClient) -> None:
    panel = client.get(
        "/embed/everything/panel",
        headers={"Origin": "https://shop.example.com", "Sec-Fetch-Site": "cross-site"},
    ).get_json()
    assert set(MEDIA_IDS) <= ids(panel["html"])
    assert panel["config"]["media"]["camera"] == "on" and panel["config"]["mode"] == "widget"
