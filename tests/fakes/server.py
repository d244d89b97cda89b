"""Serve a fake provider app over real HTTP on 127.0.0.1, in a background thread."""

from __future__ import annotations

import threading
from types import TracebackType

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

# Load tests open a few hundred connections at once; werkzeug listens with a backlog of 128.
_LISTEN_BACKLOG = 1024


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without a log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Say nothing: tests make thousands of requests."""


class FakeServer:
    """A threaded werkzeug server for one fake app; a context manager or start()/stop()."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare to serve `app` on `host`:`port` (0 picks a free port at start)."""
        self.app = app
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The provider base URL, e.g. http://127.0.0.1:PORT (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("FakeServer is not started")
        return f"http://{self.host}:{self._server.port}"

    def start(self) -> FakeServer:
        """Bind, then serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        server = make_server(self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler)
        server.socket.listen(_LISTEN_BACKLOG)  # re-listen to raise the accept backlog
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeServer:
        """Start serving."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop serving."""
        self.stop()
