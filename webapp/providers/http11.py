"""An httpx transport for HTTP/1.1 on kept-alive sockets, with llhttp (``httptools``) reading answers.

httpx's default transport (httpcore's pool, with h11 parsing in Python) cost more of a call's
CPU in the worker than anything else: 0.36 ms a request in a loop here, against 0.16 ms for
the standard library's ``http.client`` (whose headers go through the ``email`` parser) and
0.06 ms for a socket with Node's C parser, llhttp, through ``httptools`` (bench/README.md).
:meth:`HTTP11Transport.exchange` is that last one. ``handle_request`` wraps it in httpx's
interface for everything else on the shared client (the readiness probe, the bot check);
``Transport`` calls ``exchange`` directly, without building httpx's request and response
objects. Failures are httpx's exception tree either way, so callers map one set of errors.
Under gevent the sockets are gevent's, like everything else in the worker.
"""

from __future__ import annotations

import functools
import re
import select
import socket
import ssl
import threading
import time
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import httptools
import httpx
from gevent.monkey import get_original

Origin = tuple[str, str, int]  # scheme, host, port
Headers = Sequence[tuple[bytes, bytes]]
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HEAD_BYTES = 64 * 1024  # status line and headers of one answer
MAX_BODY_BYTES = 16 * 1024 * 1024  # a provider's JSON is a few kB: anything near this is broken
WBITS = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}  # the codings httpx asks for
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110, 5.6.2)
NAMES = re.compile(rb"%s(?:\n%s)*" % (TOKEN.pattern, TOKEN.pattern))  # header names, one a line
LINE_BREAK = re.compile(rb"[\r\n\x00]")  # never in a header value: it would start a new header
POLL = get_original("select", "poll")  # never gevent's: see _closed_by_peer


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, read whole: the status, the headers as sent and the decoded body."""

    status_code: int
    headers: Headers
    content: bytes  # with any content coding (gzip, …) removed

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower().encode("ascii")
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced): for log lines."""
        return self.content.decode("utf-8", "replace")


class _Reader:
    """llhttp's callbacks for one answer: they collect the headers and the body."""

    __slots__ = (
        "body", "body_bytes", "complete", "head_bytes", "headers",
        "keep_alive", "parser", "started", "trailing",
    )  # fmt: skip

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_bytes = 0
        self.body: list[bytes] = []
        self.body_bytes = 0
        self.started = False  # the headers are all in
        self.complete = False
        self.keep_alive = False  # read as the answer completes: llhttp resets it for the next one
        self.trailing = False  # bytes after the answer: the connection is out of step

    def on_message_begin(self) -> None:
        self.trailing = self.complete

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        self.head_bytes += len(name) + len(value)
        if self.head_bytes > MAX_HEAD_BYTES:
            raise httpx.RemoteProtocolError("The answer's headers are too large.")
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.started = True

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.body_bytes += len(body)
        if self.body_bytes > MAX_BODY_BYTES:
            raise httpx.RemoteProtocolError("The answer's body is too large.")
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.complete:
            return
        if self.parser.get_status_code() < 200:  # an interim answer (103 Early Hints): the real one follows
            self.headers, self.body, self.started = [], [], False
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()

    def close_delimited(self) -> bool:
        """True when the body runs until the server closes (no length, not chunked)."""
        names = {name.lower() for name, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names


@functools.cache
def default_tls() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CAs, verified), made once a process: reading the
    CAs takes 50 ms, and a context serves any number of connections from any thread."""
    return httpx.create_ssl_context()


class HTTP11Transport(httpx.BaseTransport):
    """Sends each request on a connection of its own, kept alive for the next one.

    A request borrows an idle connection to its origin (the most recently used: the warmest)
    or opens one, and gives it back once the answer is read, unless either side said it would
    close. So a burst of callers never waits for another call's connection and no request
    scans a pool to find one. At most ``idle`` connections per origin are kept, none longer
    than ``keepalive_s`` unused (the oldest are closed as others come back), and one the
    server has closed meanwhile (it reads as ready) is dropped before a request is written
    to it. 256 idle keep a burst of 200 callers warm for the next: ×0.93 of the worker's CPU
    per call in the backend benchmark's bursts against 64 (bench/README.md).
    """

    def __init__(
        self, *, tls: ssl.SSLContext | None = None, idle: int = 256, keepalive_s: float = 5.0
    ) -> None:
        self.tls = tls or default_tls()
        self.idle = idle
        self.keepalive_s = keepalive_s
        self.free: dict[Origin, deque[tuple[socket.socket, float]]] = {}
        self.lock = threading.Lock()
        self.closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """httpx's interface: the whole answer is read, and decoded, before it is returned.

        Decoded here, under the same limit as ``exchange``, and handed over without its
        Content-Encoding: httpx would inflate it with no limit at all (a megabyte of gzip zeros
        from a hostile server grew to over 200 MB in the worker). The content reads as httpx's
        own decoding would give it; Content-Length stays the length sent, as with httpx's."""
        timeouts = request.extensions.get("timeout")
        timeout = httpx.Timeout(**timeouts) if timeouts else httpx.Timeout(5.0)  # httpx's own default
        status, headers, body = self._send(
            request.method, request.url, request.headers.raw, request.read(), timeout
        )
        codings = _codings(headers)
        if codings:
            body = _decoded(body, codings)
            headers = [(name, value) for name, value in headers if name.lower() != b"content-encoding"]
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions={"http_version": b"HTTP/1.1"},
            request=request,
        )

    def exchange(
        self,
        method: str,
        url: httpx.URL,
        headers: Headers,
        body: bytes,
        timeout: httpx.Timeout,
        deadline: float | None = None,
    ) -> Answer:
        """Send ``method url`` with ``headers`` (all of them: Host and Content-Length included)
        and ``body``; return the whole answer, decoded. With a ``deadline`` (``time.monotonic()``)
        the answer must be in by then, however steadily its bytes arrive (ReadTimeout)."""
        status, received, content = self._send(method, url, headers, body, timeout, deadline)
        codings = _codings(received)
        return Answer(status, received, _decoded(content, codings) if codings else content)

    def _send(
        self,
        method: str,
        url: httpx.URL,
        headers: Headers,
        body: bytes,
        timeout: httpx.Timeout,
        deadline: float | None = None,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One exchange on a borrowed or new connection: the status, headers and raw body."""
        head = _head(method, url, headers)
        origin = (url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme, 80))
        sock = self._borrow(origin) or self._connect(origin, timeout.connect)
        reader = _Reader()
        writing = True
        try:
            sock.settimeout(timeout.write)
            sock.sendall(head + body if body else head)
            writing = False
            received = 0
            head_only = method == "HEAD"  # its answer has headers only, whatever they announce
            while not (reader.complete or (head_only and reader.started)):
                sock.settimeout(_read_timeout(timeout.read, deadline))
                data = sock.recv(65536)
                if not data:
                    if reader.started and reader.close_delimited():
                        break
                    message = "Server disconnected without sending a response."
                    raise httpx.RemoteProtocolError(message if not received else "The answer was cut short.")
                received += len(data)
                reader.parser.feed_data(data)
                if not reader.started and received > MAX_HEAD_BYTES:
                    raise httpx.RemoteProtocolError("The answer's headers are too large.")
        except BaseException as exc:
            sock.close()
            translated = _translated(exc, writing)
            if translated is exc:
                raise
            raise translated from exc
        if reader.complete and reader.keep_alive and not reader.trailing:
            self._give_back(origin, sock)
        else:
            sock.close()
        return reader.parser.get_status_code(), reader.headers, b"".join(reader.body)

    def _borrow(self, origin: Origin) -> socket.socket | None:
        """The warmest idle connection to ``origin`` that is still open, if any."""
        while True:
            with self.lock:
                idle = self.free.get(origin)
                if not idle:
                    return None
                sock, since = idle.pop()
            if time.monotonic() - since < self.keepalive_s and not _closed_by_peer(sock):
                return sock
            sock.close()

    def _give_back(self, origin: Origin, sock: socket.socket) -> None:
        """Keep ``sock`` for the next request to ``origin`` (or close it), and close those unused
        for longer than ``keepalive_s``."""
        now = time.monotonic()
        expired = []
        with self.lock:
            idle = self.free.setdefault(origin, deque())
            while idle and now - idle[0][1] >= self.keepalive_s:
                expired.append(idle.popleft()[0])
            if not self.closed and len(idle) < self.idle:
                idle.append((sock, now))
            else:
                expired.append(sock)
        for old in expired:
            old.close()

    def _connect(self, origin: Origin, timeout_s: float | None) -> socket.socket:
        """A new connection to ``origin`` (TCP, and TLS for https) within the connect timeout."""
        scheme, host, port = origin
        if scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme}://'.")
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out") from exc
        except OSError as exc:  # refused, unreachable, a name that does not resolve
            raise httpx.ConnectError(_describe(exc)) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "http":
            return sock
        try:
            return self.tls.wrap_socket(sock, server_hostname=host)
        except BaseException as exc:
            sock.close()
            if isinstance(exc, TimeoutError):
                raise httpx.ConnectTimeout(str(exc) or "timed out") from exc
            if isinstance(exc, OSError):  # ssl.SSLError among them: a bad certificate, a failed handshake
                raise httpx.ConnectError(_describe(exc)) from exc
            raise

    def close(self) -> None:
        """Close every idle connection (one still lent out is closed when it comes back)."""
        with self.lock:
            idle, self.free, self.closed = self.free, {}, True
        for connections in idle.values():
            for sock, _ in connections:
                sock.close()


def _head(method: str, url: httpx.URL, headers: Headers) -> bytes:
    """The request line and headers, refusing a header that would break the framing.

    The names are checked together (one match over them all, a line each) and so are the
    values: two regular expressions a request instead of two a header."""
    names = b"\n".join(name for name, _ in headers)  # a name with a line break of its own: one line too many
    names_ok = not headers or (NAMES.fullmatch(names) and names.count(b"\n") == len(headers) - 1)
    if not names_ok or LINE_BREAK.search(b"".join(value for _, value in headers)):
        bad = next(name for name, value in headers if not TOKEN.fullmatch(name) or LINE_BREAK.search(value))
        raise httpx.LocalProtocolError(f"Refusing to send an invalid header: {bad[:40]!r}")
    lines = b"".join(b"%s: %s\r\n" % pair for pair in headers)
    return b"%s %s HTTP/1.1\r\n%s\r\n" % (method.encode("ascii"), url.raw_path, lines)


def _read_timeout(read_s: float | None, deadline: float | None) -> float | None:
    """The timeout of the next read: the read timeout, cut to what is left before ``deadline``.

    The read timeout alone bounds each wait, not the answer: a server sending a byte every
    half second would hold the request for as long as it liked."""
    if deadline is None:
        return read_s
    left_s = deadline - time.monotonic()
    if left_s <= 0:
        raise httpx.ReadTimeout("The answer did not arrive within the deadline.")
    return left_s if read_s is None else min(read_s, left_s)


def _codings(headers: Headers) -> str:
    """The content codings an answer's headers list, in the order applied ("" for none)."""
    codings = b",".join(value for name, value in headers if name.lower() == b"content-encoding")
    return codings.decode("latin-1")


def _decoded(content: bytes, codings: str) -> bytes:
    """``content`` with its content codings removed, the last applied first, as httpx would (one
    it does not know stays as it is), but never to more than ``MAX_BODY_BYTES``: a megabyte of
    gzip can hold gigabytes."""
    for coding in reversed(codings.lower().split(",")):
        coding = coding.strip()
        if coding in WBITS:
            try:
                content = _inflated(content, coding)
            except zlib.error as exc:
                raise httpx.DecodingError(_describe(exc)) from exc
    return content


def _inflated(data: bytes, coding: str) -> bytes:
    """``data`` decompressed, up to one byte past ``MAX_BODY_BYTES`` (then refused). ``deflate``
    comes in zlib's wrapper or raw, whatever the RFC says: httpx tries both, and so do we."""
    try:
        content = zlib.decompressobj(WBITS[coding]).decompress(data, MAX_BODY_BYTES + 1)
    except zlib.error:
        if coding != "deflate":
            raise
        content = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data, MAX_BODY_BYTES + 1)
    if len(content) > MAX_BODY_BYTES:
        raise httpx.RemoteProtocolError("The answer's body is too large.")
    return content


def _closed_by_peer(sock: socket.socket) -> bool:
    """True when an idle connection reads as ready: the server closed it (or is out of step).

    The standard library's ``poll`` (``select`` stops at descriptor 1023), even in gunicorn's
    gevent worker: gevent's own yields to its event loop, zero timeout or not. In a burst,
    every call then waited at this check until all the others had reached it, and only then
    did any request leave for the provider: a burst of 200 took 550 ms instead of 470
    (bench/README.md).
    """
    poller = POLL()
    try:
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _translated(exc: BaseException, writing: bool) -> BaseException:
    """An exchange's failure as httpx's exception tree (those already in it pass through)."""
    if isinstance(exc, httpx.TransportError) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, TimeoutError):
        return (httpx.WriteTimeout if writing else httpx.ReadTimeout)(str(exc) or "timed out")
    if isinstance(exc, OSError):  # reset, broken pipe, a TLS error mid-stream
        return (httpx.WriteError if writing else httpx.ReadError)(_describe(exc))
    if isinstance(exc, httptools.HttpParserCallbackError) and isinstance(
        exc.__context__, httpx.TransportError
    ):
        return exc.__context__  # raised by a callback (a body too large)
    if isinstance(exc, httptools.HttpParserError | httptools.HttpParserUpgrade):
        return httpx.RemoteProtocolError(f"The answer is not valid HTTP/1.1: {_describe(exc)}")
    return exc


def _describe(exc: BaseException) -> str:
    """A short description of a low-level failure (it never holds the request)."""
    return f"{type(exc).__name__}: {exc}"[:200]
