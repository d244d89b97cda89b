"""`python -m webapp.demo_agent`: run the demo agent worker until SIGTERM or Ctrl-C."""

from __future__ import annotations

from .worker import main

if __name__ == "__main__":
    raise SystemExit(main())
