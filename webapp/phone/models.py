"""The phone-callback API's models: what a page sends, and what it is told back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from ..calls.models import MAX_ITEMS, NameText, SlugText, TokenText, Value
from ..calls.models import Key as VariableKey

# Whatever the page sent: a missing, empty, overlong or non-text number is refused by
# ``numbers.parse_number`` as ``invalid_phone_number``, and anything but ``true`` for consent as
# ``consent_required``, each with its own words, not as a generic ``invalid_field``.
PhoneText = Annotated[Any, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 32})]
Consent = Annotated[Any, WithJsonSchema({"type": "boolean"})]


def _required_in_the_document(schema: dict[str, Any]) -> None:
    """The document says what a call needs: a number and consent (the model judges them itself)."""
    schema["required"] = ["phone_number", "consent"]
    for name in schema["required"]:
        schema["properties"][name].pop("default", None)


CountryHint = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$"), AfterValidator(str.upper)]


PhoneStatus = Literal[
    "initiated", "in_progress", "completed", "failed", "no_answer", "busy", "voicemail", "unknown"
]


class PhoneCallBody(BaseModel):
    """``POST /api/phone-calls``: which agent should call which number, with the caller's consent."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_required_in_the_document)

    agent: SlugText | None = Field(
        None, description="The agent's slug; may be left out when there is exactly one."
    )
    phone_number: PhoneText = Field(None, description="E.164 (`+14155550123`), or national with `country`.")
    country: CountryHint | None = Field(None, description="ISO 3166 country of a national number (`US`).")
    name: NameText | None = Field(None, description="The person to ask for; the agent may greet them by it.")
    variables: Annotated[dict[VariableKey, Value], Field(max_length=MAX_ITEMS)] | None = Field(
        None,
        description="Prompt variables; only those the agent's `allowed_variables` names reach the provider.",
    )
    consent: Consent = Field(
        None, description="The caller agrees to be called on this number now: must be true."
    )
    bot_token: TokenText | None = Field(None, description="The bot-check (Turnstile) token.")
    demo_token: TokenText | None = Field(None, description="The token of a signed demo link.")


class PhoneCallAnswer(BaseModel):
    """The answer: the call is on its way; the number only ever shown masked."""

    model_config = ConfigDict(extra="forbid")

    call_id: str = Field(
        description="Ours (`wc_…`): ask `GET /api/phone-calls/<call_id>` for its status. The provider's "
        "id instead when the call log could not record the call (it is placed all the same; its status "
        "is then not known here: that `GET` answers 404 `unknown_call`)."
    )
    agent: str
    provider: str
    status: Literal["initiated"]
    phone_number: str = Field(description="The number being called, masked: `+1 415 ***-**71`.")


class PhoneCallState(BaseModel):
    """``GET /api/phone-calls/<call_id>``: where the call is, as the provider reports it (or what we know)."""

    model_config = ConfigDict(extra="forbid")

    call_id: str
    agent: str | None
    provider: str
    status: Literal[
        "initiated", "in_progress", "completed", "failed", "no_answer", "busy", "voicemail", "unknown"
    ]
    phone_number: str | None
    started_at: str | None = Field(None, json_schema_extra={"format": "date-time"})
    ended_at: str | None = Field(None, json_schema_extra={"format": "date-time"})
    duration_s: float | None = None
