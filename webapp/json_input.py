"""JSON from outside the app (a provider's answer, a webhook's body) as text every part can keep.

orjson reads it, fast. It refuses a lone UTF-16 surrogate (``"\\ud83d"`` with no pair), which
JSON's grammar allows and which a sender writes when it cuts a text inside an emoji (a summary
clipped to so many UTF-16 units, in JavaScript). Refusing it would lose the whole answer, a
page of history or a call's end, over one character. The standard library reads such a
document instead, as strictly as orjson otherwise (no NaN or Infinity, a number too large for
a double refused, an integer past 64 bits read as a float), and each lone surrogate becomes
U+FFFD: nothing downstream (UTF-8 for a database, a log line, an answer) meets text it
cannot encode.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import orjson

_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64 = range(-(2**63), 2**64)  # what orjson reads as an integer (past it: a float)


def parse_json(content: bytes | str) -> Any:
    """The value of a JSON document; ``ValueError`` (orjson's own) for what is not JSON."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as refused:
        try:
            value = json.loads(content, parse_constant=_no_constant, parse_float=_finite, parse_int=_integer)
            # each_string recurses deeper per level than the decoder: a document nested some
            # hundreds deep that json.loads reads can still overflow it (refused, like orjson did)
            return each_string(value, lambda text: _SURROGATE.sub("\ufffd", text))
        except (ValueError, RecursionError):
            raise refused from None


def each_string(value: Any, change: Callable[[str], str]) -> Any:
    """A JSON value (lists, objects, scalars) with ``change`` applied to each string in it, keys too."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [each_string(item, change) for item in value]
    if isinstance(value, dict):
        return {each_string(key, change): each_string(item, change) for key, item in value.items()}
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number is infinity when parsed as double")
    return value


def _integer(text: str) -> int | float:
    value = int(text)
    return value if value in _INT64 else _finite(text)
