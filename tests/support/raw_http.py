"""Raw HTTP/1.1 on a socket, for requests no client library would send (malformed, oversized)."""

from __future__ import annotations

import socket
import ssl


def send_raw(url: str, request: bytes) -> bytes:
    """Send ``request`` as it is to ``url``'s host and port (``https://``: over TLS, any
    certificate) and return everything the server sends until it closes."""
    scheme, _, address = url.partition("://")
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    if scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        sock = context.wrap_socket(sock)  # (takes the socket over)
    with sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def split_answer(received: bytes) -> tuple[int, dict[str, str], bytes]:
    """The first answer's status, its headers (names lower-cased) and all that follows its head."""
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}
    return int(status_line.split()[1]), headers, rest
