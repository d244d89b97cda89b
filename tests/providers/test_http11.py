"""The HTTP/1.1 transport, against a loopback server that answers with scripted bytes."""

from __future__ import annotations

import gzip
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.services import self_signed_certificate
from webapp.errors import ProviderTimeout
from webapp.providers import http11
from webapp.providers.http11 import HTTP11Transport
from webapp.providers.transport import Transport

TIMEOUT = httpx.Timeout(5.0)
JSON = b'{"call_id":"c-1"}'


def ok(body: bytes = JSON, *extra: str) -> bytes:
    """A kept-alive 200 with ``body`` and a Content-Length."""
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@dataclass
class Reply:
    """What the server writes for one request, and whether it then closes the connection."""

    data: bytes
    close: bool = False
    delay_s: float = 0.0
    trickle_s: float = 0.0  # a pause after each byte: the answer dribbles in


class ScriptedServer:
    """A loopback server: each request gets the next reply, written as is (or the connection is
    closed when none is left). It counts connections and keeps every request it read."""

    def __init__(self, replies: list[Reply], tls: ssl.SSLContext | None = None) -> None:
        self.replies = replies
        self.tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = httpx.URL(f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/v1/calls?x=1")
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.tls:
                sock = self.tls.wrap_socket(sock, server_side=True)
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                lengths = [line[15:] for line in lines if line.startswith(b"content-length:")]
                length = int(lengths[0]) if lengths else 0
                while len(buffer) < length:
                    buffer += sock.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                with self.lock:
                    self.requests.append(head + b"\r\n\r\n" + body)
                    reply = self.replies.pop(0) if self.replies else None
                if reply is None:
                    return
                time.sleep(reply.delay_s)
                if reply.trickle_s:
                    for byte in reply.data:
                        sock.sendall(bytes([byte]))
                        time.sleep(reply.trickle_s)
                else:
                    sock.sendall(reply.data)
                if reply.close:
                    return
        except OSError:
            return
        finally:
            sock.close()

    def close(self) -> None:
        self.listener.close()


Serve = Callable[..., ScriptedServer]  # the fixture: replies (and TLS) in, a started server out


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start scripted servers; all are closed after the test."""
    started: list[ScriptedServer] = []

    def start(replies: list[Reply], tls: ssl.SSLContext | None = None) -> ScriptedServer:
        started.append(ScriptedServer(replies, tls))
        return started[-1]

    yield start
    for server in started:
        server.close()


def post(transport: HTTP11Transport, url: httpx.URL, headers: dict[str, str] | None = None) -> http11.Answer:
    """A POST as ``Transport`` sends it: every header given, Host and Content-Length included."""
    raw = [(b"Host", url.netloc), (b"Content-Length", b"2")]
    raw += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    return transport.exchange("POST", url, raw, b"{}", TIMEOUT)


def post_together(transport: HTTP11Transport, url: httpx.URL, count: int) -> None:
    """``count`` POSTs at once, each from a thread of its own; returns when all are answered."""
    threads = [threading.Thread(target=post, args=(transport, url)) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_a_connection_is_kept_alive_and_used_again(serve: Serve) -> None:
    server = serve([Reply(ok()), Reply(ok(b'{"call_id":"c-2"}')), Reply(ok())])
    transport = HTTP11Transport()
    answers = [post(transport, server.url, {"Authorization": "Bearer k"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[1].content == b'{"call_id":"c-2"}'
    assert answers[0].header("content-type") == "application/json"
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v1/calls?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % server.port)
    assert b"\r\nAuthorization: Bearer k\r\n" in first and first.endswith(b"\r\n\r\n{}")


def test_requests_in_flight_each_have_a_connection_and_idle_ones_are_bounded(
    serve: Serve,
) -> None:
    server = serve([Reply(ok(), delay_s=0.3), Reply(ok(), delay_s=0.3), Reply(ok())])
    transport = HTTP11Transport(idle=1)
    post_together(transport, server.url, 2)
    assert server.connections == 2  # the second request did not wait for the first's connection
    assert len(transport.free[("http", "127.0.0.1", server.port)]) == 1  # one idle kept, one closed
    assert post(transport, server.url).status_code == 200
    assert server.connections == 2  # the kept one served it
    transport.close()
    assert transport.free == {} and transport.closed


def test_connections_unused_for_longer_than_the_keepalive_are_closed(serve: Serve) -> None:
    """The warmest is lent; the oldest, left at the bottom, is closed once it has expired."""
    server = serve([Reply(ok(), delay_s=0.2), Reply(ok(), delay_s=0.2), *[Reply(ok()) for _ in range(3)]])
    transport = HTTP11Transport(keepalive_s=1.0)
    post_together(transport, server.url, 2)
    idle = transport.free[("http", "127.0.0.1", server.port)]
    oldest = idle[0][0]
    for _ in range(2):
        time.sleep(0.6)
        assert post(transport, server.url).status_code == 200  # on the warmest, not expired
    assert server.connections == 2
    assert len(idle) == 1 and oldest.fileno() == -1  # unused for 1.2 s: closed as the other came back
    time.sleep(1.1)
    assert post(transport, server.url).status_code == 200
    assert server.connections == 3  # the last one had expired too: a new connection


def test_a_connection_the_server_closed_is_not_written_to(serve: Serve) -> None:
    """The server closes after answering without saying so: the next request opens a new one."""
    server = serve([Reply(ok(), close=True), Reply(ok())])
    transport = HTTP11Transport()
    assert post(transport, server.url).status_code == 200
    time.sleep(0.2)  # the server's FIN arrives
    assert post(transport, server.url).status_code == 200
    assert server.connections == 2 and len(server.requests) == 2


@pytest.mark.parametrize(
    "reply",
    [
        ok(JSON, "Connection: close"),
        b"HTTP/1.0 200 OK\r\nContent-Length: 17\r\n\r\n" + JSON,  # HTTP/1.0 closes unless asked not to
    ],
)
def test_an_answer_that_closes_its_connection_is_not_kept(serve: Serve, reply: bytes) -> None:
    server = serve([Reply(reply, close=True)])
    transport = HTTP11Transport()
    assert post(transport, server.url).content == JSON
    assert not transport.free.get(("http", "127.0.0.1", server.port))


def test_chunked_compressed_and_interim_answers_are_read_whole(serve: Serve) -> None:
    packed = gzip.compress(JSON)
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (5, packed[:5], len(packed) - 5, packed[5:])
    reply = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
    )
    server = serve([Reply(reply), Reply(reply)])
    transport = HTTP11Transport()
    answer = post(transport, server.url)
    assert (answer.status_code, answer.content) == (201, JSON)
    assert answer.header("Link") is None  # the interim answer's headers are not the answer's
    with httpx.Client(transport=transport) as client:  # httpx's interface, decoded by httpx
        response = client.post(server.url, json={"a": 1})
    assert (response.status_code, response.json()) == (201, {"call_id": "c-1"})
    assert server.connections == 1


def test_a_body_that_runs_until_the_server_closes_is_read(serve: Serve) -> None:
    server = serve([Reply(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + JSON, close=True)])
    assert post(HTTP11Transport(), server.url).content == JSON


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(b"", close=True), "Server disconnected without sending a response."),
        (Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", close=True), "The answer was cut short."),
        (Reply(b"HELLO THERE\r\n\r\n", close=True), "The answer is not valid HTTP/1.1"),
        (Reply(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"), "headers are too large"),
    ],
)
def test_broken_answers_are_protocol_errors(serve: Serve, reply: Reply, error: str) -> None:
    server = serve([reply])
    transport = HTTP11Transport()
    with pytest.raises(httpx.RemoteProtocolError, match=error):
        post(transport, server.url)
    assert not transport.free.get(("http", "127.0.0.1", server.port))


def test_a_body_too_large_is_refused(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http11, "MAX_BODY_BYTES", 1000)
    server = serve([Reply(ok(b"x" * 5000))])
    with pytest.raises(httpx.RemoteProtocolError, match="The answer's body is too large."):
        post(HTTP11Transport(), server.url)


def deflate(data: bytes) -> bytes:
    """``data`` as raw deflate, without zlib's wrapper: what some servers send as ``deflate``."""
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "pack"), [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", deflate)]
)
def test_a_body_that_decompresses_past_the_limit_is_refused(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, coding: str, pack: Callable[[bytes], bytes]
) -> None:
    """The limit holds for the body decoded, not only as sent: a megabyte of gzip can hold gigabytes."""
    monkeypatch.setattr(http11, "MAX_BODY_BYTES", 4096)
    at_limit, past_it = pack(b"x" * 4096), pack(b"x" * 4097)
    assert len(past_it) < 100  # on the wire, far below the limit
    encoded = f"Content-Encoding: {coding}"
    server = serve([Reply(ok(at_limit, encoded)), Reply(ok(past_it, encoded))])
    transport = HTTP11Transport()
    assert post(transport, server.url).content == b"x" * 4096
    with pytest.raises(httpx.RemoteProtocolError, match="The answer's body is too large."):
        post(transport, server.url)


def gzip_of_zeros(size: int) -> bytes:
    """``size`` zero bytes, gzipped: a thousandth of that on the wire (a gzip bomb)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    megabyte = bytes(2**20)
    return b"".join(packer.compress(megabyte) for _ in range(size // 2**20)) + packer.flush()


def test_httpx_interface_refuses_a_body_that_decompresses_past_the_limit(serve: Serve) -> None:
    """The shared client's own requests (the readiness probe, the bot check, the room reaper) go
    through ``handle_request``: httpx would inflate a gzip bomb whole, so the limit holds there too."""
    bomb = gzip_of_zeros(4 * http11.MAX_BODY_BYTES)
    assert len(bomb) < http11.MAX_BODY_BYTES // 64  # on the wire, far below the limit
    encoded = "Content-Encoding: gzip"
    server = serve([Reply(ok(bomb, encoded)), Reply(ok(gzip.compress(JSON), encoded))])
    with httpx.Client(transport=HTTP11Transport()) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="The answer's body is too large."):
            client.get(server.url)
        response = client.get(server.url)  # decoded once, here: httpx finds no coding left to undo
        assert (response.json(), response.headers.get("Content-Encoding")) == ({"call_id": "c-1"}, None)


def test_an_answer_that_trickles_in_is_cut_at_the_deadline(serve: Serve) -> None:
    """A byte every 50 ms never trips a 0.5 s read timeout, but the whole answer must be in
    within the deadline (gunicorn's graceful shutdown waits for no longer than that)."""
    server = serve([Reply(ok(), trickle_s=0.05)])  # about 5 s for the whole answer
    backend = HTTP11Transport()
    client = httpx.Client(transport=backend, timeout=httpx.Timeout(0.5, connect=0.5))
    transport = Transport(client, provider="test", deadline_s=1.0)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        transport.post_json(str(server.url), headers={}, body={})
    assert time.monotonic() - started < 3.0
    assert server.connections == 1  # not retried: the deadline is spent
    assert not backend.free.get(("http", "127.0.0.1", server.port))  # nor kept: it is out of step


def test_timeouts_and_refusals_are_httpx_errors(serve: Serve) -> None:
    server = serve([Reply(ok(), delay_s=1.0)])
    transport = HTTP11Transport()
    raw = [(b"Host", server.url.netloc), (b"Content-Length", b"0")]
    with pytest.raises(httpx.ReadTimeout):
        transport.exchange("POST", server.url, raw, b"", httpx.Timeout(0.2))
    with pytest.raises(httpx.ConnectError):
        post(transport, httpx.URL("http://127.0.0.1:9/"))  # the discard port: nothing listens
    with pytest.raises(httpx.UnsupportedProtocol):
        post(transport, httpx.URL("ftp://127.0.0.1/"))


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Key": "k\r\nX-Injected: 1"},
        {"X Key": "k"},
        {"X-Key": "k\x00"},
        {"": "k"},
        {"X-Key\nX-Injected": "1"},  # names are checked together, a line each: never one as two
        {"X-Key": "k", "X-Injected\n": "1"},
    ],
)
def test_a_header_that_would_break_the_framing_is_never_sent(serve: Serve, headers: dict[str, str]) -> None:
    server = serve([Reply(ok())])
    with pytest.raises(httpx.LocalProtocolError, match="invalid header"):
        post(HTTP11Transport(), server.url, headers)
    assert server.requests == [] and server.connections == 0


def server_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server's TLS context with a throwaway certificate, and the certificate to trust."""
    cert, key = self_signed_certificate(folder)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    return tls, cert


def test_tls_is_verified_kept_alive_and_dropped_once_closed(serve: Serve, tmp_path: Path) -> None:
    tls, cert = server_tls(tmp_path)
    server = serve([Reply(ok()), Reply(ok(), close=True), Reply(ok())], tls=tls)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        post(HTTP11Transport(), server.url)  # httpx's default trust: the test's certificate is not in it
    trusting = HTTP11Transport(tls=ssl.create_default_context(cafile=str(cert)))
    assert [post(trusting, server.url).content for _ in range(2)] == [JSON, JSON]
    assert server.connections == 2  # the refused handshake, then one kept-alive connection
    time.sleep(0.2)  # the server has closed it (TLS close_notify and FIN)
    assert post(trusting, server.url).content == JSON
    assert server.connections == 3


UNDER_GEVENT = """
from gevent import monkey; monkey.patch_all()
import ssl, sys, time, httpx
from webapp.providers.http11 import HTTP11Transport
url, cafile = httpx.URL(sys.argv[1]), sys.argv[2]
transport = HTTP11Transport(tls=ssl.create_default_context(cafile=cafile))
headers = [(b"Host", url.netloc), (b"Content-Length", b"0")]
for pause in (0, 0, 0.3, 0):
    time.sleep(pause)
    print(transport.exchange("POST", url, headers, b"", httpx.Timeout(5)).status_code)
"""


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_under_gevent_connections_are_kept_and_dropped_once_closed(
    serve: Serve, tmp_path: Path, tls: bool
) -> None:
    """gunicorn's worker runs on gevent's sockets: kept alive, peeked at without waiting, dropped
    once the server closed them, over TLS too."""
    context, cert = server_tls(tmp_path)
    server = serve(
        [Reply(ok()), Reply(ok(), close=True), Reply(ok()), Reply(ok())], tls=context if tls else None
    )
    run = subprocess.run(
        [sys.executable, "-c", UNDER_GEVENT, str(server.url), str(cert)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert (run.returncode, run.stdout.split()) == (0, ["200"] * 4), run.stderr
    assert server.connections == 2  # the first two on one connection, the last two on the next


IDLE_CHECK_UNDER_GEVENT = """
from gevent import monkey; monkey.patch_all()
import gevent, os, resource, socket
from webapp.providers.http11 import _closed_by_peer
ours, theirs = socket.socketpair()
others = []
gevent.spawn(others.append, "ran")  # ready: it runs as soon as anything yields to the loop
print(_closed_by_peer(ours), others)
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
high = socket.socket(fileno=os.dup2(ours.fileno(), 1500))  # beyond select's 1023
print(_closed_by_peer(high))
theirs.close()
print(_closed_by_peer(ours), _closed_by_peer(high))
"""


def test_under_gevent_the_idle_check_does_not_yield_to_other_calls() -> None:
    """gevent's own ``select`` yields to its loop even with a zero timeout: in a burst, every
    call then waited for all the others to reach the same point before sending anything to
    its provider (bench/README.md). The check must answer at once, on any descriptor (a
    worker with a thousand callers goes past ``select``'s 1023), and still see a close."""
    run = subprocess.run(
        [sys.executable, "-c", IDLE_CHECK_UNDER_GEVENT],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert (run.returncode, run.stdout.splitlines()) == (0, ["False []", "False", "True True"]), run.stderr


def test_a_request_built_by_hand_gets_httpx_default_timeout(serve: Serve) -> None:
    """httpx's client always sets the timeout extension; a request made without it still works."""
    server = serve([Reply(ok())])
    response = HTTP11Transport().handle_request(httpx.Request("GET", server.url))
    response.read()  # a transport's answer is a stream until read, as with httpx's own
    assert (response.status_code, response.json()) == (200, {"call_id": "c-1"})
    assert server.requests[0].startswith(b"GET /v1/calls?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")


def test_the_answer_to_a_head_request_ends_with_its_headers(serve: Serve) -> None:
    """A HEAD answer announces a body it does not send: read it without waiting for one."""
    server = serve([Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n"), Reply(ok())])
    transport = HTTP11Transport()
    raw = [(b"Host", server.url.netloc)]
    answer = transport.exchange("HEAD", server.url, raw, b"", httpx.Timeout(2.0))
    assert (answer.status_code, answer.content, answer.header("Content-Length")) == (200, b"", "17")
    assert post(transport, server.url).content == JSON
    assert server.connections == 2  # not kept: llhttp would read the next answer as a body


def test_a_provider_request_has_the_clients_headers_with_its_own_in_their_place(serve: Serve) -> None:
    """``Transport`` writes the head itself: the client's defaults, each replaced (any case) by
    the request's own header of that name, and one Content-Type and Content-Length for the JSON."""
    server = serve([Reply(ok())])
    defaults = {"User-Agent": "webcall/test", "X-Default": "d"}
    transport = Transport(httpx.Client(transport=HTTP11Transport(), headers=defaults), provider="test")
    headers = {"user-agent": "mine", "Authorization": "Bearer k", "X-Name": "café"}
    assert transport.post_json(str(server.url), headers=headers, body={"a": 1}) == {"call_id": "c-1"}
    head, body = server.requests[0].split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")[1:]
    sent = sorted((name.lower(), value) for name, value in (line.split(b": ", 1) for line in lines))
    assert [name for name, _ in sent if name == b"user-agent"] == [b"user-agent"]  # one, ours
    assert (b"user-agent", b"mine") in sent and (b"x-default", b"d") in sent
    assert (b"authorization", b"Bearer k") in sent and (b"x-name", "café".encode()) in sent
    assert (b"content-type", b"application/json") in sent and (b"content-length", b"7") in sent
    assert body == b'{"a":1}'
