"""Real LiveKit participant tokens, minted the way a hosted provider would mint them.

The token dispatches our demo agent into the room, carrying the greeting and the call's
variables as agent metadata, so a browser holding it can really talk to the agent.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from typing import Any

from livekit.api import AccessToken, RoomAgentDispatch, RoomConfiguration, VideoGrants

from .state import FakeState

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


def render_greeting(template: str | None, variables: Mapping[str, Any]) -> str | None:
    """Fill `{{name}}` placeholders from `variables`; unknown placeholders stay as written."""
    if template is None:
        return None

    def substitute(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        return match.group(0) if value is None else str(value)

    return _PLACEHOLDER.sub(substitute, template)


def dispatch_metadata(greeting: str | None, variables: Mapping[str, Any]) -> str:
    """The JSON string the dispatched agent receives as its job metadata."""
    return json.dumps({"greeting": greeting, "variables": dict(variables)})


def mint_participant_token(
    state: FakeState,
    *,
    room: str,
    identity: str,
    greeting: str | None,
    variables: Mapping[str, Any],
    name: str | None = None,
    dispatch: bool = True,
    ttl: datetime.timedelta | None = None,
) -> str:
    """A LiveKit JWT for `identity` in `room`, valid for `ttl` (default `state.token_ttl`).

    With `dispatch`, the room dispatches `state.dispatch_agent_name` (our demo agent, a
    livekit-agents worker); without, the test puts its own agent in the room.
    """
    token = (
        AccessToken(state.livekit_api_key, state.livekit_api_secret)
        .with_identity(identity)
        .with_ttl(ttl or state.token_ttl)
        .with_grants(
            VideoGrants(
                room_join=True,
                room=room,
                can_publish=True,
                can_subscribe=True,
                can_publish_data=True,
            )
        )
    )
    if dispatch:
        agent = RoomAgentDispatch(
            agent_name=state.dispatch_agent_name, metadata=dispatch_metadata(greeting, variables)
        )
        token = token.with_room_config(RoomConfiguration(agents=[agent]))
    if name:
        token = token.with_name(name)
    return token.to_jwt()
