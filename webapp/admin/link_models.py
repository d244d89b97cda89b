"""Sales-demo links as the admin view and the admin API show them: a link's state, the body that
makes one, and making it.

The links themselves (signing, checking, the call log's record of a call) are
``pages.demo_links``; the view's pages are ``admin.links`` and the API's ``admin.links_api``.
One pydantic model per shape, as the OpenAPI document is generated from them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from ..calls.models import MAX_ITEMS, SINGLE_LINE, SlugText, Value, body_error, field_loc, json_object
from ..catalogue import VARIABLE_PATTERN
from ..errors import InvalidField, UnknownDemoLink
from ..history.payloads import LinkStatus, link_fields
from ..history.store import LinkExtension, LinkState
from ..pages.demo_links import MAX_CALLS, MAX_LABEL_CHARS, DemoLink, issue_link, parse_expiry
from ..pages.words import LANGUAGES, PageLanguage
from ..state import AppState

MAX_QUERY_CHARS = 100  # a search of the links: a label's length
MadeBy = Literal["admin", "api", "cli"]
EXTEND_UNKNOWN = "No demo link with this id was made here: only those can be extended."
NOT_MORE = {
    "not_later": "expires: the link works until then already; revoke it to end it sooner.",
    "not_more": "max_calls: the link may place as many calls already; revoke it to end it sooner.",
}
log = logging.getLogger(__name__)


class AdminDemoLink(BaseModel):
    """One demo link as the call log knows it: how it was made (when it was made here), whether it
    still works, and the calls that came through it."""

    model_config = ConfigDict(extra="forbid")

    link_id: str = Field(description="Its id (`dl_…`), as on its calls' `demo_link_id`.")
    label: str | None = Field(
        description="Its label, or else its preset variables (`company=Acme, name=Jo`)."
    )
    agent: str | None = Field(description="The agent it calls.")
    state: LinkStatus = Field(
        description="`works`, `revoked`, `expired` (past `expires_at`) or `used_up` (`max_calls` placed). "
        "A link made elsewhere (`made_at` null) is known by its calls alone: `works` unless revoked."
    )
    made_at: str | None = Field(
        json_schema_extra={"format": "date-time"},
        description="When it was made here; null for a link made before links were kept.",
    )
    made_by: MadeBy | None = Field(description="Where: the admin view, this API or the CLI.")
    expires_at: str | None = Field(json_schema_extra={"format": "date-time"})
    max_calls: int | None = Field(description="The calls it may place; null for any number.")
    opens: int = Field(
        description="How often its page was opened in a browser, reloads included (a link preview's or "
        "a mail scanner's fetch without a browser's `Sec-Fetch` headers is not counted)."
    )
    first_opened_at: str | None = Field(json_schema_extra={"format": "date-time"})
    last_opened_at: str | None = Field(json_schema_extra={"format": "date-time"})
    calls: int = Field(description="The calls placed through it (web and phone).")
    refused: int = Field(description="Its requests refused (expired or revoked, a limit, ...).")
    last_at: str | None = Field(
        json_schema_extra={"format": "date-time"}, description="Its last request, placed or refused."
    )
    revoked_at: str | None = Field(json_schema_extra={"format": "date-time"})


class DemoLinkEvent(BaseModel):
    """What ``WEBCALL_EVENTS_URL`` is sent the first time a demo link's page is opened in a browser."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["demo_link.opened"]
    timestamp: str = Field(json_schema_extra={"format": "date-time"}, description="When it was opened.")
    data: AdminDemoLink = Field(description="The link as it was then.")


class DemoLinkList(BaseModel):
    """The demo links made here or used, the latest first (made, opened or tried)."""

    model_config = ConfigDict(extra="forbid")

    links: list[AdminDemoLink]


class DemoLinkMade(AdminDemoLink):
    """A link just made: its address, to send to the prospect."""

    url: str = Field(description="The link: the agent's demo page with its signed token.")
    lang: PageLanguage | None = Field(description="The page's language; null for the agent's own.")
    kept: bool = Field(
        description="Whether the call log keeps it: when false (the log could not be written) the link "
        "works all the same, and is listed from its first call."
    )


VariableName = Annotated[str, StringConstraints(pattern=VARIABLE_PATTERN)]
LabelText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL_CHARS, pattern=SINGLE_LINE)]
ExpiryText = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=SINGLE_LINE)]


class DemoLinkBody(BaseModel):
    """``POST /api/admin/demo-links``: the link to make, as ``flask demo-link`` takes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: SlugText = Field(description="The agent's slug.")
    label: LabelText | None = Field(
        None, description="Who the link is for (`Acme pilot`): readable by whoever has the link."
    )
    variables: Annotated[dict[VariableName, Value], Field(max_length=MAX_ITEMS)] | None = Field(
        None, description="Preset prompt variables, signed into the link: readable by whoever has it."
    )
    expires: ExpiryText = Field(
        "7d",
        description="How long it works (`30m`, `12h`, `7d`, `2w`) or until when (`2026-12-31`: through that "
        "day, UTC; `2026-12-31T18:00:00+01:00`); ten years at most.",
    )
    max_calls: Annotated[StrictInt, Field(ge=1, le=MAX_CALLS)] | None = Field(
        None, description="The calls it may place (phone callbacks from its page too); null for any number."
    )
    lang: PageLanguage | None = Field(None, description="The page's language; null for the agent's own.")


class DemoLinkExtension(BaseModel):
    """``POST /api/admin/demo-links/<link_id>/extend``: until when the link works now, how many
    calls it may place in all, or both: one of them at least (``expires`` as a text, or
    ``max_calls``, null included; ``{"expires": null}`` alone is refused too)."""

    # `minProperties` rather than an `anyOf` of `required`s, which client generators mishandle.
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"minProperties": 1})

    expires: ExpiryText | None = Field(
        None,
        description="How long it works from now (`30m`, `12h`, `7d`, `2w`) or until when (`2026-12-31`: "
        "through that day, UTC; `2026-12-31T18:00:00+01:00`): later than it works until now (revoke a "
        "link to end it sooner), ten years at most.",
    )
    max_calls: Annotated[StrictInt, Field(ge=1, le=MAX_CALLS)] | None = Field(
        None,
        description="The calls it may place in all, those placed included: more than it may now, or null "
        "for any number (for a link limited to a number of calls).",
    )


# Words for the fields whose rules the generic ones (calls.models) do not say well.
_WORDS = {
    "variables[key]": "variables keys must be variable names: a letter or _, then letters, digits or _ "
    "(64 at most).",
    "label": f"label must be a single-line string of 1 to {MAX_LABEL_CHARS} characters.",
    "expires": "expires must be a duration (30m, 12h, 7d, 2w) or a date (2026-12-31).",
    "max_calls": f"max_calls must be a whole number from 1 to {MAX_CALLS:,}, or null for any number.",
    "lang": "lang must be one of the page's languages: " + ", ".join(LANGUAGES) + ".",
}


Body = TypeVar("Body", DemoLinkBody, DemoLinkExtension)


def parse_link_body(raw: bytes, model: type[Body]) -> Body:
    """A JSON body about a demo link (``model``: the link to make, or its extension), or a
    ``BadRequest`` with a stable code (never echoing a value)."""
    return link_request(model, json_object(raw))


def link_request(model: type[Body], fields: Any) -> Body:
    """``fields`` (a JSON body's, a form's, a command's options) as ``model``, or a ``BadRequest``
    with a stable code (never echoing a value)."""
    try:
        return model.model_validate(fields)
    except PydanticValidationError as error:
        refused = body_error(error, model)
        if isinstance(refused, InvalidField):
            problem = error.errors(include_url=False, include_input=False)[0]
            loc = [str(part) for part in field_loc(problem["loc"])]
            where = f"{loc[0]}[key]" if "[key]" in loc else loc[0] if loc else ""
            if where in _WORDS and problem["type"] != "missing":
                raise InvalidField(_WORDS[where]) from None
        raise refused from None


def admin_demo_link(link: LinkState, now: datetime) -> AdminDemoLink:
    """What the admin view and API show of ``link``."""
    return AdminDemoLink(**link_fields(link, now))


@dataclass(frozen=True)
class Making:
    """A link to make: what it grants, where it is served, in which language, and who asks."""

    link: DemoLink
    base_url: str
    lang: PageLanguage | None
    by: MadeBy


def make_link(state: AppState, making: Making) -> DemoLinkMade:
    """The link made (``pages.demo_links.issue_link``: ``ValueError`` past ``MAX_LINK_CHARS``), as
    the view and the API show it; ``kept`` false (and logged) when the call log could not keep it."""
    link = making.link
    issued = issue_link(state, link, base_url=making.base_url, lang=making.lang, by=making.by)
    if issued.unkept is not None:
        log.error("admin: demo link %s could not be kept in the call log: %s", link.link_id, issued.unkept)
    log.info("admin: demo link %s made for agent %s (%s)", link.link_id, link.agent, making.by)
    fresh = LinkState(link.link_id, link.name, link.agent, 0, 0, None, None, issued.made, None)
    shown = admin_demo_link(fresh, datetime.now(UTC))
    return DemoLinkMade(**shown.model_dump(), url=issued.url, lang=making.lang, kept=issued.unkept is None)


def extend_link(state: AppState, link_id: str, extension: DemoLinkExtension, *, by: MadeBy) -> None:
    """Let the link ``link_id``, made here, work until ``extension.expires`` (:func:`parse_expiry`'s
    text) and place ``extension.max_calls`` calls, whichever it gives: ``InvalidField`` unless
    each is more than the link has now (and an expiry in the future), ``UnknownDemoLink`` when it
    was not made here. Raises :class:`CallLogError`."""
    calls = "max_calls" in extension.model_fields_set
    if extension.expires is None and not calls:
        raise InvalidField("expires or max_calls is required.")
    until = None
    if extension.expires is not None:
        try:
            at = parse_expiry(extension.expires, now=time.time())
        except ValueError as exc:
            raise InvalidField(f"expires: {exc}.") from None
        until = datetime.fromtimestamp(at, UTC)
    asked = LinkExtension(until, calls, extension.max_calls)
    extended = state.history.extend_demo_link(link_id, asked)
    if extended != "extended":
        raise UnknownDemoLink(EXTEND_UNKNOWN) if extended == "unknown" else InvalidField(NOT_MORE[extended])
    granted = ([f"until {until.isoformat()}"] if until else []) + (
        [f"max_calls {extension.max_calls}"] if calls else []
    )
    log.info("admin: demo link %s extended (%s) (%s)", link_id, ", ".join(granted), by)


def set_revoked(state: AppState, link_id: str, *, revoked: bool, by: MadeBy) -> None:
    """Revoke the link ``link_id`` from now, or let it work again (``by`` whom, for the log).
    Raises :class:`CallLogError`."""
    if revoked:
        state.history.revoke_demo_link(link_id, datetime.now(UTC))
    else:
        state.history.restore_demo_link(link_id)
    log.info("admin: demo link %s %s (%s)", link_id, "revoked" if revoked else "restored", by)
