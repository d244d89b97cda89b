"""The local demo agent: a LiveKit worker that greets callers and echoes what they say.

It needs no speech-to-text, language model or network model: it speaks with espeak-ng,
detects turns by loudness, and plays each of the caller's utterances back to them.
Browsers reach it by explicit dispatch, naming it (default `webcall-demo`) in their token.

Run it with `python -m webapp.demo_agent`; settings come from the environment (see
`settings.AgentSettings.from_env`). Modules, in the order a call touches them:
`worker` (process, logging, signals) → `job` (entrypoint) → `call` (room wiring) →
`conversation` (what is said) → `speech`/`voice` (sound out) and
`listener`/`turns`/`preconnect` (sound in), with `status` (participant attributes) and
`transcripts` (text streams) alongside.
"""

from __future__ import annotations

from .settings import DEFAULT_AGENT_NAME, AgentSettings

__all__ = ["DEFAULT_AGENT_NAME", "AgentSettings"]
