"""Self-hosted LiveKit: no provider to ask, the app mints the participant token itself."""

from __future__ import annotations

import dataclasses
import json
import secrets
from datetime import timedelta

from livekit import api

from ..config import ProviderSettings
from .base import WebCall, WebCallRequest, complete_from_token
from .room_reaper import RoomReaper

EMPTY_ROOM_TIMEOUT_S = 60  # a room nobody joined closes after this
DEPARTURE_TIMEOUT_S = 10  # a room closes this long after the last person leaves
JOIN_GRACE_S = 15  # time from the token to the caller being in the room, added to max_call_s


def dispatch_metadata(request: WebCallRequest) -> str:
    """What the dispatched agent learns about the call: greeting and prompt variables."""
    agent = request.agent
    payload = {
        "agent": agent.slug,
        "greeting": agent.greeting,
        "variables": dict(request.variables),
        "max_call_s": agent.max_call_s,
    }
    return json.dumps({k: v for k, v in payload.items() if v is not None})


def mint_token(request: WebCallRequest, *, api_key: str, api_secret: str, ttl: timedelta) -> WebCall:
    """Mint one caller's token and return it as a call (expiry read from the token's claims).

    Room and identity are chosen here, never by the request; the caller may only
    publish a microphone, and the agent is dispatched by name in the token.
    """
    room = f"webcall-{request.agent.slug}-{secrets.token_hex(6)}"
    identity = f"caller-{secrets.token_hex(6)}"
    config = api.RoomConfiguration(
        empty_timeout=EMPTY_ROOM_TIMEOUT_S,
        departure_timeout=DEPARTURE_TIMEOUT_S,
        agents=[
            api.RoomAgentDispatch(agent_name=request.agent.agent_id, metadata=dispatch_metadata(request))
        ],
    )
    token = (
        api.AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_name(request.participant_name or "Caller")
        .with_ttl(ttl)
        .with_grants(
            api.VideoGrants(
                room_join=True,
                room=room,
                can_publish=True,
                can_subscribe=True,
                can_publish_data=True,
                can_publish_sources=["microphone"],
            )
        )
        .with_room_config(config)
        .to_jwt()
    )
    return complete_from_token(
        WebCall(call_id=room, livekit_url="", token=token, room=room, identity=identity)
    )


class LiveKitProvider:
    """Mints tokens for a self-hosted LiveKit server with our own agent dispatched."""

    name = "livekit"

    def __init__(self, settings: ProviderSettings, *, token_ttl_s: int, reaper: RoomReaper) -> None:
        self.url = settings.credentials["url"]
        self.api_key = settings.credentials["api_key"]
        self.api_secret = settings.credentials["api_secret"]
        self.token_ttl_s = token_ttl_s
        self.reaper = reaper

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Mint a token locally (no network); schedule the room's end when the agent has a limit."""
        max_call_s = request.agent.max_call_s
        ttl = timedelta(seconds=min(self.token_ttl_s, max_call_s or self.token_ttl_s))
        call = mint_token(request, api_key=self.api_key, api_secret=self.api_secret, ttl=ttl)
        if max_call_s and call.room:
            self.reaper.schedule(call.room, max_call_s + JOIN_GRACE_S)
        return dataclasses.replace(call, livekit_url=self.url)
