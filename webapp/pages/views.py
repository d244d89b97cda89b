"""The pages of our own site: the agent list, the call page and sales-demo pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, make_response, render_template, request

from ..catalogue import Agent
from ..errors import AppError
from ..guards.headers import page_headers
from ..state import app_state
from .demo_links import check_calls_left, note_opened, opened_in_a_browser, signed_link, usable_demo_link
from .render import call_page, render_error_page, request_words
from .words import AUTO, joined

bp = Blueprint("pages", __name__)
LINK_REFUSED = "This demo link can't be used"


@bp.get("/")
def index() -> Response:
    """The only agent's call page, or the list of agents."""
    agents = app_state().settings.agents
    if len(agents) == 1:
        return call_page(next(iter(agents.values())))
    # The agents' language when they share one, else the browser's; ?lang= goes on to their pages.
    languages = {a.page_language for a in agents.values()}
    setting = languages.pop() if len(languages) == 1 else AUTO
    asked = request.args.get("lang")
    words = request_words(setting)
    listing = [{**a.public(), "action": _action(a)} for a in agents.values()]
    intro = words("Pick an agent to start a call.")
    if any(agent["action"] == "talk" for agent in listing):
        intro = joined(
            intro, words("A voice call runs in your browser: you will be asked to allow your microphone.")
        )
    query = f"?lang={words.language}" if asked and asked.strip().lower() == words.language else ""
    html = render_template(
        "index.html", agents=listing, intro=intro, lang=words.language, query=query, _=words
    )
    response = page_headers(make_response(html), microphone=False)
    if setting == AUTO:
        response.vary.add("Accept-Language")
    return response


def _action(agent: Agent) -> str:
    """What an agent's card offers: a voice call, a chat, or (phone only) a call to one's phone."""
    if not agent.takes_web_calls:
        return "phone"
    return "chat" if agent.text_only == "only" else "talk"


@bp.get("/talk/<slug>")
def talk(slug: str) -> Response:
    """The call page for one agent."""
    agent = app_state().settings.agents.get(slug)
    if agent is None:
        return render_error_page(404, words=request_words())
    return call_page(agent)


@bp.get("/demo/<slug>")
def demo(slug: str) -> Response:
    """A branded full-page call; ``?t=`` carries a signed link's preset variables and expiry.

    The page's own requests (its assets, the API) send its origin as their referer, not its
    address: the link's token would otherwise be in every proxy's and CDN's referer log.
    """
    response = demo_page(slug)
    response.headers["Referrer-Policy"] = "strict-origin"
    return response


def demo_page(slug: str) -> Response:
    """The demo page for ``slug`` and the link's ``?t=``, or the error page saying why not."""
    settings = app_state().settings
    agent = settings.agents.get(slug)
    if agent is None:
        return render_error_page(404, words=request_words())
    token = request.args.get("t")
    demo_link: dict[str, Any] = {}
    if token is not None:
        words = request_words(agent.page_language)  # the prospect reads why in the demo's language
        try:
            link = usable_demo_link(app_state(), agent.slug, signed_link(settings.secret_key, token))
            check_calls_left(app_state(), link)  # one used up has ended, as an expired one has
        except AppError as error:
            return render_error_page(
                error.status_code, title=words(LINK_REFUSED), message=words(error.message), words=words
            )
        if opened_in_a_browser(request.headers):
            note_opened(app_state(), link)
        demo_link = {"token": token, "variables": link.variables, "expires_at": link.expires_at}
    return call_page(agent, mode="demo", demo=demo_link)
