"""Run one provider fake that answers after a fixed delay, in a process of its own.

``python -m bench.fake_provider convoi --port 8081 --latency-ms 300`` takes every option of
``python -m tests.fakes`` plus ``--latency-ms`` (``FakeState.latency_s``), so the benchmark's
load generator and the fake never share a GIL.

Served by gunicorn (one process, so the fake's state stays in one place; a thread per waiting
caller), not by werkzeug's development server as in the tests: werkzeug closes every
connection after one answer, while a hosted provider keeps its connections alive, and a
client that reconnects per call would be measuring a TCP handshake production never pays.
"""

from __future__ import annotations

import argparse
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from tests.fakes import APP_FACTORIES
from tests.fakes.__main__ import build_state, parse_args

THREADS = 512  # callers the fake serves at once: the backend benchmark's burst is 200


class FakeApplication(BaseApplication):  # type: ignore[misc]
    """gunicorn serving one fake app: one worker, many threads, keep-alive connections."""

    def __init__(self, app: Flask, bind: str) -> None:
        self.app, self.bind = app, bind
        super().__init__()

    def load_config(self) -> None:
        """One worker (the fake's state is in memory), a thread per caller, no access log."""
        settings: dict[str, Any] = {
            "bind": self.bind, "workers": 1, "worker_class": "gthread", "threads": THREADS,
            "worker_connections": 2 * THREADS, "backlog": 2048, "keepalive": 75, "loglevel": "warning",
        }  # fmt: skip
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """The fake app."""
        return self.app


def main(argv: list[str] | None = None) -> None:
    """Serve the chosen fake with the chosen latency until terminated."""
    ours = argparse.ArgumentParser(add_help=False)
    ours.add_argument("--latency-ms", type=float, default=0.0)
    extra, rest = ours.parse_known_args(argv)
    args = parse_args(rest)
    state = build_state(args)
    state.latency_s = extra.latency_ms / 1000
    bind = f"{args.host}:{args.port}"
    print(f"{args.provider} fake at http://{bind}, latency {extra.latency_ms:g} ms", flush=True)
    FakeApplication(APP_FACTORIES[args.provider](state), bind).run()


if __name__ == "__main__":
    main()
