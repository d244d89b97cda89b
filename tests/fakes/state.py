"""What one fake provider remembers: its configuration, the calls it made, the requests it saw.

One `FakeState` belongs to one fake server. Tests build it, hand it to a `create_*_app`
factory, and afterwards read `requests` (what our adapter really sent) or push `faults`
(what the provider should do wrong next).
"""

from __future__ import annotations

import datetime
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import current_app

FaultKind = Literal[
    "status",  # answer `status` with `body` (dict → JSON, str → as is) and `headers`
    "delay",  # sleep `delay_s`, then handle the request normally
    "html",  # answer `status` (default 502) with an HTML error page, as a proxy would
    "malformed_json",  # handle normally, then answer 200 with the JSON body cut in half
    "success_false",  # answer 200 with the provider's own failure body
    "missing_credentials",  # handle normally, then strip the LiveKit url/token (or id)
    "drop",  # close the connection without sending a response
    "patch",  # handle normally, then set fields of the JSON answer: `body` maps dotted paths to values
]


class _Remove:
    """A "patch" value that takes the field out of the answer instead of setting it."""

    def __repr__(self) -> str:
        """Named, for test ids."""
        return "REMOVE"


REMOVE = _Remove()


@dataclass
class Fault:
    """One misbehaviour, applied to the next request instead of (or around) normal handling."""

    kind: FaultKind
    # None means the kind's default: 500 for "status", 502 for "html".
    status: int | None = None
    # Body for "status"/"html"/"success_false"; None means a sensible default. For "patch":
    # {"data.call.call_id": 12345, "url": REMOVE}, applied to a successful JSON answer.
    body: dict[str, Any] | str | None = None
    # Extra response headers, e.g. {"Retry-After": "2"}.
    headers: dict[str, str] = field(default_factory=dict)
    # Sleep before handling, for kind "delay".
    delay_s: float = 0.0


class HeaderDict(dict[str, str]):
    """A plain dict of request headers whose look-ups ignore case (keys stored lower-case)."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        """Store every header under its lower-cased name."""
        pairs = items.items() if isinstance(items, Mapping) else items
        super().__init__((key.lower(), value) for key, value in pairs)

    def __getitem__(self, key: str) -> str:
        """Look up `key` whatever its case."""
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        """Tell whether `key` is present, whatever its case."""
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        """Look up `key` whatever its case, or return `default`."""
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it, before any fault or validation."""

    method: str
    path: str  # without the query string
    headers: HeaderDict  # case-insensitive look-ups; keys are lower-case
    json: Any  # the parsed body, or None when it is empty or not JSON
    raw: bytes
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebCallRoom:
    """A web call's room, as a provider's own agent needs it to join and to behave."""

    provider: str
    call_id: str
    room: str
    caller_identity: str
    agent_id: str
    agent: dict[str, Any]  # the agent's record in FakeState.agents
    variables: dict[str, Any]  # what the create request carried (Retell: its dynamic variables)


@dataclass
class FakeState:
    """Configuration and memory of one fake provider server."""

    api_key: str
    livekit_url: str
    livekit_api_key: str
    livekit_api_secret: str
    # Zudu only: the second half of its key pair (X-API-SECRET).
    api_secret: str = ""
    dispatch_agent_name: str = "webcall-demo"
    # Known provider agent ids → record, e.g. {"greeting": "Hi {{name}}"}; UnleashX uses
    # integer ids and {"active": True, "agent_type": 3, "calling_type": 1}.
    agents: dict[Any, dict[str, Any]] = field(default_factory=dict)
    # Ravan: "documented" (flat create, data.callSessions list), "data" (create nested under
    # data), "meta" (list as {data: [...], meta}), "data+meta" (both). UnleashX: "documented"
    # ({success, message, data: {...}}) or "flat" (the page's table: fields at top level).
    response_shape: str = "documented"
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    # Added to every request before anything else, to model a slow provider.
    latency_s: float = 0.0
    token_ttl: datetime.timedelta = datetime.timedelta(minutes=15)
    organization_id: str = "org_fake"
    # Convoi only: a pk_live_… key also accepted (web calls only, no workforce calls).
    public_api_key: str | None = None
    # Convoi only: enforce its documented 20 writes / 60 reads per minute per key.
    enforce_rate_limits: bool = False
    # Calls created so far, by the provider's id (session_id, call_id, execution_id).
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Retell, ElevenLabs: called with each web call's `WebCallRoom` once its token is minted,
    # so a test can put the provider's own agent in the room (the real platform would).
    on_web_call: Callable[[WebCallRoom], None] | None = field(default=None, repr=False)
    # Convoi: (api key, Idempotency-Key) → (body fingerprint, status, body, time created).
    idempotency: dict[tuple[str, str], tuple[str, int, dict[str, Any], float]] = field(
        default_factory=dict, repr=False
    )
    # How many call-list pages the fake has served (a sync reads no more than it needs).
    list_pages_served: int = 0
    # Convoi: (api key, "read"|"write") → times of recent requests, for rate limits.
    rate_windows: dict[tuple[str, str], deque[float]] = field(default_factory=dict, repr=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def record(self, request: RecordedRequest) -> None:
        """Remember one incoming request (thread-safe)."""
        with self.lock:
            self.requests.append(request)

    def pop_fault(self) -> Fault | None:
        """Take the next queued fault, if any (thread-safe)."""
        with self.lock:
            return self.faults.pop(0) if self.faults else None


def current_state() -> FakeState:
    """The `FakeState` of the fake app handling the current request."""
    state: FakeState = current_app.extensions["fake_state"]
    return state
