"""Request bodies through gunicorn (the production entry point): a body that is cut, badly
framed, too large or stalled is answered in JSON and the connection closed; never a 500."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from livekit import api

from tests.support.apps import OfflineLiveKit, offline_livekit_env
from tests.support.raw_http import send_raw, split_answer
from tests.support.stack import AppServer, start_app_server

CATALOGUE = '[agents.local]\nprovider = "livekit"\nagent_id = "webcall-demo"\n'
CLIENT_TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """One gunicorn worker with a short client timeout and a 1 kB body limit."""
    env = {**offline_livekit_env(), "WEBCALL_CLIENT_TIMEOUT_S": str(CLIENT_TIMEOUT_S),
           "WEBCALL_MAX_BODY_BYTES": "1024"}  # fmt: skip
    app = start_app_server(env, tmp_path_factory.mktemp("bodies"), agents_toml=CATALOGUE, workers=1)
    yield app
    app.process.stop()


def exchange(server: AppServer, head: str, body: bytes = b"") -> tuple[int, dict, bytes]:
    """Send a raw request (``head`` without its blank line), then read until the server closes.

    Returns the first answer's status and JSON body, and whatever came after that answer.
    """
    request = head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body
    status, headers, payload = split_answer(send_raw(server.url, request))
    length = int(headers["content-length"])
    return status, json.loads(payload[:length]), payload[length:]


def post(chunked: bool = False, length: int | None = None) -> str:
    """The head of ``POST /api/calls`` with a JSON body framed as asked."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
    head = "POST /api/calls HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nConnection: close"
    return f"{head}\n{framing}"


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk."""
    return b"%X\r\n%s\r\n" % (len(data), data)


@pytest.mark.parametrize(
    "body",
    [b"zz\r\nabc\r\n0\r\n\r\n", b"5\r\nabcdefgh\r\n0\r\n\r\n"],  # not a size; a chunk longer than its size
    ids=["chunk-size", "chunk-terminator"],
)
def test_a_badly_chunked_body_is_a_400_and_the_connection_closes(server: AppServer, body: bytes) -> None:
    """Found by fuzzing: gunicorn's parse error reached the app as a 500 with a traceback."""
    status, answer, after = exchange(server, post(chunked=True), body)
    assert (status, answer["error"]["code"]) == (400, "bad_request")
    assert after == b""  # one answer: gunicorn did not add its own for the rest of the body
    assert "Traceback" not in server.process.log()


def test_a_chunked_body_over_the_limit_is_refused_not_cut(server: AppServer) -> None:
    """Found by fuzzing: the first read returned the limit's worth, the JSON in it parsed, and
    the call was placed with the rest of the body never read. With a Content-Length: 413 too."""
    body = b'{"agent": "local"}' + b" " * 2000
    chunked = exchange(server, post(chunked=True), chunk(body[:700]) + chunk(body[700:]) + b"0\r\n\r\n")
    sized = exchange(server, post(length=len(body)), body)
    assert [(s, a["error"]["code"]) for s, a, _ in (chunked, sized)] == [(413, "payload_too_large")] * 2


def test_an_idle_keep_alive_connection_is_closed_quietly(server: AppServer) -> None:
    """The client timeout bounds a request's reads and writes only: between requests gunicorn's
    keep-alive timeout ends an idle connection without a socket error in the log."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for last in (False, True):
            if last:
                time.sleep(CLIENT_TIMEOUT_S + 0.5)  # idle past the client timeout, within keep-alive's
            closing = "Connection: close\r\n" if last else ""
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{closing}\r\n".encode())
            assert reader.readline().startswith(b"HTTP/1.1 200")
            head = [line.lower() for line in iter(reader.readline, b"\r\n")]
            length = next(int(line.split(b":")[1]) for line in head if line.startswith(b"content-length"))
            reader.read(length)
    assert "Socket error" not in server.process.log()


def test_a_chunked_body_within_the_limit_places_the_call(server: AppServer) -> None:
    body = b'{"agent": "local"}'
    status, answer, _ = exchange(server, post(chunked=True), chunk(body[:5]) + chunk(body[5:]) + b"0\r\n\r\n")
    assert status == 201 and answer["livekit"]["token"]


def test_a_stalled_body_is_a_408_after_the_client_timeout(server: AppServer) -> None:
    """Found by fuzzing: a client that announced 100 bytes and sent one held its connection for
    as long as it liked (gevent's worker waits on a body without end)."""
    started = time.monotonic()
    status, answer, after = exchange(server, post(length=100), b"{")
    waited_s = time.monotonic() - started
    assert (status, answer["error"]["code"], after) == (408, "request_timeout", b"")
    assert CLIENT_TIMEOUT_S <= waited_s < CLIENT_TIMEOUT_S + 5
    assert "Traceback" not in server.process.log()


def test_a_livekit_webhook_without_our_body_signature_is_refused_before_its_body(server: AppServer) -> None:
    """A caller's own token is signed with our key pair but carries no body hash: refused at once,
    not after the body it announces (a megabyte, sent slowly) has held the connection."""
    caller = (
        api.AccessToken(OfflineLiveKit.api_key, OfflineLiveKit.api_secret)
        .with_identity("caller-1")
        .with_grants(api.VideoGrants(room_join=True, room="webcall-local-1"))
        .to_jwt()
    )
    head = ("POST /webhooks/livekit HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/webhook+json\n"
            f"Authorization: Bearer {caller}\nConnection: close\nContent-Length: 1000")  # fmt: skip
    started = time.monotonic()
    status, body, _ = exchange(server, head)  # the body never comes
    assert (status, body["error"]["code"]) == (401, "invalid_webhook_signature")
    assert time.monotonic() - started < CLIENT_TIMEOUT_S / 2


GET = "GET /api/agents/local HTTP/1.1\nHost: 127.0.0.1"
POST = "POST /api/calls HTTP/1.1\nHost: 127.0.0.1"


@pytest.mark.parametrize(
    ("head", "status", "code"),
    [
        ("GET /api/agents/local HTTP/9.9\nHost: 127.0.0.1", 400, "bad_request"),
        (f"{GET}\nX Bad<script>: 1", 400, "bad_request"),
        (f"{POST}\nContent-Length: 1<script>", 400, "bad_request"),
        (f"{POST}\nContent-Length: 2\nContent-Length: 3", 400, "bad_request"),
        (f"GET /api/agents/{'a' * 9000} HTTP/1.1\nHost: 127.0.0.1", 414, "uri_too_long"),
        (f"{GET}\nX-Long: {'a' * 9000}", 431, "request_headers_too_large"),
        (GET + "".join(f"\nX-{n}: 1" for n in range(120)), 431, "request_headers_too_large"),
        (f"{POST}\nTransfer-Encoding: chunked\nContent-Length: 2", 400, "bad_request"),
        (f"{POST}\nContent-Length: 2\nExpect: a-pony", 417, "expectation_failed"),
    ],
    ids=["version", "header-name", "content-length", "two-lengths", "long-line", "long-header",
         "many-headers", "chunked-and-length", "expect"],
)  # fmt: skip
def test_what_gunicorn_refuses_is_answered_in_json(
    server: AppServer, head: str, status: int, code: str
) -> None:
    """A request gunicorn cannot read as HTTP never reaches the app: gunicorn answers it, in the
    API's error body now (it was an HTML page quoting the bad input), and closes the connection."""
    answer = send_raw(server.url, head.replace("\n", "\r\n").encode() + b"\r\n\r\n")  # until it closes
    answered, headers, payload = split_answer(answer)
    assert answered == status
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(payload)
    assert json.loads(payload)["error"]["code"] == code
    assert b"<" not in payload and b"aaaa" not in payload  # nothing of the request quoted back
