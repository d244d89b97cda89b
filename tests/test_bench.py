"""The benchmarks stay runnable: every one of them imports (they lean on tests/support)."""

from __future__ import annotations

import importlib

import pytest

from bench.__main__ import BENCHMARKS


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_imports_and_has_a_run(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert callable(module.run)
    assert (module.__doc__ or "").strip(), f"bench/{name}.py needs a docstring: its first line is printed"
