"""A delaying relay, for a real round trip on loopback: ``python -m bench.delay_relay``.

This kernel has no ``netem`` qdisc, so the delay is added in user space: every TCP chunk
and every UDP datagram is held for ``--delay-ms`` in each direction (so the round trip
grows by twice that), in order. TCP carries HTTP and LiveKit's signalling WebSocket; UDP
carries the media, with LiveKit's ``node_ip`` pointing at the relay's own address.

    python -m bench.delay_relay --delay-ms 25 \\
        --tcp 127.0.0.1:9001=127.0.0.1:8000 --udp 127.0.0.3:7882=127.0.0.1:7882

Runs until terminated; bounded: it only relays what it is given, and holds nothing longer
than the delay. ``--loss-percent`` drops that share of the datagrams, at random, each way (the
end-to-end tests make a caller's connection weak with it).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import socket
import time
from collections.abc import Callable
from typing import cast

IDLE_S = 60.0  # a UDP client silent this long is gone (ICE keeps a live one talking every few s)


def split(addr: str) -> tuple[str, int]:
    """``host:port`` → (host, port)."""
    host, port = addr.rsplit(":", 1)
    return host, int(port)


class Delayed:
    """Runs callbacks in order, each ``delay_s`` after it was handed in."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.queue: asyncio.Queue[tuple[float, Callable[[], object] | None]] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    def put(self, action: Callable[[], object]) -> None:
        """Schedule ``action`` for now + delay."""
        self.queue.put_nowait((time.monotonic() + self.delay_s, action))

    def close(self) -> None:
        """End once everything put so far has run: a closed connection leaves no task behind."""
        self.queue.put_nowait((0.0, None))

    async def _run(self) -> None:
        """Wait for each item's time, then run it; stop at ``close()``'s mark."""
        while True:
            due, action = await self.queue.get()
            if action is None:
                return
            wait_s = due - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            action()


async def serve_tcp(listen: str, target: str, delay_s: float) -> asyncio.Server:
    """Relay every connection to ``listen`` to ``target``, delaying each direction."""

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        later = Delayed(delay_s)
        try:
            while chunk := await reader.read(65536):
                later.put(functools.partial(writer.write, chunk))
        except (ConnectionError, OSError):
            pass
        later.put(writer.close)
        later.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(2 * delay_s)  # the TCP handshake's round trip, before any byte moves
        try:
            up_reader, up_writer = await asyncio.open_connection(*split(target))
        except OSError:
            client_writer.close()
            return
        for sock in (client_writer.get_extra_info("socket"), up_writer.get_extra_info("socket")):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(pump(client_reader, up_writer), pump(up_reader, client_writer))

    host, port = split(listen)
    return await asyncio.start_server(handle, host, port)


class UdpRelay(asyncio.DatagramProtocol):
    """The front socket: one upstream socket per client address, replies sent back from here."""

    def __init__(
        self, target: tuple[str, int], delay_s: float, idle_s: float = IDLE_S, loss: float = 0.0
    ) -> None:
        self.target = target
        self.later = Delayed(delay_s)  # both directions, each datagram in the order it arrived
        self.idle_s = idle_s
        self.loss = loss  # the share of datagrams dropped each way (may change while it runs)
        self.upstreams: dict[tuple[str, int], socket.socket] = {}
        self.last_heard: dict[tuple[str, int], float] = {}  # each client's latest datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the front socket (asyncio's datagram transports do not all subclass
        ``DatagramTransport``: the selector loop's does not)."""
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        """From a client: forward it upstream, later."""
        self.last_heard[addr] = time.monotonic()
        upstream = self.upstreams.get(addr) or self._open(addr)
        if not self.lost():
            self.later.put(lambda: _send(upstream, data))

    def lost(self) -> bool:
        """Whether to drop the datagram in hand (``loss`` of them, at random)."""
        return self.loss > 0 and random.random() < self.loss

    def _open(self, client: tuple[str, int]) -> socket.socket:
        """A new client's own upstream socket (so replies can be told apart), opened at once:
        its next datagrams, however soon they come, leave from the same one. Clients gone quiet
        for ``idle_s`` lose theirs now, so a long run holds a socket per live client only."""
        self._forget_idle(time.monotonic() - self.idle_s)
        upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        upstream.setblocking(False)
        upstream.bind(("127.0.0.1", 0))
        upstream.connect(self.target)

        def readable() -> None:
            try:
                data = upstream.recv(65536)
            except OSError:  # nothing after all, or the target refused (ICMP)
                return
            if not self.lost():
                self.later.put(lambda: self._reply(data, client))

        asyncio.get_running_loop().add_reader(upstream.fileno(), readable)
        self.upstreams[client] = upstream
        return upstream

    def _forget_idle(self, before: float) -> None:
        """Close the upstream sockets of clients last heard from before ``before``."""
        for client in [c for c, heard in self.last_heard.items() if heard < before]:
            del self.last_heard[client]
            upstream = self.upstreams.pop(client, None)
            if upstream is not None:
                asyncio.get_running_loop().remove_reader(upstream.fileno())
                upstream.close()

    def close(self) -> None:
        """Stop relaying: the front socket, every upstream one, and what is still held."""
        self._forget_idle(float("inf"))
        self.later.task.cancel()
        if self.transport is not None:
            self.transport.close()

    def _reply(self, data: bytes, client: tuple[str, int]) -> None:
        """To a client, from the front socket it wrote to."""
        if self.transport is not None:
            self.transport.sendto(data, client)


def _send(upstream: socket.socket, data: bytes) -> None:
    """Send a datagram; one that cannot leave now is lost, as on any network."""
    try:
        upstream.send(data)
    except OSError:
        pass


async def main(args: argparse.Namespace) -> None:
    """Start every relay, then run until terminated."""
    delay_s = args.delay_ms / 1000
    for pair in args.tcp:
        listen, target = pair.split("=")
        await serve_tcp(listen, target, delay_s)
    for pair in args.udp:
        listen, target = pair.split("=")
        relay = functools.partial(UdpRelay, split(target), delay_s, loss=args.loss_percent / 100)
        await asyncio.get_running_loop().create_datagram_endpoint(relay, local_addr=split(listen))
    print(f"relaying with {args.delay_ms:g} ms each way, {args.loss_percent:g}% lost", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, required=True, help="added in each direction")
    parser.add_argument("--tcp", action="append", default=[], metavar="LISTEN=TARGET")
    parser.add_argument("--udp", action="append", default=[], metavar="LISTEN=TARGET")
    parser.add_argument("--loss-percent", type=float, default=0.0, help="UDP datagrams dropped each way")
    asyncio.run(main(parser.parse_args()))
