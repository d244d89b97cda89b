"""Server-side end of a self-hosted call: rooms are deleted when their time is up.

LiveKit has no maximum room duration, so the app watches each room it hands out a token
for and deletes it (which disconnects the caller and the agent) once its call has lasted
``max_call_s``. The clock starts when the room is created, which is when the caller joins
(LiveKit makes the room on the first join): a caller who joins late, as LiveKit's own
frontends do with a token fetched when their page opens, gets the whole call. A call's room
is known only by asking (``ListRooms``, one request for every room due at once): until it is
seen, it is looked for at the earliest moment it could be due.

Past its end, a room of the same name may come back: LiveKit gives every participant in a room
a refreshed token (valid ten minutes, renewed while connected) that joins it again and
dispatches the agent again. So the name is watched as long as such a token may be valid, and
a room found under it is deleted again. A request LiveKit fails is tried again.

Watches live in this process: a restart forgets them, and then the page's own timer and the
agent's limit (from the dispatch metadata) end the call; LiveKit's webhooks close a room that
comes back after its call ended (webapp/history/webhooks.py), not one whose call runs on.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from livekit import api

log = logging.getLogger(__name__)
TWIRP = "/twirp/livekit.RoomService/"
ROOM_SLACK_S = 2.0  # past a call's end before its room is deleted: the two clocks, the join itself
CHECK_EVERY_S = 15.0  # how often a room's name is looked at past its call's end
RETRY_S = 10.0  # after LiveKit failed a request
REFRESHED_TOKEN_S = 11 * 60.0  # a refreshed token's ten minutes, and a margin


@dataclass
class Watch:
    """What is known of one call's room (times are Unix times, as LiveKit's)."""

    max_call_s: float
    token_expires: float  # the caller's own token: no first join after it
    created: float | None = None  # when its room was first seen to be created
    ended: float | None = None  # the call is over (its time was up, or it was ended)
    seen: float = 0.0  # when a room of this name was last there
    look_at: float = 0.0  # when to look at it next (its entry in the reaper's heap)

    def end_s(self) -> float:
        """When the call must be over: ``max_call_s`` after its room was created, or after the
        last moment it could have been (the token's expiry) when it was never seen."""
        joined = self.created if self.created is not None else self.token_expires
        return joined + self.max_call_s + ROOM_SLACK_S

    def forget_at(self, refreshed_token_s: float) -> float:
        """When no token can bring the room back: the caller's own has expired, and so has any
        refreshed one given to a caller there when last seen or (unseen between two looks) up to
        the call's end."""
        ended = self.ended if self.ended is not None else self.end_s()
        return max(self.token_expires, max(self.seen, ended) + refreshed_token_s)


class RoomReaper:
    """A daemon thread that deletes each watched room (``RoomService.DeleteRoom``) at its end."""

    def __init__(
        self,
        http_url: str,
        api_key: str,
        api_secret: str,
        client: httpx.Client,
        *,
        check_every_s: float = CHECK_EVERY_S,
        retry_s: float = RETRY_S,
        refreshed_token_s: float = REFRESHED_TOKEN_S,
    ) -> None:
        self.url = http_url.rstrip("/") + TWIRP
        self.api_key = api_key
        self.api_secret = api_secret
        self.client = client
        self.check_every_s = check_every_s
        self.retry_s = retry_s
        self.refreshed_token_s = refreshed_token_s
        self.watches: dict[str, Watch] = {}
        # (when to look, room): a heap; an entry whose time is no longer its watch's is skipped
        self.due: list[tuple[float, str]] = []
        self.wake = threading.Condition()
        self.thread: threading.Thread | None = None
        self.unreachable = False  # the last look failed: LiveKit could not be asked

    @property
    def deadlines(self) -> list[tuple[float, str]]:
        """(when each watched room is next looked at, in Unix time; its name)."""
        with self.wake:
            return sorted((watch.look_at, room) for room, watch in self.watches.items())

    def schedule(self, room: str, max_call_s: float, token_ttl_s: float) -> None:
        """Watch ``room``, whose caller's token is valid ``token_ttl_s``: end its call ``max_call_s``
        after it is created. It is first looked at when a caller joining at once would be due."""
        now = time.time()
        watch = Watch(max_call_s=max_call_s, token_expires=now + token_ttl_s)
        with self.wake:
            self.watches[room] = watch
            self._look_at(room, now + max_call_s + ROOM_SLACK_S)

    def close_room(self, room: str, why: str) -> None:
        """End a call now (every participant disconnected), and keep its name watched: a failed
        deletion is tried again, a rejoin with a refreshed token is closed too."""
        now = time.time()
        with self.wake:
            watch = self.watches.setdefault(room, Watch(max_call_s=0.0, token_expires=now))
            watch.ended = watch.seen = now
        if not self.delete_room(room, why):
            with self.wake:
                self._look_at(room, now + self.retry_s)
            return
        with self.wake:
            self._look_at(room, now + self.check_every_s)

    def delete_room(self, room: str, why: str) -> bool:
        """Delete ``room`` (a room already gone is fine); False when LiveKit could not be asked."""
        response = self._post("DeleteRoom", {"room": room}, api.VideoGrants(room_create=True, room=room))
        if response is None:
            log.error("could not close room %s (%s)", room, why)
            return False
        if response.status_code == 404:
            log.info("room %s was gone already: %s", room, why)
        else:
            log.info("room %s was closed: %s", room, why)
        return True

    def _look_at(self, room: str, when: float) -> None:
        """Look at ``room`` (watched) at ``when``, and not at any time set before (the lock held)."""
        self.watches[room].look_at = when
        heapq.heappush(self.due, (when, room))
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="room-reaper", daemon=True)
            self.thread.start()
        self.wake.notify()

    def _run(self) -> None:
        """Sleep until rooms are due, then look at all of them with one request."""
        while True:
            with self.wake:
                while not self.due or self.due[0][0] > time.time():
                    self.wake.wait(self.due[0][0] - time.time() if self.due else None)
                rooms = []
                while self.due and self.due[0][0] <= time.time():
                    when, room = heapq.heappop(self.due)
                    watch = self.watches.get(room)
                    if watch is not None and watch.look_at == when:
                        rooms.append(room)
            if rooms:
                self.tick(rooms)

    def tick(self, rooms: Iterable[str]) -> None:
        """Look at ``rooms`` now: delete those whose call is over, and say when to look again."""
        rooms = list(rooms)
        existing = self._list_rooms(rooms)
        now = time.time()
        if existing is None:  # LiveKit could not be asked: every one of them again, later
            with self.wake:
                for room in rooms:
                    watch = self.watches.get(room)
                    if watch is not None and now >= watch.forget_at(self.refreshed_token_s):
                        del self.watches[room]
                    elif watch is not None:
                        self._look_at(room, now + self.retry_s)
            return
        for room in rooms:
            created = existing.get(room)
            with self.wake:  # close_room changes a watch from other threads
                watch = self.watches.get(room)
                if watch is None:
                    continue
                why = self._reason_to_delete(watch, created, now)
                when = None if why else self._next_look(watch, created, now)
            if why:
                deleted = self.delete_room(room, why)
                with self.wake:
                    if deleted:
                        watch.ended = watch.ended or now
                    when = now + (self.check_every_s if deleted else self.retry_s)
            with self.wake:
                if self.watches.get(room) is not watch:
                    continue
                if when is None:
                    del self.watches[room]
                else:
                    self._look_at(room, when)

    @staticmethod
    def _reason_to_delete(watch: Watch, created: float | None, now: float) -> str | None:
        """Note what LiveKit says of the room (``created``: its creation, or None when there is no
        such room); why it must be deleted now, or None (the lock held)."""
        if created is None:
            return None
        watch.seen = now
        if watch.created is None and watch.ended is None:
            watch.created = created
        if watch.ended is not None:
            return "its call had ended (a rejoin with a refreshed token)"
        return "it reached its maximum call length" if now >= watch.end_s() else None

    def _next_look(self, watch: Watch, created: float | None, now: float) -> float | None:
        """When to look at a room that need not be deleted now, or None when nothing can bring it
        back (the lock held)."""
        if created is not None:
            return watch.end_s()  # there, and its call goes on
        if watch.ended is None and now < watch.end_s():
            # Not there (yet): a caller joining from now on is due max_call_s from now at the earliest.
            return min(watch.end_s(), now + watch.max_call_s + ROOM_SLACK_S)
        watch.ended = watch.ended or now
        return now + self.check_every_s if now < watch.forget_at(self.refreshed_token_s) else None

    def _list_rooms(self, rooms: list[str]) -> dict[str, float] | None:
        """Each of ``rooms`` that exists → when it was created (Unix time); None on failure."""
        response = self._post("ListRooms", {"names": rooms}, api.VideoGrants(room_list=True))
        try:
            answer = response.json() if response is not None else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if not self.unreachable:  # once per outage: it is asked again every few seconds
                log.error("could not look at %d room(s) to end their calls: trying again", len(rooms))
            self.unreachable = True
            return None
        if self.unreachable:
            log.info("LiveKit answers again: looking at the rooms to end their calls")
        self.unreachable = False
        listed: dict[str, float] = {}
        for found in answer.get("rooms") or []:
            # int64 written as a string; creation_time_ms is newer than creation_time
            seconds = int(found.get("creation_time_ms") or 0) / 1000 or int(found.get("creation_time") or 0)
            listed[str(found.get("name"))] = seconds or time.time()
        return listed

    def _post(self, method: str, body: dict[str, Any], grants: api.VideoGrants) -> httpx.Response | None:
        """One RoomService request; its answer (a 404 included), or None when it failed."""
        token = api.AccessToken(self.api_key, self.api_secret).with_grants(grants)
        headers = {"Authorization": f"Bearer {token.with_ttl(timedelta(minutes=1)).to_jwt()}"}
        try:
            response = self.client.post(self.url + method, json=body, headers=headers, timeout=5.0)
        except httpx.HTTPError as exc:
            self._failed(method, type(exc).__name__)
            return None
        if response.status_code not in (200, 404):
            self._failed(method, f"HTTP {response.status_code}")
            return None
        return response

    def _failed(self, method: str, why: str) -> None:
        """A request LiveKit failed: said for each deletion, and once per outage for the looks."""
        if method != "ListRooms" or not self.unreachable:
            log.warning("LiveKit's %s failed: %s", method, why)
