"""The web-call API's models: the body a page sends, the answer it gets, and their rules.

One pydantic model per shape. The API validates with them and the OpenAPI document is
generated from them (``webapp.ops.openapi``), so the two cannot drift.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)
from pydantic import ValidationError as PydanticValidationError

from ..errors import InvalidBody, InvalidField, InvalidJson, UnknownField
from ..providers import provider_names


def _web_providers() -> list[JsonValue]:
    """Every provider that can place a browser call (the values ``provider`` may take)."""
    return list(provider_names("web_call"))


BodyT = TypeVar("BodyT", bound=BaseModel)
MAX_ITEMS = 32  # keys in variables or metadata
MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 1000
MAX_NAME_CHARS = 64
MAX_TOKEN_CHARS = 4096

# No control characters, and (once stripped) not empty. Spelled out rather than \s so that
# ECMA (JSON Schema), Rust (pydantic) and Python regexes agree on what whitespace is. Control
# characters are C0 and C1, the line and paragraph separators (a line break in a provider's
# prompt variable), and the invisible ones that change how a text reads or compares: a zero-width
# space or word joiner, a byte-order mark and the bidirectional overrides and isolates. The
# joiners (U+200C, U+200D) and the direction marks (U+200E, U+200F) stay: names in Persian, in
# Indic scripts or with an emoji family are written with them.
_CONTROL = r"\x00-\x1f\x7f-\x9f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
NO_CONTROL = rf"^[^{_CONTROL}]*$"
_SPACE = r"\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
SINGLE_LINE = rf"^[^{_CONTROL}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*$"
# A caller's comment may break lines (\n, \r) and hold tabs; no other control character.
_CONTROL_BUT_BREAKS = (
    r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
)
LINES = rf"^[^{_CONTROL_BUT_BREAKS}]*$"
MAX_COMMENT_CHARS = 1000
# What pydantic adds to an error's location, after a field whose type is a union, to say which
# member failed: a validator's kind, perhaps with its arguments, or a model's class name. Our
# fields are snake_case, so none of them looks like one.
_UNION_MEMBER = re.compile(
    r"[a-z]+(-[a-z]+)+(\[.*\])?"  # constrained-str, function-after[strip(), constrained-str]
    r"|[a-z]+\[.*\]"  # nullable[str], list[int]
    r"|str|int|float|bool|bytes|none"  # a plain type
    r"|[A-Z][A-Za-z0-9]*"  # a model
)


def _single_line(limit: int) -> StringConstraints:
    """1 to ``limit`` characters on one line with some text in it (checked before stripping)."""
    return StringConstraints(min_length=1, max_length=limit, pattern=SINGLE_LINE)


SlugText = Annotated[str, _single_line(MAX_KEY_CHARS), AfterValidator(str.strip)]
NameText = Annotated[str, _single_line(MAX_NAME_CHARS), AfterValidator(str.strip)]
TokenText = Annotated[str, _single_line(MAX_TOKEN_CHARS), AfterValidator(str.strip)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_CHARS, pattern=NO_CONTROL)]
Value = Annotated[str, StringConstraints(max_length=MAX_VALUE_CHARS)]
# JSON numbers that every provider's JSON (and ours, orjson) can carry: 64-bit integers.
Integer = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
Scalar = Value | StrictBool | Integer | StrictFloat | None
Rating = Literal["good", "bad"]  # a caller's thumb up or down, after the call
RATINGS: tuple[Rating, ...] = ("good", "bad")
# Trimmed before it is measured: what the caller typed counts, not the spaces around it.
CommentText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_COMMENT_CHARS, pattern=LINES)
]


class CallBody(BaseModel):
    """``POST /api/calls``: which agent, and what the page may add to the call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: SlugText | None = Field(
        None, description="The agent's slug; may be left out when there is exactly one."
    )
    participant_name: NameText | None = Field(None, description="The caller's display name in the room.")
    variables: Annotated[dict[Key, Value], Field(max_length=MAX_ITEMS)] | None = Field(
        None,
        description="Prompt variables; only those the agent's `allowed_variables` names reach the provider.",
    )
    metadata: Annotated[dict[Key, Scalar], Field(max_length=MAX_ITEMS)] | None = Field(
        None,
        description="Free-form data passed to the provider with the call (`livekit`: in the agent's dispatch "
        "metadata, as `metadata`). Where the provider's prompt variables travel in the same object "
        "(`convoi`, `zudu`), only keys the agent's `allowed_variables` names; `elevenlabs` takes none. "
        "The others are listed in the answer's `ignored_metadata`.",
    )
    bot_token: TokenText | None = Field(
        None, description="The bot-check (Turnstile) token, when the deployment asks."
    )
    demo_token: TokenText | None = Field(
        None, description="The token of a signed demo link (`/demo/<slug>?t=…`)."
    )
    mode: Literal["voice", "text"] | None = Field(
        None,
        description="`voice` (with the microphone) or `text` (a chat: the caller may not publish audio); "
        "the agent's `text_only` says which it takes. Left out: `text` for a text-only agent, else `voice`.",
    )


class LiveKitAccess(BaseModel):
    """Where and how the browser joins the call's room."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="The LiveKit server's WebSocket URL.")
    token: str = Field(description="The participant token: short-lived, for this room and identity only.")


class Call(BaseModel):
    """The answer to ``POST /api/calls``: never the provider's body, only what the browser needs."""

    model_config = ConfigDict(extra="forbid")

    call_id: str = Field(
        description="The provider's id for the call (self-hosted LiveKit: the room's name), as its "
        "dashboard and webhooks know it; not ours: `feedback_url` is the feedback's address as given."
    )
    agent: str
    provider: str = Field(json_schema_extra=lambda schema: schema.update(enum=_web_providers()))
    room: str | None
    identity: str | None
    expires_at: str | None = Field(json_schema_extra={"format": "date-time"})
    max_call_s: int | None
    livekit: LiveKitAccess
    ignored_variables: Annotated[list[str], Field(min_length=1)] | None = Field(
        None,
        description="Variables the page sent that this agent does not take (absent when none).",
    )
    ignored_metadata: Annotated[list[str], Field(min_length=1)] | None = Field(
        None,
        description="Keys of the page's `metadata` that did not reach the provider (absent when none): "
        "where its prompt variables travel in the call's metadata (`convoi`, `zudu`), those the agent's "
        "`allowed_variables` does not name; with a provider that has no field for it (`elevenlabs`), all.",
    )
    protocol: Annotated[dict[str, JsonValue], Field(min_length=1)] | None = Field(
        None,
        description="What the page's adapter for `provider`'s protocol needs besides the room "
        "(absent when nothing). `elevenlabs`: `initiation`, the message to send right after "
        "joining (`conversation_initiation_client_data`, with the call's `dynamic_variables`).",
    )
    feedback_url: str | None = Field(
        None,
        description="Where the caller's rating of the call goes afterwards (`POST`, "
        "`/api/calls/{call_id}/feedback` with our id for the call); absent unless the agent asks "
        "for feedback and the call is on record.",
    )


class FeedbackBody(BaseModel):
    """``POST /api/calls/{call_id}/feedback``: how the call went, in the caller's words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rating: Rating = Field(description="`good` (thumbs up) or `bad` (thumbs down); a later one replaces it.")
    comment: CommentText | None = Field(
        None,
        description="What the caller adds (line breaks allowed). Left out, an earlier comment stays; "
        "empty, it is removed.",
    )


class Feedback(BaseModel):
    """The answer to ``POST /api/calls/{call_id}/feedback``: what the call log now keeps."""

    model_config = ConfigDict(extra="forbid")

    call_id: str = Field(description="Our id for the call (`wc_…`).")
    rating: Rating
    comment: str | None
    at: str = Field(json_schema_extra={"format": "date-time"}, description="When it was given.")


def parse_call_body(raw: bytes) -> CallBody:
    """Decode and validate a web call's JSON body, or raise a ``BadRequest`` with a stable code."""
    return parse_body(raw, CallBody)


def parse_body(raw: bytes, model: type[BodyT]) -> BodyT:
    """Decode and validate a JSON body as ``model``, or raise a ``BadRequest`` with a stable code."""
    try:
        return model.model_validate(json_object(raw))
    except PydanticValidationError as error:
        raise body_error(error, model) from None


def _finite(text: str) -> float:
    """A JSON number as a float; one too large for a float (``1e400``) is not a number we take."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number out of range: {text[:20]}")
    return number


def _not_json(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity``: Python's JSON reads them, JSON has no such thing."""
    raise ValueError(f"{name} is not JSON")


def json_object(raw: bytes) -> dict[str, Any]:
    """A body's JSON object, or ``InvalidJson``/``InvalidBody``."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_float=_finite, parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidJson() from exc
    if not isinstance(data, dict):
        raise InvalidBody()
    return data


def body_error(error: PydanticValidationError, model: type[BaseModel]) -> UnknownField | InvalidField:
    """The first problem of a ``model`` body as our error: an unknown field first, then a broken rule."""
    problems = error.errors(include_url=False, include_input=False)
    for problem in problems:
        if problem["type"] == "extra_forbidden":
            name = str(problem["loc"][0])[:MAX_KEY_CHARS]
            return UnknownField(f"Unknown field {name!r}.")
    return InvalidField(_explain(problems[0], model))


def field_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Where in the body a problem is, as a person writes it: pydantic's ``loc`` without the names
    of the union members it tried (``("agent_name", "constrained-str")`` is ``("agent_name",)``).

    A key of the caller's own that looks like one (``my-key``) is dropped too: messages name our
    fields, never the caller's keys.
    """
    return tuple(part for part in loc if not (isinstance(part, str) and _UNION_MEMBER.fullmatch(part)))


def _explain(problem: Any, model: type[BaseModel]) -> str:
    """A sentence for one broken rule, naming the field and never echoing its value."""
    loc = [str(part) for part in field_loc(problem["loc"])]
    field = loc[0] if loc else "body"
    kind = problem["type"]
    if kind == "missing":
        return f"{field} is required."
    if kind == "bool_type":
        return f"{field} must be true or false."
    if kind == "string_unicode":  # a lone surrogate: a text cut inside an emoji, say
        return f"{field} must be valid Unicode text."
    if field in ("variables", "metadata"):
        if kind in ("dict_type", "model_type"):
            return f"{field} must be a JSON object."
        if kind == "too_long":
            return f"{field} may hold at most {MAX_ITEMS} entries."
        if "[key]" in loc:
            return f"{field} keys must be 1 to {MAX_KEY_CHARS} characters, without control characters."
        if kind == "string_too_long":
            return f"{field} values may be at most {MAX_VALUE_CHARS} characters."
        kinds = "strings, numbers, booleans or null" if field == "metadata" else "strings"
        return f"{field} values must be {kinds}."
    if field == "mode":
        return "mode must be 'voice' or 'text'."
    if field == "country":  # a phone call's: a code, where every other text is free text
        return "country must be a two-letter country code, like US."
    limits = _text_limits(model).get(field)
    if limits is None:
        return f"{field} is not valid."
    shortest, longest, lines = limits
    if lines:  # a text that may break lines (a caller's comment)
        return f"{field} must be text of at most {longest} characters (line breaks allowed)."
    return f"{field} must be a single-line string of {shortest} to {longest} characters."


@cache
def _text_limits(model: type[BaseModel]) -> dict[str, tuple[int, int, bool]]:
    """Each text field's shortest and longest length, and whether it may break lines, as the API
    document (built from the same model) states them: a message names the field's own limits."""
    limits = {}
    for name, schema in model.model_json_schema()["properties"].items():
        for branch in schema.get("anyOf", [schema]):  # ``X | None`` is a choice of two
            if branch.get("type") == "string" and "maxLength" in branch:
                lines = branch.get("pattern") == LINES
                limits[name] = (branch.get("minLength", 0), branch["maxLength"], lines)
                break
    return limits
