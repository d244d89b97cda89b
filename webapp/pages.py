"""The HTML pages: the agent list, the call page, the iframe embed and sales-demo pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, make_response, render_template, request

from .agents import Agent
from .demo_links import InvalidDemoLink, read_demo_link
from .errors import AppError
from .security import csp_nonce, page_headers

bp = Blueprint("pages", __name__)
AGENT_JOIN_TIMEOUT_S = 20
LINK_REFUSED = "This demo link can't be used"
_ERROR_TEXT = {
    404: ("Not found", "There is nothing at this address. Check the link you were given."),
    500: ("Something went wrong", "We could not show this page. Please try again in a moment."),
}


@bp.get("/")
def index() -> Response:
    """The only agent's call page, or the list of agents."""
    agents = current_app.extensions["webcall"].settings.agents
    if len(agents) == 1:
        return call_page(next(iter(agents.values())))
    listing = [a.public() for a in agents.values()]
    return page_headers(
        make_response(render_template("index.html", agents=listing, csp_nonce=csp_nonce())), microphone=False
    )


@bp.get("/talk/<slug>")
def talk(slug: str) -> Response:
    """The call page for one agent."""
    agent = current_app.extensions["webcall"].settings.agents.get(slug)
    if agent is None:
        return render_error_page(404)
    return call_page(agent)


@bp.get("/demo/<slug>")
def demo(slug: str) -> Response:
    """A branded full-page call; ``?t=`` carries a signed link's preset variables and expiry."""
    settings = current_app.extensions["webcall"].settings
    agent = settings.agents.get(slug)
    if agent is None:
        return render_error_page(404)
    token = request.args.get("t")
    demo_link: dict[str, Any] = {}
    if token is not None:
        try:
            link = read_demo_link(settings.secret_key, token)
        except AppError as error:
            return render_error_page(error.status_code, title=LINK_REFUSED, message=error.message)
        if link.agent != agent.slug:
            return render_error_page(403, title=LINK_REFUSED, message=InvalidDemoLink.message)
        demo_link = {"token": token, "variables": link.variables, "expires_at": link.expires_at}
    return call_page(agent, mode="demo", demo=demo_link)


def page_config(
    agent: Agent, *, mode: str = "page", demo: dict[str, Any] | None = None, api_url: str = "/api/calls"
) -> dict[str, Any]:
    """What the call UI's script needs, as JSON in the page (or the widget's panel)."""
    settings = current_app.extensions["webcall"].settings
    livekit = settings.providers.get("livekit")
    return {
        "mode": mode,  # page, embed (iframe), widget (script embed) or demo (branded sales demo)
        "demo": demo or None,  # a signed link: token (sent back with the call), variables, expires_at
        "agent": agent.slug,
        "title": agent.title,
        "api_url": api_url,
        "max_call_s": agent.max_call_s,
        "agent_join_timeout_s": AGENT_JOIN_TIMEOUT_S,
        "accent_color": agent.accent_color,
        "consent_text": agent.consent_text,
        "theme": agent.theme,
        "logo_url": agent.logo_url,
        # Known before the call for self-hosted LiveKit, so the page can warm the connection up.
        "livekit_url": livekit.credentials["url"] if agent.provider == "livekit" and livekit else None,
        "turnstile_site_key": settings.turnstile_site_key,
        "turnstile_script_url": settings.turnstile_script_url if settings.turnstile_site_key else None,
    }


def call_page(
    agent: Agent,
    *,
    mode: str = "page",
    demo: dict[str, Any] | None = None,
    frame_ancestors: tuple[str, ...] = ("'none'",),
) -> Response:
    """Render the call page with its strict headers and the microphone allowed."""
    config = page_config(agent, mode=mode, demo=demo)
    html = render_template("call.html", agent=agent.public(), page_config=config, csp_nonce=csp_nonce())
    return page_headers(make_response(html), microphone=True, frame_ancestors=frame_ancestors)


def render_error_page(status: int, *, title: str | None = None, message: str | None = None) -> Response:
    """A plain page for a failed page request; never a stack trace."""
    default = _ERROR_TEXT[500] if status >= 500 else ("Request refused", "This request could not be handled.")
    default_title, default_message = _ERROR_TEXT.get(status, default)
    html = render_template(
        "error.html",
        title=title or default_title,
        message=message or default_message,
        status=status,
        csp_nonce=csp_nonce(),
    )
    return page_headers(make_response(html, status), microphone=False)
