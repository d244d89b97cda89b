"""The server ends a call at the agent's ``max_call_s``, whatever the page does.

A caller built from ``livekit.rtc`` (no page, so no page timer) joins with the token the
app hands out for an agent that nobody serves; only the app's scheduled room deletion on
the real LiveKit server can end that call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

import httpx
import jwt
import pytest
from livekit import rtc

from tests.e2e.test_call import participants
from webapp.providers.room_reaper import ROOM_SLACK_S

pytestmark = pytest.mark.e2e
MAX_CALL_S = 10  # the "capped" agent's max_call_s in tests/support/stack.py


@pytest.mark.parametrize("join_after_s", [0, 8], ids=["at once", "late"])
def test_the_server_ends_the_call_at_max_call_s(stack: dict[str, Any], join_after_s: float) -> None:
    """The call lasts max_call_s from the caller's join (the room's creation), however late in
    its token's life it comes (LiveKit's own frontends fetch the token as their page opens)."""
    app, livekit = stack["app"], stack["livekit"]
    answer = httpx.post(f"{app.url}/api/calls", json={"agent": "capped"}).json()
    assert answer["max_call_s"] == MAX_CALL_S
    claims = jwt.decode(answer["livekit"]["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["nbf"] <= MAX_CALL_S  # the token cannot outlive the call either

    async def stay_until_removed() -> tuple[float, Any]:
        await asyncio.sleep(join_after_s)
        room = rtc.Room()
        removed = asyncio.Event()
        reasons: list[Any] = []
        room.on("disconnected", lambda reason: (reasons.append(reason), removed.set()))
        joined = time.monotonic()
        await room.connect(answer["livekit"]["url"], answer["livekit"]["token"])
        await asyncio.wait_for(removed.wait(), MAX_CALL_S + ROOM_SLACK_S + 20)
        return time.monotonic() - joined, reasons[0]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright may own this thread's loop
        lasted_s, reason = pool.submit(asyncio.run, stay_until_removed()).result(timeout=90)
    assert MAX_CALL_S - 1 <= lasted_s <= MAX_CALL_S + ROOM_SLACK_S + 3, lasted_s
    assert reason == rtc.DisconnectReason.ROOM_DELETED
    assert participants(livekit, answer["room"]) == []
