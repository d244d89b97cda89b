"""Result rows, percentiles and the table they are printed in."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One measured number, formatted, with its target and whether the target is met."""

    benchmark: str
    measure: str
    value: str
    target: str = ""
    met: bool | None = None  # None when the row has no target

    @property
    def verdict(self) -> str:
        """ "met", "MISSED" or nothing, for the table."""
        return "" if self.met is None else ("met" if self.met else "MISSED")


@dataclass(frozen=True)
class Percentiles:
    """p50/p95/p99 of a set of durations, in milliseconds."""

    p50_ms: float
    p95_ms: float
    p99_ms: float

    def __str__(self) -> str:
        """ "p50 / p95 / p99 ms"."""
        return f"{self.p50_ms:.1f} / {self.p95_ms:.1f} / {self.p99_ms:.1f} ms"


def percentiles(durations_s: Sequence[float]) -> Percentiles:
    """p50, p95 and p99 (linear interpolation between samples) of ``durations_s``, in ms."""
    if len(durations_s) < 2:
        only = durations_s[0] * 1000 if durations_s else float("nan")
        return Percentiles(only, only, only)
    cuts = statistics.quantiles([d * 1000 for d in durations_s], n=100, method="inclusive")
    return Percentiles(cuts[49], cuts[94], cuts[98])


def median_ms(values_ms: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values_ms) if values_ms else float("nan")


def kb(size_bytes: float) -> str:
    """Bytes as kB (1000 bytes, as transfer sizes are usually quoted)."""
    return f"{size_bytes / 1000:.1f} kB"


def markdown_table(rows: Sequence[Result]) -> str:
    """The rows as a Markdown table: readable in a terminal, pasteable into the README."""
    header = ("benchmark", "measure", "result", "target", "")
    cells = [header, *[(r.benchmark, r.measure, r.value, r.target, r.verdict) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        """One padded table line."""
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), rule, *[line(row) for row in cells[1:]]])
