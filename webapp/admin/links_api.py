"""Sales-demo links in the admin JSON API, for a CRM or a script that sends one link per prospect:
``POST /api/admin/demo-links`` makes one, ``GET`` lists them or shows one,
``POST /api/admin/demo-links/<link_id>/revoke`` (or ``/restore``) takes one back or lets it work
again, and ``POST /api/admin/demo-links/<link_id>/extend`` lets one work longer or place more calls.

The admin view's ``/admin/demo-links`` and the CLI's ``demo-link`` and ``revoke-demo-link`` for
scripts; the same token as the rest of the admin API (``admin.api``), and never cached. A make
carrying an ``Idempotency-Key`` is made once: a retry with the key gets the same link.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..calls.api import read_json_bytes
from ..errors import (
    AppError,
    BadRequest,
    CallInProgress,
    CallLogUnavailable,
    DemoLinksDisabled,
    IdempotencyKeyReused,
    InvalidBody,
    InvalidField,
    InvalidIdempotencyKey,
    InvalidJson,
    InvalidQuery,
    PayloadTooLarge,
    RequestTimeout,
    UnknownAgent,
    UnknownDemoLink,
    UnknownField,
    UnsupportedMediaType,
)
from ..guards.idempotency import check_key, fingerprint, once_per_key, scoped_key
from ..pages.demo_links import LINK_ID_PATTERN, DemoLink, new_link_id, parse_expiry
from ..state import AppState, app_state
from .api import TOKEN_RAISES, authenticate, call_log_or_503, list_limit, no_store
from .link_models import (
    MAX_QUERY_CHARS,
    DemoLinkBody,
    DemoLinkExtension,
    DemoLinkList,
    Making,
    admin_demo_link,
    extend_link,
    make_link,
    parse_link_body,
    set_revoked,
)

bp = Blueprint("admin_links_api", __name__, url_prefix="/api/admin/demo-links")
bp.before_request(authenticate)
MAX_BODY_BYTES = 64 * 1024  # 32 variables of 1,000 characters, escaped, fit; a link holds 2,000
MAX_LIST_LIMIT = 1000
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The errors each endpoint answers with (the OpenAPI document lists them from here).
MAKE_RAISES: tuple[type[AppError], ...] = (
    InvalidJson, InvalidBody, UnknownField, InvalidField, InvalidIdempotencyKey, *TOKEN_RAISES,
    DemoLinksDisabled, UnknownAgent, IdempotencyKeyReused, CallInProgress, PayloadTooLarge, RequestTimeout,
    BadRequest, UnsupportedMediaType,
)  # fmt: skip
LIST_RAISES: tuple[type[AppError], ...] = (InvalidQuery, *TOKEN_RAISES, CallLogUnavailable)
ONE_RAISES: tuple[type[AppError], ...] = (*TOKEN_RAISES, UnknownDemoLink, CallLogUnavailable)
EXTEND_RAISES: tuple[type[AppError], ...] = (
    InvalidJson, InvalidBody, UnknownField, InvalidField, *TOKEN_RAISES, UnknownDemoLink, PayloadTooLarge,
    RequestTimeout, BadRequest, UnsupportedMediaType, CallLogUnavailable,
)  # fmt: skip


@bp.post("")
def make_demo_link() -> tuple[Response, int]:
    """Make a signed demo link (as ``flask demo-link`` does) and keep it in the call log."""
    state = app_state()
    key = check_key(request.headers.get("Idempotency-Key"))
    body = parse_link_body(read_json_bytes(MAX_BODY_BYTES), DemoLinkBody)
    # A script's retry (its answer lost) with the same key gets the same link, not a second one.
    scoped = scoped_key("demo-links", "admin-api", key) if key else None
    made = once_per_key(state.replay, scoped, lambda: _make(state, body), fingerprint(body.model_dump()))
    return no_store(jsonify(made)), 201


def _make(state: AppState, body: DemoLinkBody) -> dict[str, Any]:
    """The link ``body`` asks for, made and kept; its answer."""
    if not state.settings.secret_key_configured:
        raise DemoLinksDisabled()
    if body.agent not in state.settings.agents:
        raise UnknownAgent()
    try:
        expires_at = parse_expiry(body.expires, now=time.time())
    except ValueError as exc:
        raise InvalidField(f"expires: {exc}.") from None
    link = DemoLink(
        agent=body.agent,
        variables=dict(body.variables or {}),
        expires_at=expires_at,
        link_id=new_link_id(),
        label=body.label,  # one line, trimmed, 100 characters at most: the CLI's rules
        max_calls=body.max_calls,
    )
    base_url = state.settings.public_url or request.host_url
    try:
        made = make_link(state, Making(link, base_url, body.lang, "api"))
    except ValueError as exc:  # past MAX_LINK_CHARS
        raise InvalidField(f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None
    return made.model_dump()


@bp.get("")
def list_demo_links() -> Response:
    """The links made here or used, the latest first (made, opened or tried): ``limit`` of them (100),
    those whose label holds ``q`` or whose id it is when given."""
    limit, q = _list_args(request.args)
    with call_log_or_503():
        links = app_state().history.demo_links(limit=limit, q=q)
    now = datetime.now(UTC)
    answer = DemoLinkList(links=[admin_demo_link(link, now) for link in links])
    return no_store(jsonify(answer.model_dump()))


def _list_args(args: Mapping[str, str]) -> tuple[int, str | None]:
    """The ``limit`` and ``q`` query parameters (the only ones), or ``InvalidQuery``."""
    limit = list_limit(args, takes=("limit", "q"), maximum=MAX_LIST_LIMIT)
    q = args.get("q", "")
    if len(q) > MAX_QUERY_CHARS or CONTROL.search(q):
        raise InvalidQuery(f"q is not valid: at most {MAX_QUERY_CHARS} characters, on one line.")
    return limit, q.strip() or None


@bp.get("/<link_id>")
def get_demo_link(link_id: str) -> Response:
    """One link, by its id (``dl_…``)."""
    return _link_answer(link_id)


@bp.post("/<link_id>/revoke")
def revoke_demo_link(link_id: str) -> Response:
    """Take the link back: from now on its page and its calls are refused, as an expired link's are.
    A link made elsewhere (the call log does not know it yet) can be revoked by its id too."""
    return _change_link(link_id, revoke=True)


@bp.post("/<link_id>/extend")
def extend_demo_link(link_id: str) -> Response:
    """Let a link made here work longer (``{"expires": "14d"}``) or place more calls (``{"max_calls":
    5}``), or both, at the same address (what is signed in it is the least it grants)."""
    if not re.fullmatch(LINK_ID_PATTERN, link_id):
        raise UnknownDemoLink()
    body = parse_link_body(read_json_bytes(MAX_BODY_BYTES), DemoLinkExtension)
    with call_log_or_503():
        extend_link(app_state(), link_id, body, by="api")
    return _link_answer(link_id)


@bp.post("/<link_id>/restore")
def restore_demo_link(link_id: str) -> Response:
    """Let a revoked link work again, until it expires."""
    return _change_link(link_id, revoke=False)


def _change_link(link_id: str, *, revoke: bool) -> Response:
    """Revoke or restore ``link_id``, then answer with the link as it is now."""
    if not re.fullmatch(LINK_ID_PATTERN, link_id):
        raise UnknownDemoLink()
    with call_log_or_503():
        set_revoked(app_state(), link_id, revoked=revoke, by="api")
    return _link_answer(link_id)


def _link_answer(link_id: str) -> Response:
    """The link ``link_id`` as the call log knows it, or ``UnknownDemoLink``."""
    if not re.fullmatch(LINK_ID_PATTERN, link_id):
        raise UnknownDemoLink()
    with call_log_or_503():
        link = app_state().history.demo_link(link_id)
    if link is None:
        raise UnknownDemoLink()
    return no_store(jsonify(admin_demo_link(link, datetime.now(UTC)).model_dump()))
