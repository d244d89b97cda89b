"""Run one fake provider by hand: `python -m tests.fakes ravan --port 8081`.

Reads LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET (defaults: `livekit-server --dev`),
FAKE_API_KEY and, for Zudu, FAKE_API_SECRET; prints the base URL and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import threading
from typing import Any

from . import APP_FACTORIES, FakeServer, FakeState

# Keys and agent ids in each provider's own format, for when the environment sets none.
_DEFAULT_KEYS = {
    "ravan": "ravan-test-key",
    "zudu": "sk_test_zudu",
    "convoi": "sk_live_test",
    "unleashx": "unleashx-test-token",
    "retell": "key_retell_test",
    "elevenlabs": "sk_elevenlabs_test",
}
_DEFAULT_AGENTS: dict[str, Any] = {
    "ravan": "agent-demo",
    "zudu": "agent-demo",
    "convoi": "agt_demo",
    "unleashx": 1,
    "retell": "agent_demo",
    "elevenlabs": "agent_demo",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: provider, host, port, agents and their greeting."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__)
    parser.add_argument("provider", choices=sorted(APP_FACTORIES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--agent", action="append", default=[], help="a known agent id (repeatable)")
    parser.add_argument("--greeting", default="Hello {{name}}! How can I help you today?")
    parser.add_argument("--dispatch-agent-name", default="webcall-demo")
    return parser.parse_args(argv)


def build_state(args: argparse.Namespace) -> FakeState:
    """A FakeState from the environment and the command line."""
    provider = args.provider
    agent_ids: list[Any] = args.agent or [_DEFAULT_AGENTS[provider]]
    if provider == "unleashx":
        agent_ids = [int(a) for a in agent_ids]
        record = {"active": True, "agent_type": 3, "calling_type": 1}
    else:
        record = {"greeting": args.greeting}
    return FakeState(
        api_key=os.environ.get("FAKE_API_KEY", _DEFAULT_KEYS[provider]),
        api_secret=os.environ.get("FAKE_API_SECRET", "s3cr3t_test"),
        livekit_url=os.environ.get("LIVEKIT_URL", "ws://127.0.0.1:7880"),
        livekit_api_key=os.environ.get("LIVEKIT_API_KEY", "devkey"),
        livekit_api_secret=os.environ.get("LIVEKIT_API_SECRET", "secret"),
        dispatch_agent_name=args.dispatch_agent_name,
        agents={agent_id: dict(record) for agent_id in agent_ids},
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the chosen fake until interrupted."""
    args = parse_args(argv)
    state = build_state(args)
    server = FakeServer(APP_FACTORIES[args.provider](state), host=args.host, port=args.port)
    with server:
        agents = ", ".join(str(a) for a in state.agents)
        print(f"{args.provider} fake at {server.url} (agents: {agents})", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
