"""How the admin pages write a call's values for people (Jinja filters)."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint

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


def init_blueprint(bp: Blueprint) -> None:
    """Make the filters available to the admin templates."""
    filters = (when, clock, duration, number, talk_time, amount)
    for function in (*filters, status_label, speaker, rating_label, live_text, web_url):
        bp.add_app_template_filter(function)
