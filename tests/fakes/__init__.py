"""Local fakes of the hosted voice-AI providers, served over real HTTP on 127.0.0.1.

Each fake follows its provider's API page in shared/providers/docs/ exactly, rejects what
the real API would reject, and mints real LiveKit tokens that dispatch our demo agent:

    state = FakeState(api_key="k", livekit_url="ws://127.0.0.1:7880",
                      livekit_api_key="devkey", livekit_api_secret="...",
                      agents={"agent-1": {"greeting": "Hi {{name}}"}})
    with FakeServer(create_ravan_app(state)) as server:
        ...  # point the adapter at server.url; inspect state.requests; queue state.faults
"""

from __future__ import annotations

from .convoi import create_convoi_app
from .elevenlabs import create_elevenlabs_app
from .hooks import FakeError
from .ravan import create_ravan_app
from .retell import create_retell_app
from .server import FakeServer
from .state import REMOVE, FakeState, Fault, FaultKind, HeaderDict, RecordedRequest, WebCallRoom
from .tokens import dispatch_metadata, mint_participant_token, render_greeting
from .turnstile import FakeTurnstile
from .unleashx import create_unleashx_app
from .zudu import create_zudu_app

APP_FACTORIES = {
    "ravan": create_ravan_app,
    "zudu": create_zudu_app,
    "convoi": create_convoi_app,
    "unleashx": create_unleashx_app,
    "retell": create_retell_app,
    "elevenlabs": create_elevenlabs_app,
}

__all__ = [
    "APP_FACTORIES",
    "REMOVE",
    "FakeError",
    "FakeServer",
    "FakeState",
    "FakeTurnstile",
    "Fault",
    "FaultKind",
    "HeaderDict",
    "RecordedRequest",
    "WebCallRoom",
    "create_convoi_app",
    "create_elevenlabs_app",
    "create_ravan_app",
    "create_retell_app",
    "create_unleashx_app",
    "create_zudu_app",
    "dispatch_metadata",
    "mint_participant_token",
    "render_greeting",
]
