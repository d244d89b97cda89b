"""The call page's words in the caller's language.

The English text is the key (as in gettext): templates write ``{{ _("Hang up") }}`` and the
page's script ``t('Hang up')``, with ``{name}`` for what is filled in. Each other language has
a catalogue, ``locales/<code>.json``: ``page`` holds the templates' words, ``script`` the
script's (sent in the page's config, so the page makes no request for them), each English text
to its translation. tests/pages/test_words.py checks that every catalogue translates every text
the templates and the script use, with the same ``{name}``s, and nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, get_args

from flask import Flask

from .. import errors
from ..catalogue import PageLanguage

LOCALES = Path(__file__).parent / "locales"
LANGUAGES: tuple[str, ...] = get_args(PageLanguage)  # BCP 47 codes; English is the texts themselves
DEFAULT_LANGUAGE = "en"
AUTO = "auto"  # an agent's page_language: the caller's browser language, where the page has it
RIGHT_TO_LEFT = frozenset({"ar", "ur"})  # written from right to left: the page's layout mirrors
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# The API's refusals a caller can meet on the page (its call, its phone callback, the widget's
# panel): the page shows their message in its language (the API itself speaks English).
CALLER_ERRORS: tuple[type[errors.AppError], ...] = (
    errors.AppError,
    errors.AgentBusy,
    errors.BotCheckFailed,
    errors.BotCheckUnavailable,
    errors.CallInProgress,
    errors.CallLogUnavailable,
    errors.ConsentRequired,
    errors.CountryNotAllowed,
    errors.DailyBudgetExhausted,
    errors.ExpiredDemoLink,
    errors.UsedUpDemoLink,
    errors.RevokedDemoLink,
    errors.InvalidDemoLink,
    errors.InvalidPhoneNumber,
    errors.PhoneExtension,
    errors.LimitsUnavailable,
    errors.ModeNotAllowed,
    errors.NumberCooldown,
    errors.NumberDailyCap,
    errors.NumberTypeNotAllowed,
    errors.OriginNotAllowed,
    errors.PhoneCallsDisabled,
    errors.ProviderBusy,
    errors.ProviderError,
    errors.ProviderTimeout,
    errors.ProviderUnavailable,
    errors.RateLimited,
    errors.UnknownAgent,
    errors.WebCallsDisabled,
)


def fill(text: str, values: dict[str, Any]) -> str:
    """``text`` with each ``{name}`` replaced by ``values[name]`` (left as it is if not given)."""
    if not values:
        return text
    return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], text)


def joined(first: str, second: str) -> str:
    """Two sentences as one text: a space between them, but none after a Japanese 。！？ (as the
    page's script joins them: messages.js)."""
    return first + second if first.endswith(("。", "！", "？")) else f"{first} {second}"


@dataclass(frozen=True)
class Words:
    """One language's words: call it with an English text (and its values) for the translation."""

    language: str
    page: dict[str, str] = field(default_factory=dict)
    script: dict[str, str] = field(default_factory=dict)

    def __call__(self, text: str, **values: Any) -> str:
        if self.language in RIGHT_TO_LEFT:  # each value isolated: "Acme Support!" keeps its "!" at its end
            values = {name: _isolated(value) for name, value in values.items()}
        return fill(self.page.get(text, text), values)


# A value that reads the same in any direction's text: letters and digits at both ends, joined by
# "-" or "_" (a request id). Isolated, it was copied from the page with two invisible characters
# around it, and a search of the logs for it found nothing.
_PLAIN = re.compile(r"[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*")


def _isolated(value: Any) -> str:
    """``value`` for a right-to-left text: between first-strong isolates, unless it is plain."""
    text = str(value)
    return text if _PLAIN.fullmatch(text) else f"\u2068{text}\u2069"


@cache
def words_for(language: str) -> Words:
    """The catalogue of one of LANGUAGES (read once)."""
    if language == DEFAULT_LANGUAGE:
        return Words(language)
    catalogue = json.loads((LOCALES / f"{language}.json").read_text(encoding="utf-8"))
    return Words(language, page=catalogue["page"], script=catalogue["script"])


def direction(language: str) -> str:
    """A page's ``dir`` in ``language``: ``rtl`` for Arabic and Urdu, else ``ltr``."""
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def choose_language(setting: str, asked: str | None, accepted: Iterable[tuple[str, float]]) -> str:
    """The page's language: ``?lang=`` when it names one of LANGUAGES, else the agent's
    ``page_language``; for ``auto``, the first of the browser's ``Accept-Language`` (by its
    weights) that the page has, and English when none. Either way a region's tag counts for its
    language (``es-MX``, or ``pt_BR`` as some write it, are Spanish and Portuguese)."""
    if asked is not None and (asked := language_of(asked)) in LANGUAGES:
        return asked
    if setting != AUTO:
        return setting
    ranked = sorted(accepted, key=lambda pair: -pair[1])  # stable: equal weights keep their order
    for tag, quality in ranked:
        language = language_of(tag)
        if quality > 0 and language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


def language_of(tag: str) -> str:
    """A language tag's language, in lower case: ``pt-BR``, ``pt_br`` and ``PT`` are ``pt``."""
    return tag.strip().replace("_", "-").split("-")[0].lower()


def init_app(app: Flask) -> None:
    """Templates say ``_("…")``: English, unless a call page renders with its own ``_``. Every
    catalogue is read now: a broken one stops the start, not a caller's page."""
    for language in LANGUAGES:
        words_for(language)
    app.jinja_env.globals["_"] = words_for(DEFAULT_LANGUAGE)
    app.jinja_env.filters["direction"] = direction
