"""Flask's JSON through orjson: every API answer and error body the app writes.

Flask's default provider runs the standard library's encoder; orjson encodes the same values
several times faster, with the same output: sorted keys, compact, a final newline. What
orjson does not know (and datetimes, which Flask writes as HTTP dates) goes to Flask's own
fallback, so nothing that serialised before stops serialising or changes shape.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response

OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


class OrjsonProvider(DefaultJSONProvider):
    """The default provider's behaviour, orjson's speed."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """``obj`` as a JSON string; a caller asking for indent or the like gets the standard encoder.

        Templates' ``tojson`` asks for sorted keys only, which orjson gives: the page's config then
        keeps its words as UTF-8 (a Hindi page's words as ``\\u0915…`` weighed twice as much);
        Jinja still escapes ``<``, ``>``, ``&`` and ``'`` for the HTML around it."""
        if kwargs and kwargs != {"sort_keys": True}:
            return super().dumps(obj, **kwargs)
        return encode(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """The value of a JSON document."""
        return super().loads(s, **kwargs) if kwargs else orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """``jsonify``: compact JSON and a newline, as Flask writes it outside debug mode."""
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)
        body = encode(self._prepare_response_obj(args, kwargs), orjson.OPT_APPEND_NEWLINE)
        return self._app.response_class(body, mimetype=self.mimetype)  # type: ignore[arg-type]


def encode(obj: Any, option: int = 0) -> bytes:
    """``obj`` as compact JSON with sorted keys; what orjson does not know goes to Flask's fallback."""
    return orjson.dumps(obj, default=DefaultJSONProvider.default, option=OPTIONS | option)


def init_app(app: Flask) -> None:
    """Make orjson the app's JSON provider (``jsonify``, ``request.get_json``, error bodies)."""
    app.json = OrjsonProvider(app)
