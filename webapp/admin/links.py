"""Sales-demo links in the admin view (``/admin/demo-links``): a form that makes one, the links
made or used with their calls, and revoking, restoring or extending one.

The CLI's ``demo-link`` and ``revoke-demo-link`` for people without a shell; the links
themselves are ``pages.demo_links``. Signed in as the rest of the view (``views.gate``); a
script copies a link made (``static/src/admin/copy.js``).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from ..errors import IdempotencyKeyReused, InvalidField, UnknownDemoLink
from ..guards.idempotency import KEY_RE, fingerprint, once_per_key
from ..history.store import CallLogError
from ..pages.demo_links import (
    LINK_ID_PATTERN,
    MAX_CALLS,
    DemoLink,
    new_link_id,
    parse_expiry,
    parse_label,
    parse_variables,
)
from ..pages.render import render_error_page
from ..pages.words import PageLanguage
from ..state import app_state
from .auth import csrf_ok
from .display import LANGUAGE_NAMES
from .link_models import (
    EXTEND_UNKNOWN,
    MAX_QUERY_CHARS,
    NOT_MORE,
    DemoLinkExtension,
    DemoLinkMade,
    Making,
    admin_demo_link,
    extend_link,
    link_request,
    make_link,
    set_revoked,
)
from .models import as_sentence
from .views import EXPIRED_FORM, call_log_unavailable, gate, page

bp = Blueprint("admin_links", __name__, url_prefix="/admin/demo-links")
bp.before_request(gate)  # the view's own: a 404 when it is off, the sign-in page for strangers
log = logging.getLogger(__name__)


@bp.get("")
def demo_links() -> Response:
    """The form that makes a demo link, and the links made or used."""
    return _demo_links_page()


@bp.post("")
def make_demo_link() -> Response:
    """Make a signed demo link from the form (the CLI's ``demo-link``, for people without a shell)."""
    if not csrf_ok(request.form.get("csrf_token")):
        return _demo_links_page(status=400, error=EXPIRED_FORM, form=request.form)
    settings = app_state().settings
    if not settings.secret_key_configured:
        return _demo_links_page(status=400, form=request.form)  # the page says why
    form = request.form
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    readers: dict[str, Callable[[], Any]] = {
        "agent": lambda: _known_agent(form.get("agent", "")),
        "label": lambda: parse_label(form.get("label")),
        "variables": lambda: parse_variables(
            line.strip() for line in form.get("variables", "").splitlines() if line.strip()
        ),
        "expires": lambda: parse_expiry(form.get("expires") or "7d", now=time.time()),
        "max_calls": lambda: _calls_allowed(form.get("max_calls", "")),
        "lang": lambda: _page_language(form.get("lang", "")),
    }
    for name, read in readers.items():
        try:
            values[name] = read()
        except ValueError as exc:
            problems[name] = as_sentence(str(exc))
    if problems:
        return _demo_links_page(status=400, form=form, problems=problems)
    link = DemoLink(
        agent=values["agent"],
        variables=values["variables"],
        expires_at=values["expires"],
        link_id=new_link_id(),
        label=values["label"],
        max_calls=values["max_calls"],
    )
    base_url = settings.public_url or request.host_url
    state = app_state()

    def making() -> dict[str, Any]:
        return make_link(state, Making(link, base_url, values["lang"], "admin")).model_dump(mode="json")

    # The form's own id: sent again (a reload of the page it answered, a second click) within the
    # replay window, it shows the link it made then instead of making another that works too.
    form_id = form.get("form_id", "")
    key = f"admin-demo-link|{form_id}" if KEY_RE.fullmatch(form_id) else None
    asked = fingerprint({name: form.get(name, "") for name in readers})
    try:
        try:
            answer = once_per_key(state.replay, key, making, asked)
        except IdempotencyKeyReused:  # the page gone back to and the form changed: another link
            answer = making()
        made = DemoLinkMade.model_validate(answer)
    except ValueError as exc:
        return _demo_links_page(status=400, form=form, problems={"variables": as_sentence(str(exc))})
    return _demo_links_page(made=made)


def _known_agent(slug: str) -> str:
    """An agent of the catalogue, or ``ValueError``."""
    if slug not in app_state().settings.agents:
        raise ValueError("choose one of the agents")
    return slug


def _calls_allowed(text: str) -> int | None:
    """The calls a link may place (empty: any number), or ``ValueError``."""
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= MAX_CALLS:
        raise ValueError(f"a whole number from 1 to {MAX_CALLS:,}, or empty for any number")
    return int(text)


def _page_language(code: str) -> PageLanguage | None:
    """A language the page speaks, or None for the agent's own; ``ValueError`` otherwise."""
    if code and code not in LANGUAGE_NAMES:
        raise ValueError("choose one of the languages")
    return cast(PageLanguage, code) if code else None


def _demo_links_page(*, status: int = 200, form: Any = None, **context: Any) -> Response:
    """The demo links' page: the form (as sent, when it was refused) and the links used."""
    q = request.args.get("q", "").strip()[:MAX_QUERY_CHARS] or None
    try:
        links = app_state().history.demo_links(q=q)
    except CallLogError as error:
        log.error("admin: the call log failed: %s", error)
        links = None
    fields = ("agent", "label", "variables", "expires", "max_calls", "lang")
    sent = {name: str((form or {}).get(name) or "") for name in fields}
    sent["expires"] = sent["expires"] or "7d"
    return page(
        "admin/demo_links.html",
        status=status,
        form=sent,
        form_id=secrets.token_urlsafe(16),  # a new one each time: see make_demo_link
        agents=sorted(app_state().settings.agents),
        languages=LANGUAGE_NAMES,
        signing=app_state().settings.secret_key_configured,
        links=None if links is None else [admin_demo_link(link, datetime.now(UTC)) for link in links],
        q=q or "",
        **context,
    )


@bp.post("/<link_id>/revoke")
def revoke_link(link_id: str) -> BaseResponse:
    """Take a demo link back: its page and its calls are refused from now on."""
    return _change_link(link_id, revoke=True)


@bp.post("/<link_id>/extend")
def extend(link_id: str) -> BaseResponse:
    """Let a demo link made here work longer (the form's ``expires``) or place more calls (its
    ``more_calls``), then show its calls."""
    if not re.fullmatch(LINK_ID_PATTERN, link_id):
        return render_error_page(404, title="No such link", message="That is not a demo link's id.")
    if not csrf_ok(request.form.get("csrf_token")):
        return render_error_page(400, title="Form expired", message=EXPIRED_FORM)
    try:
        extend_link(app_state(), link_id, _extension(link_id, request.form), by="admin")
    except CallLogError as error:
        return call_log_unavailable(error)
    except (InvalidField, UnknownDemoLink) as refused:
        reason = re.sub(r"^(expires|max_calls): ", "", refused.message)
        return render_error_page(refused.status_code, title="Not extended", message=as_sentence(reason))
    return redirect("/admin?" + urlencode({"demo_link": link_id}), code=303)


def _extension(link_id: str, form: Mapping[str, str]) -> DemoLinkExtension:
    """What the bar's forms ask for: a new expiry (``expires``), more calls (``more_calls``, added
    to those the link may place now), or both. Raises ``InvalidField``, ``UnknownDemoLink`` and
    :class:`CallLogError`."""
    expires = form.get("expires", "").strip()
    asked: dict[str, Any] = {"expires": expires} if expires else {}
    more = form.get("more_calls", "").strip()
    if not more:
        if not expires:  # the expiry's form, its field emptied
            raise InvalidField("expires: use a duration (30m, 12h, 7d, 2w) or a date (2026-12-31)")
        return link_request(DemoLinkExtension, asked)
    if not re.fullmatch(r"[0-9]{1,5}", more) or int(more) < 1:
        raise InvalidField(f"more calls: a whole number from 1 to {MAX_CALLS:,}")
    grant = app_state().history.demo_link_standing(link_id).grant
    if grant is None:
        raise UnknownDemoLink(EXTEND_UNKNOWN)
    if grant.max_calls is None:
        raise InvalidField(NOT_MORE["not_more"])
    calls = grant.max_calls + int(more)
    if calls > MAX_CALLS:
        raise InvalidField(f"more calls: a link may place {MAX_CALLS:,} calls at most")
    return link_request(DemoLinkExtension, {**asked, "max_calls": calls})


@bp.post("/<link_id>/restore")
def restore_link(link_id: str) -> BaseResponse:
    """Let a revoked demo link work again, until it expires."""
    return _change_link(link_id, revoke=False)


def _change_link(link_id: str, *, revoke: bool) -> BaseResponse:
    """Revoke or restore the link ``link_id`` (a form with the session's token), then show its calls."""
    if not re.fullmatch(LINK_ID_PATTERN, link_id):
        return render_error_page(404, title="No such link", message="That is not a demo link's id.")
    if not csrf_ok(request.form.get("csrf_token")):
        return render_error_page(400, title="Form expired", message=EXPIRED_FORM)
    try:
        set_revoked(app_state(), link_id, revoked=revoke, by="admin")
    except CallLogError as error:
        return call_log_unavailable(error)
    if request.form.get("back") == "/admin/demo-links":  # from the table of links: back to it
        return redirect("/admin/demo-links", code=303)
    return redirect("/admin?" + urlencode({"demo_link": link_id}), code=303)
