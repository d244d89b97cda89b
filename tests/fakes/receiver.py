"""A site's endpoint for our events (``WEBCALL_EVENTS_URL``): keeps what reaches it, checks it as
a receiver would, with the Standard Webhooks reference library."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from standardwebhooks import Webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # Standard Webhooks' own example secret


@dataclass
class Receiver:
    """An HTTP endpoint that keeps every request and answers the statuses it is given, in turn."""

    statuses: list[int] = field(default_factory=list)  # then 204 for ever
    delay_s: float = 0.0
    received: list[tuple[dict[str, str], bytes, str]] = field(default_factory=list)  # headers, body, URL
    spans: list[tuple[float, float]] = field(
        default_factory=list
    )  # each one's arrival and answer (monotonic)
    in_flight: int = 0
    most_in_flight: int = 0  # the most requests it held at once
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Flask:
        """The endpoint, ``POST /hooks/webcall``, to serve (``FakeServer``)."""
        app = Flask("receiver")

        @app.post("/hooks/webcall")
        def hook() -> Response:
            arrived = time.monotonic()
            with self.lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            time.sleep(self.delay_s)
            with self.lock:
                self.in_flight -= 1
                self.spans.append((arrived, time.monotonic()))
                self.received.append((dict(request.headers), request.get_data(), request.url))
                status = self.statuses.pop(0) if self.statuses else 204
            headers = {"Location": "https://elsewhere.example/"} if 300 <= status < 400 else {}
            return Response(status=status, headers=headers)

        return app

    def events(self) -> list[dict[str, Any]]:
        """Each request's body, once its signature is checked as a receiver checks it."""
        return [Webhook(SECRET).verify(body, headers) for headers, body, _ in self.received]
