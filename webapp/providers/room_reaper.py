"""Server-side end of a self-hosted call: rooms are deleted when their time is up.

LiveKit has no maximum room duration, so the app keeps a deadline per room it
created and deletes the room (which disconnects the caller and the agent) when the
deadline passes. Deadlines live in this process: a restart forgets them, which the
page's own timer and the agent's limit (from the dispatch metadata) cover.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from datetime import timedelta

import httpx
from livekit import api

log = logging.getLogger(__name__)


class RoomReaper:
    """A daemon thread that calls LiveKit's ``RoomService.DeleteRoom`` at each room's deadline."""

    def __init__(self, http_url: str, api_key: str, api_secret: str, client: httpx.Client) -> None:
        self.url = http_url.rstrip("/") + "/twirp/livekit.RoomService/DeleteRoom"
        self.api_key = api_key
        self.api_secret = api_secret
        self.client = client
        self.deadlines: list[tuple[float, str]] = []
        self.wake = threading.Condition()
        self.thread: threading.Thread | None = None

    def schedule(self, room: str, after_s: float) -> None:
        """Delete ``room`` ``after_s`` seconds from now."""
        with self.wake:
            heapq.heappush(self.deadlines, (time.monotonic() + after_s, room))
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="room-reaper", daemon=True)
                self.thread.start()
            self.wake.notify()

    def _run(self) -> None:
        """Sleep until the next deadline, then delete that room."""
        while True:
            with self.wake:
                while not self.deadlines or self.deadlines[0][0] > time.monotonic():
                    timeout = self.deadlines[0][0] - time.monotonic() if self.deadlines else None
                    self.wake.wait(timeout)
                _, room = heapq.heappop(self.deadlines)
            self.delete_room(room)

    def delete_room(self, room: str, why: str = "it reached its maximum call length") -> None:
        """End the call: every participant is disconnected. A room that is gone already is fine."""
        token = (
            api.AccessToken(self.api_key, self.api_secret)
            .with_grants(api.VideoGrants(room_create=True, room=room))
            .with_ttl(timedelta(minutes=1))
            .to_jwt()
        )
        try:
            response = self.client.post(
                self.url, json={"room": room}, headers={"Authorization": f"Bearer {token}"}, timeout=5.0
            )
        except httpx.HTTPError as exc:
            log.error("could not close room %s (%s): %s", room, why, type(exc).__name__)
            return
        if response.status_code in (200, 404):
            log.info("room %s was closed: %s", room, why)
        else:
            log.error("could not close room %s (%s): HTTP %s", room, why, response.status_code)
