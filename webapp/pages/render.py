"""Rendering a call page (for the page, the iframe, the widget or a demo) and the error page."""

from __future__ import annotations

from typing import Any

import phonenumbers
from flask import Response, make_response, render_template, request

from ..catalogue import Agent
from ..guards.headers import page_headers
from ..settings import Settings
from ..state import app_state
from ..tracing import current_request_id
from .words import AUTO, DEFAULT_LANGUAGE, Words, choose_language, words_for

AGENT_JOIN_TIMEOUT_S = 20
ERROR_TEXT = {
    404: ("Not found", "There is nothing at this address. Check the link you were given."),
    500: ("Something went wrong", "We could not show this page. Please try again in a moment."),
}


def page_config(
    agent: Agent,
    *,
    mode: str = "page",
    demo: dict[str, Any] | None = None,
    api_url: str = "/api/calls",
    phone_api_url: str = "/api/phone-calls",
) -> dict[str, Any]:
    """What the call UI's script needs, as JSON in the page (or the widget's panel)."""
    state = app_state()
    settings = state.settings
    words = request_words(agent.page_language)
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
        # agent_video, camera, screen_share, text_only, push_to_talk: which controls the page offers.
        "media": agent.media(),
        "web": agent.takes_web_calls,  # false: a phone-only agent (the page offers just the phone form)
        "phone": phone_config(agent, phone_api_url, words),
        "feedback": agent.feedback and agent.takes_web_calls,  # ask how a call went, once it has ended
        # Which protocol the agent speaks in the room: the page loads its adapter before the click.
        "provider": agent.provider,
        # Known before the call for some providers (our own server), so the page can warm it up.
        "livekit_url": state.provider_for(agent).livekit_url_before_call(),
        # The iframe embed posts its events to the page around it, if on one of these origins.
        "host_origins": list(agent.allowed_origins) if mode == "embed" else [],
        **bot_check_config(agent, settings),
        "lang": words.language,
        "words": words.script,  # the script's words in that language ({} in English: its own)
    }


def request_words(setting: str = AUTO) -> Words:
    """This request's words: ``?lang=``, else ``setting`` (an agent's ``page_language``; ``auto``,
    as for a page no agent chose for: the browser's)."""
    return words_for(choose_language(setting, request.args.get("lang"), request.accept_languages))


def bot_check_config(agent: Agent, settings: Settings) -> dict[str, Any]:
    """What the page needs to run the bot check, when the agent's calls need it and Turnstile is
    configured: the site key and script, and whether its web calls send a token (``web_bot_check``;
    its phone form always does)."""
    site_key = settings.turnstile_site_key
    if not (site_key and agent.needs_bot_check(settings.turnstile_secret_key is not None)):
        return {"turnstile_site_key": None, "turnstile_script_url": None, "web_bot_check": False}
    return {
        "turnstile_site_key": site_key,
        "turnstile_script_url": settings.turnstile_script_url,
        "web_bot_check": agent.checks_bots(True),
    }


def phone_config(agent: Agent, api_url: str, words: Words) -> dict[str, Any] | None:
    """What the phone form needs: the countries it may call (with their calling codes) and the consent."""
    if not agent.takes_phone_calls or agent.phone is None:
        return None
    countries = [
        {"code": code, "dial": phonenumbers.country_code_for_region(code)}
        for code in agent.phone.allowed_countries
    ]
    default = words("I agree that {title} may call this number now.", title=agent.title)
    consent = agent.phone.consent_text or default
    # Whether the provider tells us how the call goes (UnleashX does not): else the page says the
    # phone should ring, rather than "Calling you now…" for as long as it would follow the call.
    follows = app_state().spec_for(agent).supports("get_call")
    return {"api_url": api_url, "countries": countries, "consent_text": consent, "follows": follows}


def call_page(
    agent: Agent,
    *,
    mode: str = "page",
    demo: dict[str, Any] | None = None,
    frame_ancestors: tuple[str, ...] = ("'none'",),
) -> Response:
    """Render the call page with its strict headers, allowing the devices the agent's calls use."""
    config = page_config(agent, mode=mode, demo=demo)
    html = render_template("call.html", agent=agent.public(), page_config=config, _=words_for(config["lang"]))
    response = page_headers(
        make_response(html),
        **agent.browser_devices(),
        autoplay=True,
        frame_ancestors=frame_ancestors,
        private=bool(demo),  # a demo link's token is in it
    )
    if agent.page_language == AUTO:  # a shared cache must not hand one caller's language to another
        response.vary.add("Accept-Language")
    return response


def render_error_page(
    status: int, *, title: str | None = None, message: str | None = None, words: Words | None = None
) -> Response:
    """A plain page for a failed page request; never a stack trace. With an agent's ``words``
    (a demo link it refused), its frame is in that language; ``title`` and ``message`` come
    translated."""
    default = ERROR_TEXT[500] if status >= 500 else ("Request refused", "This request could not be handled.")
    default_title, default_message = ERROR_TEXT.get(status, default)
    words = words or words_for(DEFAULT_LANGUAGE)
    html = render_template(
        "error.html",
        title=title or words(default_title),
        message=message or words(default_message),
        status=status,
        request_id=current_request_id(),  # a screenshot of the page leads to its log lines
        lang=words.language,
        _=words,
    )
    return page_headers(make_response(html, status), microphone=False, cacheable=False)
