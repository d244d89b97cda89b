"""Embeds for other people's pages: the script loader, its call panel, and the iframe page.

``/embed.js`` is the tiny loader a host page includes (served by WhiteNoise, see
``assets.py``); when a visitor opens the widget it fetches ``/embed/<slug>/panel``
(HTML and config for the shadow root) and the call code. The panel answers only the agent's
allowed origins, and ``POST /api/calls`` refuses the others, so a site that is not allowed
gets a refusal and no call. The loader and the call code are public files (any site may load
them: they hold no agent's settings and grant nothing).
``/embed/<slug>`` is the iframe page.
"""

from __future__ import annotations

from urllib.parse import urljoin

from flask import Blueprint, Response, jsonify, render_template, request, url_for

from ..guards.headers import compress
from ..guards.origin import check_origin, cors_headers
from ..state import app_state
from .render import call_page, page_config, render_error_page, request_words
from .words import words_for

bp = Blueprint("embed", __name__)


@bp.get("/embed/<slug>")
def iframe(slug: str) -> Response:
    """The call page for an iframe: exactly the agent's allowed origins may frame it (none listed:
    nobody; the page calls the API from our own origin, so framing is its only guard)."""
    agent = app_state().settings.agents.get(slug)
    if agent is None:
        return render_error_page(404, words=request_words())
    return call_page(agent, mode="embed", frame_ancestors=tuple(agent.allowed_origins) or ("'none'",))


@bp.get("/embed/<slug>/panel")
def panel(slug: str) -> Response:
    """The widget's panel (HTML for its shadow root, and its config) for an allowed host page."""
    state = app_state()
    agent = state.agent(slug)
    assets = state.assets
    check_origin(agent)
    config = page_config(
        agent,
        mode="widget",
        api_url=url_for("calls.create_call", _external=True),
        phone_api_url=url_for("phone.create_phone_call", _external=True),
    )
    public = agent.public()
    if agent.logo_url:  # a path on our site must not resolve against the host page
        public["logo_url"] = config["logo_url"] = urljoin(request.host_url, agent.logo_url)
    response = jsonify(
        html=render_template(
            "_call_panel.html", agent=public, page_config=config, _=words_for(config["lang"])
        ),
        config=config,
        css_url=assets.url("call.css", external=True),
        script_url=assets.url("widget.js", external=True),
    )
    response.headers["Cache-Control"] = "no-store"
    compress(response)  # 6.3 kB of JSON, a third of it gzipped: the same for every visitor, no secret
    return cors_headers(response, agent)


@bp.after_request
def readable_refusals(response: Response) -> Response:
    """Let any page read the panel's refusals (403, 404): its widget then says why it can't call.

    Without CORS a refused page would only see a network failure. The error body is generic
    and carries no panel, config or credentials, so showing it to any origin gives nothing away.
    """
    if request.endpoint == "embed.panel" and response.status_code >= 400:
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
    return response
