"""Run one provider fake that answers after a fixed delay, in a process of its own.

``python -m bench.fake_provider convoi --port 8081 --latency-ms 300`` takes every option of
``python -m tests.fakes`` plus ``--latency-ms`` (``FakeState.latency_s``), so the benchmark's
load generator and the fake never share a GIL.
"""

from __future__ import annotations

import argparse
import threading

from tests.fakes import APP_FACTORIES, FakeServer
from tests.fakes.__main__ import build_state, parse_args


def main(argv: list[str] | None = None) -> None:
    """Serve the chosen fake with the chosen latency until terminated."""
    ours = argparse.ArgumentParser(add_help=False)
    ours.add_argument("--latency-ms", type=float, default=0.0)
    extra, rest = ours.parse_known_args(argv)
    args = parse_args(rest)
    state = build_state(args)
    state.latency_s = extra.latency_ms / 1000
    with FakeServer(APP_FACTORIES[args.provider](state), host=args.host, port=args.port) as server:
        print(f"{args.provider} fake at {server.url}, latency {extra.latency_ms:g} ms", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
