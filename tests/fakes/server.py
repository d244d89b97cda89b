"""Serve a fake provider app over real HTTP on 127.0.0.1, in a background thread."""

from __future__ import annotations

import selectors
import socket
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
        self._waker: socket.socket | None = None

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
        self._waker, woken = socket.socketpair()
        self._thread = threading.Thread(target=_serve, args=(server, woken), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None or self._waker is None or self._thread is None:
            return
        self._waker.close()  # the serving thread wakes at once (no poll interval to wait out)
        self._thread.join(timeout=5)
        self._server.server_close()
        self._server = self._thread = self._waker = None

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


def _serve(server: BaseWSGIServer, woken: socket.socket) -> None:
    """Answer ``server``'s connections until ``woken``'s other end is closed.

    socketserver's ``serve_forever`` looks for a stop request between polls, so every stop
    waited up to a poll interval; a test suite stops thousands of fakes.
    """
    with woken, selectors.DefaultSelector() as selector:
        selector.register(server.socket, selectors.EVENT_READ)
        selector.register(woken, selectors.EVENT_READ)
        while all(key.fileobj is not woken for key, _ in selector.select()):
            server.handle_request()
