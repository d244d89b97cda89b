"""The local demo agent: a LiveKit worker that understands the caller, offline.

No account, no network model: it recognises speech with pocketsphinx (its English model
ships in the wheel) in a child process, takes turns with Silero VAD (shipped inside
livekit-local-inference), answers a few intents (greeting, what can you do, the time,
thanks, goodbye) or says what it understood, and speaks with espeak-ng. The caller can
talk over it; goodbye or the call's `max_call_s` make it leave. Browsers reach it by
explicit dispatch, naming it (default `webcall-demo`) in their token.

Run it with `python -m webapp.demo_agent`; settings come from the environment (see
`settings.AgentSettings.from_env`). Modules, in the order a call touches them:
`worker` (process, logging, signals) → `job` (entrypoint) → `call` (room wiring) →
`listener` (sound in: `preconnect`, `turns`, `hearing` → `recognizer`) →
`conversation` (what is said: `intents`, `greeting`) → `speech`/`voice` (sound out),
with `status` (participant attributes) and `transcripts` (text streams) alongside.
"""

from __future__ import annotations

from .settings import DEFAULT_AGENT_NAME, AgentSettings

__all__ = ["DEFAULT_AGENT_NAME", "AgentSettings"]
