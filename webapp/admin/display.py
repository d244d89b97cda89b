"""How the admin pages write a call's values for people (Jinja filters)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from flask import Blueprint

from .models import DayTotal

_STATUS_LABELS = {
    "created": "Created", "in_progress": "In progress", "completed": "Completed", "failed": "Failed",
    "no_answer": "No answer", "busy": "Busy", "voicemail": "Voicemail", "unknown": "Unknown",
}  # fmt: skip
_SPEAKERS = {"agent": "Agent", "user": "Caller"}
_RATINGS = {"good": "Good", "bad": "Not good"}
LANGUAGE_NAMES = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian", "nl": "Dutch",
    "pt": "Portuguese (Brazil)", "ja": "Japanese", "hi": "Hindi", "bn": "Bengali", "mr": "Marathi",
    "ta": "Tamil", "te": "Telugu", "ar": "Arabic", "ur": "Urdu",
}  # fmt: skip  # the call page's languages (catalogue.PageLanguage), named for the admin's forms


def when(value: str | None) -> str:
    """``2026-03-01T12:00:05.123Z`` → ``2026-03-01 12:00:05 UTC``; ``—`` when unknown."""
    return f"{value[:10]} {value[11:19]} UTC" if value else "—"


def clock(value: str | None) -> str:
    """The time of day of an ISO moment (``12:00:05``)."""
    return value[11:19] if value else ""


def duration(seconds: float | None) -> str:
    """``95`` → ``1 min 35 s``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def number(count: int) -> str:
    """A count with its thousands apart: ``12345`` → ``12,345``."""
    return f"{count:,}"


def talk_time(seconds: float) -> str:
    """A sum of durations, to the minute once it is an hour: ``95`` → ``1 min 35 s``,
    ``7500`` → ``2 h 5 min``."""
    if round(seconds) < 3600:
        return duration(seconds)
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours:,} h {minutes} min" if minutes else f"{hours:,} h"


def amount(value: float) -> str:
    """A cost as it is stored, in plain digits, never rounded: ``12345.0`` → ``12345``,
    ``0.00001234`` → ``0.00001234`` (not ``1.234e-05``)."""
    digits = format(Decimal(str(value)), "f")  # str(): the float's shortest form, not its binary noise
    return digits.rstrip("0").rstrip(".") if "." in digits else digits


def status_label(status: str) -> str:
    """A status in words."""
    return _STATUS_LABELS.get(status, status)


def speaker(role: str) -> str:
    """Who spoke, in words."""
    return _SPEAKERS.get(role, role.capitalize())


def rating_label(rating: str) -> str:
    """The caller's rating in words."""
    return _RATINGS.get(rating, rating)


def live_text(count: int | None) -> str:
    """The live counter's sentence (``static/src/admin/live.js`` writes the same)."""
    if count is None:
        return "Calls in progress: unknown"
    if count == 0:
        return "No calls in progress"
    return f"{count} call{'' if count == 1 else 's'} in progress"


def web_url(value: str | None) -> bool:
    """True for an http(s) address: a provider's answer must not make us render a javascript: link."""
    return bool(value) and str(value).lower().startswith(("https://", "http://"))


BAR_STEP = 10  # a day's width in the chart's own units (its bar 8 of them); CSS sets its size
BAR_TOP = 100  # the busiest day's height, in the same units


@dataclass(frozen=True)
class DayBar:
    """One day's bar: its calls from the bottom, its refused requests above them."""

    day: str  # 2026-03-01
    calls: int
    refused: int
    x: int
    calls_top: float  # where each part's rectangle starts (from the top) and how high it is
    calls_height: float
    refused_top: float
    refused_height: float


@dataclass(frozen=True)
class DayChart:
    """The calls a day, drawn as bars (an SVG of ``width`` × ``BAR_TOP`` units) and listed."""

    bars: list[DayBar]
    peak: int  # the most calls and refused requests in one day
    busiest: str  # the first day with that many
    refused: bool  # whether any day had a refused request
    width: int


def day_chart(days: Sequence[DayTotal]) -> DayChart | None:
    """The chart of ``days`` (None without any)."""
    if not days:
        return None
    peak = max(d.calls + d.refused for d in days)
    scale = BAR_TOP / (peak or 1)
    bars = []
    for index, d in enumerate(days):
        # To two places: an SVG needs no more, and a sum of floats would write 16.659999999999997.
        calls_top, refused_top = (round(BAR_TOP - n * scale, 2) for n in (d.calls, d.calls + d.refused))
        calls_height, refused_height = round(BAR_TOP - calls_top, 2), round(calls_top - refused_top, 2)
        bars.append(DayBar(d.day.isoformat(), d.calls, d.refused, index * BAR_STEP + 1, calls_top,
                           calls_height, refused_top, refused_height))  # fmt: skip
    busiest = next(bar.day for bar in bars if bar.calls + bar.refused == peak)
    return DayChart(bars, peak, busiest, any(d.refused for d in days), len(days) * BAR_STEP)


def init_blueprint(bp: Blueprint) -> None:
    """Make the filters available to the admin templates."""
    filters = (when, clock, duration, number, talk_time, amount)
    for function in (*filters, status_label, speaker, rating_label, live_text, web_url):
        bp.add_app_template_filter(function)
