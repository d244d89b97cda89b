"""The HTML pages: the agent list and the call page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, make_response, render_template

from .agents import Agent
from .security import csp_nonce, page_headers

bp = Blueprint("pages", __name__)
AGENT_JOIN_TIMEOUT_S = 20
_ERROR_TEXT = {
    404: ("Not found", "There is nothing at this address. Check the link you were given."),
    500: ("Something went wrong", "We could not show this page. Please try again in a moment."),
}


@bp.get("/")
def index() -> Response:
    """The only agent's call page, or the list of agents."""
    agents = current_app.extensions["webcall"].settings.agents
    if len(agents) == 1:
        return _call_page(next(iter(agents.values())))
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
    return _call_page(agent)


def page_config(agent: Agent) -> dict[str, Any]:
    """What the call page's script needs, as JSON in the page."""
    return {
        "agent": agent.slug,
        "title": agent.title,
        "api_url": "/api/calls",
        "max_call_s": agent.max_call_s,
        "agent_join_timeout_s": AGENT_JOIN_TIMEOUT_S,
        "accent_color": agent.accent_color,
        "consent_text": agent.consent_text,
    }


def _call_page(agent: Agent) -> Response:
    """Render the call page with its strict headers and the microphone allowed."""
    html = render_template(
        "call.html", agent=agent.public(), page_config=page_config(agent), csp_nonce=csp_nonce()
    )
    return page_headers(make_response(html), microphone=True)


def render_error_page(status: int) -> Response:
    """A plain page for a failed page request; never a stack trace."""
    title, message = _ERROR_TEXT.get(
        status,
        _ERROR_TEXT[500] if status >= 500 else ("Request refused", "This request could not be handled."),
    )
    html = render_template("error.html", title=title, message=message, status=status, csp_nonce=csp_nonce())
    return page_headers(make_response(html, status), microphone=False)
