"""The benchmark's delaying relay: the 50 ms round trip the floor's numbers rest on is real.

A relay that forwarded without delay (or reordered, or kept what it relayed) would make the
floor's "50 ms RTT" rows mean nothing, so the relay is run here as the floor runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bench.delay_relay import UdpRelay, serve_tcp
from tests.support.aio import run_async
from tests.support.processes import ROOT, Process, free_port, free_udp_port, python_argv, start, wait_until

DELAY_MS = 25  # each way, as the floor's 50 ms round trip


def tcp_echo() -> int:
    """A TCP server on loopback that sends back whatever it reads; its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return int(listener.getsockname()[1])


def udp_echo() -> tuple[int, list[tuple[str, int]]]:
    """A UDP socket on loopback that sends each datagram back to its sender; its port, and the
    address of every datagram's sender as they come."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    senders: list[tuple[str, int]] = []

    def serve() -> None:
        while True:
            data, sender = sock.recvfrom(65536)
            senders.append(sender)
            sock.sendto(data, sender)

    threading.Thread(target=serve, daemon=True).start()
    return int(sock.getsockname()[1]), senders


@dataclass(frozen=True)
class Relay:
    """The relay under test: where to reach it, and who its UDP echo heard from."""

    tcp_port: int
    udp_port: int
    udp_senders: list[tuple[str, int]]


@pytest.fixture()
def relay() -> Iterator[Relay]:
    """``python -m bench.delay_relay`` in front of a TCP and a UDP echo."""
    tcp_port, udp_port = free_port(), free_udp_port()
    echo_port, senders = udp_echo()
    process: Process = start("delay-relay", python_argv(
        "-m", "bench.delay_relay", "--delay-ms", str(DELAY_MS),
        "--tcp", f"127.0.0.1:{tcp_port}=127.0.0.1:{tcp_echo()}",
        "--udp", f"127.0.0.1:{udp_port}=127.0.0.1:{echo_port}",
    ), env={}, log_dir=ROOT / "test-artifacts" / "delay-relay")  # fmt: skip
    try:
        # Ready once it says so: it prints after the last of its sockets is bound (UDP's too).
        wait_until(lambda: "relaying with" in process.log(), timeout_s=10, what="the relay", process=process)
        yield Relay(tcp_port, udp_port, senders)
    finally:
        process.stop()
    assert process.popen.returncode is not None  # stopped with the run


def test_tcp_is_delayed_each_way_and_arrives_whole_and_in_order(relay: Relay) -> None:
    with socket.create_connection(("127.0.0.1", relay.tcp_port)) as sock:
        sock.settimeout(5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        trips = []
        for index in range(3):
            started = time.monotonic()
            sock.sendall(b"ping %d" % index)
            assert sock.recv(100) == b"ping %d" % index
            trips.append((time.monotonic() - started) * 1000)
        sent = b"".join(b"chunk %04d;" % index for index in range(400))  # many writes, one stream
        for start_at in range(0, len(sent), 97):
            sock.sendall(sent[start_at : start_at + 97])
        received = b""
        while len(received) < len(sent):
            received += sock.recv(65536)
    assert received == sent
    assert all(2 * DELAY_MS <= trip < 2 * DELAY_MS + 250 for trip in trips), trips


def test_udp_is_delayed_each_way_and_keeps_its_order(relay: Relay) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.connect(("127.0.0.1", relay.udp_port))  # so only the relay's own address is heard
        for index in range(20):  # a new client's first datagrams, back to back
            sock.send(b"datagram %d" % index)
        echoed = [sock.recv(100) for _ in range(20)]
        started = time.monotonic()
        sock.send(b"ping")
        assert sock.recv(100) == b"ping"
        trip_ms = (time.monotonic() - started) * 1000
    assert echoed == [b"datagram %d" % index for index in range(20)]
    assert len(set(relay.udp_senders)) == 1  # one client, one upstream socket: the target sees one peer
    assert 2 * DELAY_MS <= trip_ms < 2 * DELAY_MS + 250, trip_ms


def test_a_closed_connection_leaves_nothing_running_in_the_relay() -> None:
    """Each direction of a connection has its delay queue: both end when the connection does."""

    async def scenario() -> tuple[int, int, int]:
        port = free_port()
        server = await serve_tcp(f"127.0.0.1:{port}", f"127.0.0.1:{tcp_echo()}", 0.005)
        before = len(asyncio.all_tasks())
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        assert await reader.readexactly(5) == b"hello"
        during = len(asyncio.all_tasks())
        writer.close()
        await writer.wait_closed()
        deadline = time.monotonic() + 5
        while len(asyncio.all_tasks()) > before and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        after = len(asyncio.all_tasks())
        server.close()
        return before, during, after

    before, during, after = run_async(scenario())
    assert during > before  # the connection had tasks of its own (its handler, its two queues)
    assert after == before


def test_udp_clients_gone_quiet_lose_their_upstream_socket() -> None:
    async def scenario() -> tuple[list[tuple[str, int]], tuple[str, int]]:
        loop = asyncio.get_running_loop()
        relay = UdpRelay(("127.0.0.1", udp_echo()[0]), delay_s=0.001, idle_s=0.1)
        front, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", 0))
        address = front.get_extra_info("sockname")
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        clients[0].sendto(b"one", address)
        await asyncio.sleep(0.3)  # the first client goes quiet for longer than idle_s
        clients[1].sendto(b"two", address)
        await asyncio.sleep(0.05)
        front.close()
        open_for, second = list(relay.upstreams), ("127.0.0.1", clients[1].getsockname()[1])
        for client in clients:
            client.close()
        return open_for, second

    open_for, second = run_async(scenario())
    assert open_for == [second]  # the first client's socket was closed when the second came


def test_udp_loses_the_share_it_is_told_each_way_and_closes_whole() -> None:
    """``--loss-percent`` (``UdpRelay.loss``): half lost each way leaves a quarter of round trips."""
    sent = 2000

    async def scenario() -> tuple[int, int, int, bool]:
        loop = asyncio.get_running_loop()
        echo_port, heard = udp_echo()
        relay = UdpRelay(("127.0.0.1", echo_port), delay_s=0.0, loss=0.5)
        front, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.setblocking(False)
            client.connect(front.get_extra_info("sockname"))
            back = 0

            def drain() -> int:
                """What came back since the last time (a socket's buffer holds a few hundred)."""
                count = 0
                with contextlib.suppress(BlockingIOError):
                    while client.recv(100):
                        count += 1
                return count

            for index in range(sent):
                client.send(b"%d" % index)
                if index % 100 == 99:
                    await asyncio.sleep(0.01)  # paced, so no socket buffer overflows
                    back += drain()
            await asyncio.sleep(0.3)
            back += drain()
        upstreams = len(relay.upstreams)
        relay.close()
        await asyncio.sleep(0)
        return len(heard), back, upstreams, not relay.upstreams and relay.later.task.cancelled()

    heard, back, upstreams, closed = run_async(scenario())
    assert 0.4 * sent < heard < 0.6 * sent, heard  # on the way to the target
    assert 0.15 * sent < back < 0.35 * sent, back  # and back
    assert upstreams == 1 and closed
