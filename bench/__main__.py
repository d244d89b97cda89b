"""``python -m bench [--only NAME]``: run the benchmarks in turn and print one table.

Prints the machine and versions first, then each benchmark's progress, then the
results as a Markdown table. Logs of every process started go to
``test-artifacts/bench/``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback

from tests.support.processes import ROOT

from . import machine
from .results import Result, markdown_table

BENCHMARKS = ("backend", "page_weight", "memory", "click_to_voice", "floor", "turn_latency", "call_log")
LOG_DIR = ROOT / "test-artifacts" / "bench"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only this one (repeatable)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; exit 1 if one of them crashed (a missed target is not a crash)."""
    args = parse_args(argv)
    names = args.only or list(BENCHMARKS)
    print(f"$ python -m bench{''.join(f' --only {n}' for n in args.only or [])}")
    for label, value in machine.describe().items():
        print(f"{label + ':':16}{value}")
    print(f"{'load at start:':16}{machine.load_average()}")
    if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        print("warning: the machine is busy with other work: latencies are noisy, CPU per request less so")
    print(flush=True)
    rows: list[Result] = []
    crashed = False
    for name in names:
        started = time.monotonic()
        try:
            module = importlib.import_module(f"bench.{name}")
            print(f"{name}: {(module.__doc__ or '').strip().splitlines()[0]}", flush=True)
            rows += module.run(LOG_DIR / name)
        except Exception as exc:  # one broken benchmark must not hide the others
            crashed = True
            traceback.print_exc()
            reason = (str(exc).splitlines() or [""])[0][:80]
            rows.append(Result(name, "did not finish", f"{type(exc).__name__}: {reason}"))
        print(f"  {name} took {time.monotonic() - started:.0f} s", flush=True)
    print(f"{'load at end:':16}{machine.load_average()}")
    print()
    print(markdown_table(rows))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
