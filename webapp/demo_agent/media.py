"""What the dispatch metadata says about the call beyond the voice (`webapp.providers.livekit`).

`mode` is "text" for a chat (no caller audio will come, so the greeting waits for none);
`push_to_talk` asks for manual turns, started and ended by the page's RPC calls;
`avatar` asks for the synthetic avatar video; `camera` and `screen_share` say the caller
may publish video, which the agent then subscribes to and counts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallMedia:
    """The media of one call, as the app dispatched it."""

    mode: str = "voice"  # or "text"
    push_to_talk: bool = False
    avatar: bool = False
    sees: bool = False  # the caller may publish a camera or a screen

    @property
    def text(self) -> bool:
        """A chat: the caller publishes no audio."""
        return self.mode == "text"


def media_from_metadata(metadata: str) -> CallMedia:
    """The call's media from its dispatch metadata; anything malformed means a plain voice call."""
    try:
        data = json.loads(metadata) if metadata.strip() else {}
    except json.JSONDecodeError:
        data = {}
    if not isinstance(data, dict):
        logger.warning("dispatch metadata is not a JSON object; a plain voice call")
        data = {}
    return CallMedia(
        mode="text" if data.get("mode") == "text" else "voice",
        push_to_talk=data.get("push_to_talk") is True,
        avatar=data.get("avatar") is True,
        sees=data.get("camera") in ("optional", "on") or data.get("screen_share") is True,
    )
