"""Signed, expiring sales-demo links: ``/demo/<slug>?t=<token>``.

The token carries the agent slug, preset prompt variables and an expiry, signed
with the app's secret key (itsdangerous, which Flask already depends on), so a
sales person personalises a demo without a code change and the link stops
working when it expires. ``flask --app webapp demo-link`` prints one.

Each link also carries an id of its own (``dl_…``) and, optionally, a label ("Acme pilot") and
the number of calls it may place, which the call log counts: it keeps the link with every call
made through it, so the admin view says who called. A link can be revoked before it expires
(``flask --app webapp revoke-demo-link``, or the admin view): the call log keeps which.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import math
import random
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode
from limits import RateLimitItem, RateLimitItemPerMinute
from werkzeug.datastructures import Headers

from ..catalogue import VARIABLE_PATTERN
from ..errors import CallInProgress, ExpiredDemoLink, InvalidDemoLink, RevokedDemoLink, UsedUpDemoLink
from ..guards.limits import SharedWindow
from ..history.store import CallLogError, LinkGrant, LinkMade, LinkStanding
from ..state import AppState

SALT = "webcall.demo-link.v1"
_DURATION_RE = re.compile(r"^(\d+)([smhdw])$")
_DATE_RE = re.compile(r"^\d{4}-?\d{2}-?\d{2}$")  # a day without a time (2026-12-31, 20261231)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
LINK_ID_PATTERN = r"^dl_[A-Za-z0-9_-]{16}$"
MAX_LABEL_CHARS = 100
MAX_NAME_CHARS = 200  # the call log's column: a label, or the variables written out
MAX_LINK_CHARS = 2000  # a whole link; gunicorn refuses a request line past 4,094
MAX_CALLS = 10_000  # the most calls a link may be limited to (more is no limit worth signing)
MAX_LIFE_S = 10 * 366 * 86400  # the longest a link may work: ten years
STARTING = "demo-link-calls-starting"  # the limits' scope counting a link's calls being started
TAKE_WAIT_S = 5.0  # the longest a call waits for a link's other calls being started
STARTING_MARGIN_S = 30  # a call's count outlives its provider's deadline by this much at least
RETRY_AFTER_S = 2  # then: the page counts down, and its caller tries again
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoLink:
    """What a valid link grants: one agent, preset variables, until an expiry (and a number of
    calls, when it says)."""

    agent: str
    variables: dict[str, str]
    expires_at: int
    link_id: str  # dl_…: the same for every call made through this link
    label: str | None = None  # the operator's name for it ("Acme pilot")
    max_calls: int | None = None  # the calls it may place, phone callbacks included (None: any number)

    @property
    def name(self) -> str | None:
        """What the call log calls the link: its label, or else its variables written out
        (``company=Acme, name=Jo``); none for a link with neither."""
        name = self.label or ", ".join(f"{key}={value}" for key, value in self.variables.items())
        return name[:MAX_NAME_CHARS] or None


def new_link_id() -> str:
    """A fresh link id: ``dl_`` and 16 random URL-safe characters."""
    return "dl_" + secrets.token_urlsafe(12)


def _derived_link_id(token: str) -> str:
    """The id of a link signed before links had one: from its token, so its calls share one.

    From the token as it was signed: its signature checks out however its base64 is written
    (padded, with ``+`` and ``/``, other bits past its last byte), and each spelling made another
    id, one its revocation did not reach. (The payload is what is signed, as it is written.)
    """
    payload, _, signature = token.rpartition(".")
    signed_as = f"{payload}.{base64_encode(base64_decode(signature)).decode()}"
    digest = hashlib.sha256(signed_as.encode()).digest()[:12]
    return "dl_" + base64.urlsafe_b64encode(digest).decode()


def _serializer(secret_key: str) -> URLSafeSerializer:
    """The signer for demo links (its own salt: a link is no other kind of token)."""
    return URLSafeSerializer(secret_key, salt=SALT)


def sign_demo_link(
    secret_key: str,
    agent: str,
    variables: dict[str, str],
    expires_at: int,
    *,
    label: str | None = None,
    link_id: str | None = None,
    max_calls: int | None = None,
) -> str:
    """The token for a link to ``agent`` with ``variables``, valid until ``expires_at`` (epoch s),
    under a new id unless ``link_id`` names one, with ``label`` and ``max_calls`` when given."""
    link = DemoLink(agent, variables, expires_at, link_id or new_link_id(), label or None, max_calls)
    return link_token(secret_key, link)


def link_token(secret_key: str, link: DemoLink) -> str:
    """The signed token of ``link`` (what its address carries)."""
    data: dict[str, Any] = {"a": link.agent, "v": link.variables, "e": link.expires_at, "i": link.link_id}
    if link.label:
        data["l"] = link.label
    if link.max_calls is not None:
        data["m"] = link.max_calls
    return str(_serializer(secret_key).dumps(data))


def verify_demo_link(secret_key: str, token: str) -> DemoLink:
    """The link a token grants, expired or not; ``InvalidDemoLink`` unless we signed it."""
    try:
        data: Any = _serializer(secret_key).loads(token)
    except BadSignature as exc:
        raise InvalidDemoLink() from exc
    if not (
        isinstance(data, dict)
        and isinstance(data.get("a"), str)
        and isinstance(data.get("e"), int)
        and isinstance(data.get("v"), dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in data["v"].items())
        and ("i" not in data or isinstance(data["i"], str) and bool(re.fullmatch(LINK_ID_PATTERN, data["i"])))
        and isinstance(data.get("l", ""), str)
        and ("m" not in data or type(data["m"]) is int and 1 <= data["m"] <= MAX_CALLS)
    ):
        raise InvalidDemoLink()
    return DemoLink(
        agent=data["a"],
        variables=dict(data["v"]),
        expires_at=data["e"],
        link_id=data.get("i") or _derived_link_id(token),
        label=data.get("l") or None,
        max_calls=data.get("m"),
    )


def signed_link(secret_key: str, token: str | None) -> DemoLink | None:
    """The link a request's token names, expired or not; None without a token or for one we did
    not sign. Read once per request: the call log's record and the guards share it."""
    if not token:
        return None
    try:
        return verify_demo_link(secret_key, token)
    except InvalidDemoLink:
        return None


def made_here(link: DemoLink, by: str) -> LinkMade:
    """What the call log keeps of a link made here (``by``: ``admin`` or ``cli``), to list it."""
    return LinkMade(
        link_id=link.link_id,
        agent=link.agent,
        label=link.name,
        expires_at=datetime.fromtimestamp(link.expires_at, UTC),
        max_calls=link.max_calls,
        made_at=datetime.now(UTC),
        made_by=by,
    )


@dataclass(frozen=True)
class Issued:
    """A link made: its address, what the call log keeps of it, and why the log could not keep
    it (None when it did; the link works either way: it is signed, not stored)."""

    url: str
    made: LinkMade
    unkept: CallLogError | None


def issue_link(state: AppState, link: DemoLink, *, base_url: str, lang: str | None, by: str) -> Issued:
    """Sign ``link`` and write its address (``ValueError`` past ``MAX_LINK_CHARS``), then keep it in
    the call log (made ``by`` the admin view, its API or the CLI), so it is listed before anyone
    uses it."""
    url = link_url(base_url, link_token(state.settings.secret_key, link), link.agent, lang)
    made = made_here(link, by)
    try:
        state.history.record_demo_link(made)
    except CallLogError as error:
        return Issued(url, made, error)
    return Issued(url, made, None)


def check_calls_left(state: AppState, link: DemoLink) -> None:
    """``UsedUpDemoLink`` once a link limited to ``max_calls`` has placed them (its refused tries
    count not): its page says it has ended. A call takes one of them with :func:`call_taken`."""
    if link.max_calls is not None and _placed(state, link) >= link.max_calls:
        raise UsedUpDemoLink()


class Starting(SharedWindow, RateLimitItemPerMinute):
    """A link's calls being started, counted against the calls it may place: one count whatever
    that number, which an extension may raise meanwhile. Each is counted for as long as its
    provider may take to create it, and a little more (``for_state``): one still waiting on a
    slow provider when its count ran out was no longer counted, and another caller took its call."""

    @classmethod
    def for_state(cls, state: AppState, max_calls: int) -> Starting:
        """The count for a link with ``max_calls``, its window whole minutes past the provider's deadline."""
        window_s = state.settings.provider_deadline_s + STARTING_MARGIN_S
        return cls(max_calls, max(1, math.ceil(window_s / 60)))


@contextmanager
def call_taken(state: AppState, link: DemoLink | None) -> Iterator[None]:
    """Start a call as one of the calls a link limited to ``max_calls`` may place, or refuse it
    (``UsedUpDemoLink`` once they are placed). Taken as a call is created, so a retry replayed
    is not refused, and held until it is on record or has failed, so that callers at the same
    moment (two tabs, a forwarded link) never place more calls than the link has: a caller that
    may need the last call waits while another call through the link is being started, up to
    ``TAKE_WAIT_S`` (then ``CallInProgress``, to retry), since that one may yet fail and leave it.

    The calls being started are counted in the limits' storage (memory, or Redis for every
    worker and host), the calls placed in the call log; ``LimitsUnavailable`` (503) when the
    former cannot be reached. A call log that cannot be read lets the call go (README). No link,
    or one without ``max_calls``: nothing to take.
    """
    if link is None or link.max_calls is None:
        yield
        return
    starting = Starting.for_state(state, link.max_calls)
    deadline = time.monotonic() + TAKE_WAIT_S
    while not _taken(state, link, starting):
        if time.monotonic() >= deadline:
            raise CallInProgress(retry_after_s=RETRY_AFTER_S)
        time.sleep(random.uniform(0.05, 0.15))  # apart from another waiter, who may take it first
    try:
        yield
    finally:
        state.limits.give_back(starting, STARTING, link.link_id)  # on record now, or never placed


def _taken(state: AppState, link: DemoLink, starting: RateLimitItem) -> bool:
    """Whether this call has taken one of ``link``'s calls (``starting.amount``, its
    ``max_calls``); False while calls being started through it may still take the last ones.
    Raises ``UsedUpDemoLink`` once they are placed."""
    if state.limits.hit(starting, STARTING, link.link_id) is not None:
        return False  # as many calls being started as the link has at all
    try:
        # The calls being started (this one among them) are read before the calls placed: one
        # that ends in between is then among the latter (it is on record before it leaves the
        # former), so no call through the link goes uncounted by both.
        others = state.limits.counted(starting, STARTING, link.link_id) - 1
        placed = _placed(state, link)
    except BaseException:
        state.limits.give_back(starting, STARTING, link.link_id)
        raise
    if placed + others < starting.amount:
        return True
    state.limits.give_back(starting, STARTING, link.link_id)
    if placed >= starting.amount:
        raise UsedUpDemoLink()
    return False


def _placed(state: AppState, link: DemoLink) -> int:
    """The calls placed through ``link``; none while the call log cannot be read (calls go on
    while it is down, README, and the links with them)."""
    try:
        return state.history.demo_link_calls(link.link_id)
    except CallLogError as error:
        log.error("demo link %s: its calls could not be counted: %s", link.link_id, error)
        return 0


def named_link(secret_key: str, text: str) -> tuple[str, DemoLink | None]:
    """The id of the link ``text`` names: the link itself (``…/demo/sales?t=…``), its token, or its
    id (``dl_…``); and the link, when it was given. Raises ``InvalidDemoLink``."""
    text = text.strip()
    if re.fullmatch(LINK_ID_PATTERN, text):
        return text, None
    token = parse_qs(urlsplit(text).query).get("t", [""])[0] if "?" in text else text
    link = verify_demo_link(secret_key, token)
    return link.link_id, link


def usable_demo_link(state: AppState, agent: str, link: DemoLink | None) -> DemoLink:
    """The link (:func:`signed_link`'s) a prospect may use now: signed by us for ``agent``, not
    expired (by its signed expiry, or the later one it was extended to: ``flask
    extend-demo-link``, the admin view) and not revoked (``flask revoke-demo-link``, the admin
    view), with the expiry and the calls it has now (more than signed, once extended). Raises
    ``InvalidDemoLink``, ``ExpiredDemoLink``, or ``RevokedDemoLink`` (the same code: it has ended
    either way, and its page says which)."""
    if link is None:
        raise InvalidDemoLink()
    try:
        standing = state.history.demo_link_standing(link.link_id)
    except CallLogError as error:
        # Calls go on while the call log is down (README), and the links with them.
        log.error("demo link %s: whether it is revoked could not be read: %s", link.link_id, error)
        standing = LinkStanding(revoked_at=None, grant=None)
    if standing.grant is not None:  # made here: extended, perhaps, past what is signed in it
        link = _granted(link, standing.grant)
    if link.expires_at <= time.time():
        raise ExpiredDemoLink()
    if link.agent != agent:
        raise InvalidDemoLink()
    if standing.revoked_at is not None:
        raise RevokedDemoLink()
    return link


def _granted(link: DemoLink, grant: LinkGrant) -> DemoLink:
    """``link`` with what the call log grants it, never less than is signed in it."""
    expires_at = max(link.expires_at, int(grant.expires_at.timestamp()))
    max_calls = link.max_calls
    if max_calls is not None and (grant.max_calls is None or grant.max_calls > max_calls):
        max_calls = grant.max_calls
    return dataclasses.replace(link, expires_at=expires_at, max_calls=max_calls)


def opened_in_a_browser(headers: Headers) -> bool:
    """Whether a request for a link's page is a browser opening it for a person: its own navigation
    to a page or a frame (``Sec-Fetch-Mode: navigate``, which every current browser sends), not a
    prefetch or a prerender (``Sec-Purpose``, or the older ``Purpose``). Chat apps' link previews
    and mail scanners fetch a link without these headers."""
    return (
        headers.get("Sec-Fetch-Mode") == "navigate"
        and headers.get("Sec-Fetch-Dest") in ("document", "iframe")
        and not headers.get("Sec-Purpose")
        and not headers.get("Purpose")
    )


def note_opened(state: AppState, link: DemoLink) -> None:
    """Count ``link``'s page opened now; a call log that cannot be written loses the count, not
    the page."""
    try:
        state.history.record_demo_link_open(link.link_id, datetime.now(UTC))
    except CallLogError as error:
        log.error("demo link %s: its opening could not be counted: %s", link.link_id, error)


def parse_variables(items: Iterable[str]) -> dict[str, str]:
    """``NAME=VALUE`` items as a link's preset variables (a later name wins); ``ValueError``
    quoting the first item that is not one."""
    variables: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(VARIABLE_PATTERN, name):
            raise ValueError(f"{item[:80]!r} is not NAME=VALUE with a variable's name")
        variables[name] = value
    return variables


def parse_label(text: str | None) -> str | None:
    """A link's label, trimmed (None when empty); ``ValueError`` when it is too long or not one line."""
    label = text.strip() if text else None
    if label and (len(label) > MAX_LABEL_CHARS or re.search(r"[\x00-\x1f\x7f]", label)):
        raise ValueError(f"at most {MAX_LABEL_CHARS} characters on one line, without control characters")
    return label or None


def link_url(base_url: str, token: str, agent: str, lang: str | None = None) -> str:
    """The address of the link: the demo page of ``agent`` with its token (and a language);
    ``ValueError`` past ``MAX_LINK_CHARS``."""
    url = f"{base_url.rstrip('/')}/demo/{agent}?t={token}" + (f"&lang={lang}" if lang else "")
    if len(url) > MAX_LINK_CHARS:
        raise ValueError(
            f"the link would be {len(url):,} characters long, past {MAX_LINK_CHARS:,} (chat apps, mail and "
            "servers cut longer ones): shorten the variables or the label"
        )
    return url


def parse_expiry(text: str, *, now: float) -> int:
    """When a link expires (epoch s): a duration (``90s``, ``30m``, ``12h``, ``7d``, ``2w``) or an
    ISO 8601 date or time (``2026-12-31``: through that day; ``2026-12-31T18:00:00+01:00``; UTC
    when no zone); later than ``now``, ten years ahead at most."""
    try:
        expires_at = _expiry(text, now=now)
    except OverflowError:  # the last day there is, and the day after it
        expires_at = None
    if expires_at is None or expires_at > now + MAX_LIFE_S:
        raise ValueError("a link works ten years at most")
    if expires_at <= now:  # a dead link made and kept (a date by the year 1, even, before its epoch)
        raise ValueError("that moment has passed")
    return expires_at


def _expiry(text: str, *, now: float) -> int:
    """:func:`parse_expiry` before its bound."""
    match = _DURATION_RE.match(text.strip())
    if match and int(match.group(1)) > 0:
        return int(now) + int(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("use a duration (30m, 12h, 7d, 2w) or a date (2026-12-31)") from None
    if _DATE_RE.match(text.strip()):  # a day: the link works through it
        moment += timedelta(days=1)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
