"""What the job's dispatch metadata tells the agent: its greeting and the call's time limit."""

from __future__ import annotations

import json
import logging
import math
import re

logger = logging.getLogger(__name__)

DEFAULT_GREETING = "Hi! I'm the webcall demo agent. Ask me what I can do, or just say something."
# espeak-ng takes about as long to speak as the text is long; keep a call snappy
MAX_GREETING_CHARS = 400

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


def fill_placeholders(template: str, variables: dict[str, str]) -> str:
    """Replace each `{{name}}` in `template` by its variable; unknown names are dropped."""
    filled = _PLACEHOLDER.sub(lambda match: variables.get(match.group(1), ""), template)
    # a dropped placeholder can leave "Hello , there"; tidy the gaps it made
    return re.sub(r"\s+([,.!?])", r"\1", re.sub(r"\s{2,}", " ", filled)).strip()


def greeting_from_metadata(metadata: str) -> str:
    """Return the greeting for a job whose dispatch metadata is `metadata` (JSON or empty).

    Metadata is `{"greeting": str, "variables": {str: str}}`, both optional. Anything
    malformed is logged and the default greeting is used, so a bad dispatch still gets
    a working call.
    """
    if not metadata.strip():
        return DEFAULT_GREETING
    try:
        data = json.loads(metadata)
    except json.JSONDecodeError:
        logger.warning("dispatch metadata is not JSON; using the default greeting")
        return DEFAULT_GREETING
    if not isinstance(data, dict):
        logger.warning("dispatch metadata is not a JSON object; using the default greeting")
        return DEFAULT_GREETING

    template = data.get("greeting") or DEFAULT_GREETING
    raw_variables = data.get("variables") or {}
    if not isinstance(template, str) or not isinstance(raw_variables, dict):
        logger.warning("dispatch metadata has a malformed greeting or variables; ignoring them")
        return DEFAULT_GREETING
    variables = {str(key): str(value) for key, value in raw_variables.items()}
    greeting = fill_placeholders(template, variables)[:MAX_GREETING_CHARS]
    return greeting or DEFAULT_GREETING


def max_call_s_from_metadata(metadata: str) -> float | None:
    """The call's time limit (`max_call_s`, seconds) from the dispatch metadata; None if unset or bad."""
    try:
        value = json.loads(metadata).get("max_call_s") if metadata.strip() else None
    except (json.JSONDecodeError, AttributeError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        return None  # (NaN and Infinity, which Python's JSON reads: no limit, not "out of time" at once)
    return float(value)
