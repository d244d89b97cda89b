"""A local stand-in for Cloudflare Turnstile: the widget script a page loads, and siteverify.

The script hands the page ``token``, ``token_after_ms`` after rendering (after an interactive
challenge of ``challenge_ms`` first, when given: the visitor ticking a box); siteverify passes
only ``good_token`` (or a token :meth:`FakeTurnstile.solve` handed out) sent with ``secret``.
``down`` makes siteverify answer like a broken proxy.
With ``single_use`` a token passes once, as Cloudflare's do, and again only with the
``idempotency_key`` (a UUID) of its first validation; otherwise ``timeout-or-duplicate``.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

from flask import Flask, Response, jsonify, request

from .server import FakeServer

_WIDGET = """
window.turnstile = {
  render(el, options) {
    const [token, afterMs, challengeMs] = [%s, %d, %d];
    el.dataset.language = options.language ?? "auto";  // the language the real widget would speak
    const pass = () => {
      el.textContent = "Verified (test stand-in)";
      setTimeout(() => options.callback(token), afterMs);
    };
    if (!challengeMs) return pass(), "widget-1";
    el.textContent = "Verify you are human (test stand-in)";
    options["before-interactive-callback"]?.();
    setTimeout(() => (options["after-interactive-callback"]?.(), pass()), challengeMs);
    return "widget-1";
  },
  reset() {},
};
"""


class FakeTurnstile:
    """Serves ``/api.js`` and ``/siteverify``; ``verified`` records every form siteverify got."""

    def __init__(
        self,
        *,
        secret: str,
        good_token: str = "good-token",
        token: str = "good-token",
        single_use: bool = False,
        token_after_ms: int = 50,
        challenge_ms: int = 0,
    ) -> None:
        """Build the app (not started: use ``server`` as a context manager or ``server.start()``)."""
        self.down = False
        self.verified: list[dict[str, str]] = []
        self.good_tokens = {good_token}
        self.solved = itertools.count(1)
        first_keys: dict[str, str | None] = {}  # a validated token: the idempotency_key it came with
        app = Flask("fake_turnstile")

        @app.get("/api.js")
        def script() -> Response:
            widget = _WIDGET % (_js_string(token), token_after_ms, challenge_ms)
            return Response(widget, mimetype="text/javascript")

        @app.post("/siteverify")
        def siteverify() -> Any:
            if self.down:
                return "<html><body>502 Bad Gateway</body></html>", 502
            form = request.form.to_dict()
            self.verified.append(form)
            key = form.get("idempotency_key")
            if key is not None and not _is_uuid(key):
                return jsonify({"success": False, "error-codes": ["bad-request"]})
            response = form.get("response", "")
            ok = form.get("secret") == secret and response in self.good_tokens
            if ok and single_use:
                token_seen = response in first_keys
                if token_seen and (key is None or first_keys[response] != key):
                    return jsonify({"success": False, "error-codes": ["timeout-or-duplicate"]})
                first_keys.setdefault(response, key)
            return jsonify({"success": ok, "error-codes": [] if ok else ["invalid-input-response"]})

        self.server = FakeServer(app)

    def solve(self) -> str:
        """A new token siteverify passes, as each check a visitor solves gives one."""
        token = f"solved-{next(self.solved)}-{uuid.uuid4().hex}"
        self.good_tokens.add(token)
        return token


def _is_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID, as siteverify wants an idempotency_key."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _js_string(text: str) -> str:
    """``text`` as a JavaScript string literal."""
    return json.dumps(text)
