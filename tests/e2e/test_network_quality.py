"""A weak connection, said while it lasts: LiveKit's score of the caller's connection, in Chromium.

Real pieces only: a LiveKit server whose media has one way in, UDP through the benchmark's relay
(bench/delay_relay.py, here with no delay), the demo agent, gunicorn and Chromium. In the call,
the relay starts dropping a share of the datagrams each way: LiveKit scores the caller's
connection from the loss it measures and tells the page, which says so beside the timer while
the call goes on, and stops saying it once the loss is gone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bench.delay_relay import UdpRelay
from tests.e2e.test_call import poll
from tests.e2e.test_call_page import open_page
from tests.support.apps import DEMO_AGENT_NAME
from tests.support.browser import assert_accessible, events, screenshots, wait_for_state
from tests.support.livekit_server import start_demo_agent, start_livekit_server
from tests.support.stack import AppServer, start_app_server

pytestmark = pytest.mark.e2e

RELAY_IP = "127.0.0.3"  # the relay's loopback address, the only one LiveKit names for its media
LOSS = 0.3  # of the datagrams, each way, while the connection is weak
# LiveKit scores connections every 5 s, lowers a score at once and raises it step by step.
WEAK_WITHIN_MS = 30_000
WELL_WITHIN_MS = 45_000
CATALOGUE = f"""\
[agents.demo]
provider = "livekit"
agent_id = "{DEMO_AGENT_NAME}"
title = "Demo agent"
"""


class LossyRelay:
    """The benchmark's UDP relay on an event loop of its own, in a thread: relays at once, and
    drops the share of datagrams ``set_loss`` says."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        """Relay datagrams sent to ``listen`` on to ``target``, and the answers back."""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        opening = self.loop.create_datagram_endpoint(lambda: UdpRelay(target, 0.0), local_addr=listen)
        _transport, self.relay = asyncio.run_coroutine_threadsafe(opening, self.loop).result(timeout=10)

    def set_loss(self, share: float) -> None:
        """From now on, drop ``share`` of the datagrams each way."""
        self.loop.call_soon_threadsafe(setattr, self.relay, "loss", share)

    def close(self) -> None:
        """Stop relaying, and the thread."""

        async def closing() -> None:
            self.relay.close()
            await asyncio.gather(self.relay.later.task, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(closing(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def weak_network(artifacts: Path) -> Iterator[tuple[AppServer, LossyRelay]]:
    """The app and the demo agent on a LiveKit server reached through a relay that can lose."""
    log_dir = artifacts / "logs" / "network-quality"
    with ExitStack() as started:  # each part stops, in reverse, even if a later one fails to start
        livekit = start_livekit_server(log_dir, media_via=RELAY_IP)
        started.callback(livekit.process.stop)
        relay = LossyRelay((RELAY_IP, livekit.udp_port), ("127.0.0.1", livekit.udp_port))
        started.callback(relay.close)
        agent = start_demo_agent(livekit, log_dir, WEBCALL_DEMO_AGENT_NAME=DEMO_AGENT_NAME)
        started.callback(agent.stop)
        app = start_app_server(livekit.env(), log_dir, agents_toml=CATALOGUE)
        started.callback(app.process.stop)
        yield app, relay


def qualities(page: Page) -> list[str]:
    """The caller's connection quality as each webcall:connection-quality event said it."""
    return [event["detail"]["quality"] for event in events(page, "connection-quality")]


def test_a_weak_connection_is_said_beside_the_timer_while_it_lasts(
    page: Page, weak_network: tuple[AppServer, LossyRelay], artifacts: Path, console_log: list[str]
) -> None:
    app, relay = weak_network
    open_page(page, app.url + "/", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    network = page.locator("#network")
    expect(network).to_be_hidden()
    expect(page.locator(".timer-line")).not_to_contain_text("Weak")  # the words only while they show

    relay.set_loss(LOSS)
    expect(network).to_be_visible(timeout=WEAK_WITHIN_MS)
    expect(page.locator(".timer-line")).to_contain_text("Weak connection")
    assert qualities(page)[-1] in ("poor", "lost"), qualities(page)
    # Read out once, in full; the call goes on.
    expect(page.locator("#announce")).to_have_text("Weak connection: the agent may not hear you clearly.")
    wait_for_state(page, "in-call")
    assert_accessible(page, app.url, "a weak connection")
    screenshots(page, artifacts / "screenshots", "call-weak-connection")

    relay.set_loss(0.0)
    # Scored well again (the line also hides while a loss heavy enough for LiveKit to reconnect
    # has the page say "reconnecting", as it did on a loaded machine: not what is tested here).
    recovered = poll(lambda: qualities(page)[-1] in ("good", "excellent"), timeout_s=WELL_WITHIN_MS / 1000)
    assert recovered, qualities(page)
    wait_for_state(page, "in-call")
    expect(network).to_be_hidden()
    expect(network).to_have_text("")
    print(f"\nthe caller's connection, as LiveKit scored it: {' → '.join(qualities(page))}")
    page.click("#hangup")
    wait_for_state(page, "ended")
    assert not [line for line in console_log if line.startswith(("error", "pageerror"))], console_log
