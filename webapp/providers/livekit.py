"""Self-hosted LiveKit: no provider to ask, the app mints the participant token itself."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from datetime import timedelta

from livekit import api
from pydantic import SecretStr, field_validator

from .base import (
    AGENT_KEY,
    HttpUrlText,
    ProviderContext,
    ProviderSettings,
    ProviderSpec,
    WebCall,
    WebCallRequest,
    base_url,
    complete_from_token,
    credential,
    livekit_url_problem,
    secret,
)
from .room_reaper import RoomReaper
from .transport import Transport

EMPTY_ROOM_TIMEOUT_S = 60  # a room nobody joined closes after this
DEPARTURE_TIMEOUT_S = 10  # a room closes this long after the last person leaves


def dispatch_metadata(request: WebCallRequest) -> str:
    """What the dispatched agent learns about the call: greeting, prompt variables, the page's
    own ``metadata`` and media.

    ``mode`` is ``text`` for a chat (no caller audio will come); ``push_to_talk`` asks for
    manual turns (the page calls the ``start_turn``/``end_turn``/``cancel_turn`` RPC methods,
    as in livekit-agents' push-to-talk example); ``avatar`` asks for an avatar video; ``camera``
    and ``screen_share`` say the caller may publish them.
    """
    agent = request.agent
    payload = {
        "agent": agent.slug,
        "greeting": agent.greeting,
        "variables": dict(request.variables),
        # The page's, as it sent them (without ours: "agent" says that).
        "metadata": {k: v for k, v in request.metadata.items() if k != AGENT_KEY} or None,
        "max_call_s": agent.max_call_s,
        "mode": request.mode,
        "push_to_talk": agent.push_to_talk or None,
        "avatar": agent.avatar or None,
        "camera": agent.camera if agent.camera != "off" else None,
        "screen_share": agent.screen_share or None,
    }
    return json.dumps({k: v for k, v in payload.items() if v is not None})


def mint_token(request: WebCallRequest, *, api_key: str, api_secret: str, ttl: timedelta) -> WebCall:
    """Mint one caller's token and return it as a call (expiry read from the token's claims).

    Room and identity are chosen here, never by the request; the caller may publish only
    the sources the agent takes (the microphone in a voice call, the camera and the screen
    where enabled: nothing at all in a plain text chat), and the agent is dispatched by name.
    """
    sources = request.agent.publish_sources(request.mode)
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
                # An empty source list would mean every source: no sources, no publishing.
                can_publish=bool(sources),
                can_subscribe=True,
                can_publish_data=True,  # chat, and push-to-talk's RPC calls
                can_publish_sources=sources,
            )
        )
        .with_room_config(config)
        .to_jwt()
    )
    return complete_from_token(
        WebCall(call_id=room, livekit_url="", token=token, room=room, identity=identity)
    )


class LiveKitSettings(ProviderSettings):
    """The server's client URL (given to browsers) and the key pair that signs our tokens."""

    url: str | None = credential("LIVEKIT_URL")
    api_key: SecretStr | None = credential("LIVEKIT_API_KEY")
    api_secret: SecretStr | None = credential("LIVEKIT_API_SECRET")
    # The server API's HTTP address; by default LIVEKIT_URL with ws(s) read as http(s).
    base_url: HttpUrlText | None = base_url("LIVEKIT_BASE_URL", None)

    @field_validator("url")
    @classmethod
    def _client_url(cls, value: str | None) -> str | None:
        """Browsers connect to a ws(s):// URL (an http(s):// one is read the same way by the SDK)."""
        problem = livekit_url_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value

    @property
    def http_url(self) -> str:
        """Where LiveKit's server API answers over HTTP."""
        if self.base_url:
            return self.base_url
        url = self.url or ""
        return url.replace("wss://", "https://", 1).replace("ws://", "http://", 1).rstrip("/")


class LiveKitProvider:
    """Mints tokens for a self-hosted LiveKit server with our own agent dispatched."""

    name = "livekit"

    def __init__(self, settings: LiveKitSettings, context: ProviderContext) -> None:
        self.url = settings.url or ""
        self.http_url = settings.http_url
        self.api_key = secret(settings.api_key)
        self.api_secret = secret(settings.api_secret)
        self.token_ttl_s = context.token_ttl_s
        self.reaper = RoomReaper(self.http_url, self.api_key, self.api_secret, context.http)
        self.transport = Transport(context.http, provider=self.name, secrets=settings.secret_values())

    def is_reachable(self, timeout_s: float) -> bool:
        """The LiveKit server answers 200 on ``/`` when it is up."""
        return self.transport.is_reachable(self.http_url + "/", timeout_s=timeout_s, need_ok=True)

    def livekit_url_before_call(self) -> str | None:
        """Our own server: the page can warm the connection up before the call exists."""
        return self.url

    def check_access(self) -> None:
        """A harmless call with our key pair: list the rooms (RoomService.ListRooms)."""
        token = api.AccessToken(self.api_key, self.api_secret).with_grants(api.VideoGrants(room_list=True))
        self.transport.post_json(
            self.http_url + "/twirp/livekit.RoomService/ListRooms",
            headers={"Authorization": f"Bearer {token.with_ttl(timedelta(minutes=1)).to_jwt()}"},
            body={},
            operation="check",
        )

    def close_room(self, room: str, why: str) -> None:
        """End a call now: its room is deleted, everyone in it disconnected (and again if it
        comes back, as long as a token for it may be valid)."""
        self.reaper.close_room(room, why)

    def end_call(self, call_id: str) -> None:
        """Hang up a call (the ``end_call`` capability): a call's id is its room's name."""
        self.close_room(call_id, "its call was ended")

    def create_web_call(self, request: WebCallRequest) -> WebCall:
        """Mint a token locally (no network); schedule the room's end when the agent has a limit."""
        started = time.perf_counter()
        max_call_s = request.agent.max_call_s
        ttl_s = min(self.token_ttl_s, max_call_s or self.token_ttl_s, request.token_ttl_s or self.token_ttl_s)
        ttl = timedelta(seconds=ttl_s)
        call = mint_token(request, api_key=self.api_key, api_secret=self.api_secret, ttl=ttl)
        if max_call_s and call.room:
            self.reaper.schedule(call.room, max_call_s, ttl.total_seconds())
        # The provider step of every call is in the latency histogram, this one's included.
        self.transport.observe("create_call", "ok", started)
        return dataclasses.replace(call, livekit_url=self.url)


PROVIDER = ProviderSpec(
    name="livekit",
    title="Self-hosted LiveKit",
    settings=LiveKitSettings,
    adapter=LiveKitProvider,
    # The agent name an agent worker registers with (its dispatch name).
    agent_id_pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}",
    agent_id_hint="a LiveKit agent id is the agent name your worker registers with "
    "(letters, digits, '-', '_' or '.')",
    writes_summaries=False,
    no_phone_reason="the livekit provider has no telephony (SIP trunk) configured here, so it cannot "
    "call a phone",
)
