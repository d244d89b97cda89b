"""The public API described by hand as an OpenAPI 3.1 document, served at ``GET /openapi.json``.

A plain dict built once at import, no generator. The body schema follows ``schema.py`` rule for
rule (its limits are imported, not copied), so a client built from this document sends nothing
the server refuses; ``tests/test_openapi.py`` fuzzes the app against it (Schemathesis) to catch
either side drifting from the other.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, jsonify

from .idempotency import KEY_RE
from .schema import MAX_BOT_TOKEN_CHARS, MAX_ITEMS, MAX_KEY_CHARS, MAX_NAME_CHARS, MAX_VALUE_CHARS

bp = Blueprint("openapi", __name__)

# schema.py refuses control characters and, after str.strip(), empty text. Spelled out rather
# than \s so that ECMA (JSON Schema) and Python regexes agree on what whitespace is.
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
_SPACE = r"\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_SINGLE_LINE = rf"^[^\x00-\x1f\x7f]*[^{_SPACE}][^\x00-\x1f\x7f]*$"
JSON = "application/json"


def _text(limit: int, description: str) -> dict[str, Any]:
    """An optional single-line string field; ``null`` means the same as leaving it out."""
    pattern = {"type": "string", "minLength": 1, "maxLength": limit, "pattern": _SINGLE_LINE}
    return {"description": description, "anyOf": [pattern, {"type": "null"}]}


def _string_map(values: dict[str, Any], description: str) -> dict[str, Any]:
    """A flat object of short keys (``null`` means empty), as ``schema._string_map`` accepts."""
    keys = {"minLength": 1, "maxLength": MAX_KEY_CHARS, "pattern": _NO_CONTROL}
    shape = {"type": "object", "maxProperties": MAX_ITEMS, "propertyNames": keys}
    shape["additionalProperties"] = values
    return {"description": description, "anyOf": [shape, {"type": "null"}]}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON response with ``schema`` and, when given, its headers."""
    answer: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _error(
    description: str, codes: str, *, retry_after: Literal["always", "sometimes"] | None = None
) -> dict[str, Any]:
    """An error answer with the codes it may carry and, where the client should wait, ``Retry-After``."""
    text = f"{description} Codes: {', '.join(f'`{c}`' for c in codes.split())}."
    headers = None
    if retry_after:
        header = {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
        }
        headers = {"Retry-After": {**header, "required": retry_after == "always"}}
    return _json({"$ref": "#/components/schemas/Error"}, text, headers)


_NULLABLE_STRING = {"type": ["string", "null"]}
_VALUE = {"type": "string", "maxLength": MAX_VALUE_CHARS}
CALL_BODY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "agent": _text(MAX_KEY_CHARS, "The agent's slug; may be left out when there is exactly one."),
        "participant_name": _text(MAX_NAME_CHARS, "The caller's display name in the room."),
        "variables": _string_map(
            _VALUE,
            "Prompt variables; only those the agent's `allowed_variables` names reach the provider.",
        ),
        "metadata": _string_map(
            {"anyOf": [_VALUE, {"type": ["number", "boolean", "null"]}]},
            "Free-form data passed to the provider with the call.",
        ),
        "bot_token": _text(MAX_BOT_TOKEN_CHARS, "The bot-check (Turnstile) token, when the deployment asks."),
        "demo_token": _text(MAX_BOT_TOKEN_CHARS, "The token of a signed demo link (`/demo/<slug>?t=…`)."),
    },
}
CALL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["call_id", "agent", "provider", "room", "identity", "expires_at", "max_call_s", "livekit"],
    "properties": {
        "call_id": {"type": "string"},
        "agent": {"type": "string"},
        "provider": {"type": "string", "enum": ["ravan", "zudu", "convoi", "livekit"]},
        "room": _NULLABLE_STRING,
        "identity": _NULLABLE_STRING,
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "max_call_s": {"type": ["integer", "null"]},
        "livekit": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url", "token"],
            "properties": {"url": {"type": "string"}, "token": {"type": "string"}},
        },
        "ignored_variables": {
            "description": "Variables the page sent that this agent does not take (absent when none).",
            "type": "array",
            "minItems": 1,
            "items": {"type": "string"},
        },
    },
}
ERROR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
READINESS = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "not_ready"]},
        "checks": {
            "description": "`config`, and `provider:<name>` for each provider an agent uses.",
            "type": "object",
            "additionalProperties": {"enum": ["ok", "unreachable", "circuit_open", "not_configured"]},
        },
    },
}

_ERRORS = {
    "400": _error(
        "The body or the Idempotency-Key is not valid.",
        "invalid_json invalid_body unknown_field invalid_field agent_required invalid_idempotency_key",
    ),
    "403": _error(
        "This site may not use this agent, the bot check failed, or the demo link is not ours.",
        "origin_not_allowed bot_check_required bot_check_failed invalid_demo_link",
    ),
    "404": _error("There is no agent with that slug.", "unknown_agent"),
    "409": _error("A call with this Idempotency-Key is still being started.", "call_in_progress"),
    "410": _error("The demo link has expired.", "demo_link_expired"),
    "413": _error("The body is larger than WEBCALL_MAX_BODY_BYTES.", "payload_too_large"),
    "415": _error("The body is not `application/json`.", "unsupported_media_type"),
    "429": _error(
        "Too many calls from this client or for this agent.",
        "rate_limited agent_busy daily_budget_exhausted",
        retry_after="always",
    ),
    "502": _error(
        "The provider refused, failed, answered nonsense or rejected our key; `Retry-After` when "
        "it rate-limited us or keeps failing (its circuit is open).",
        "provider_error provider_auth_failed provider_bad_response provider_unavailable provider_busy",
        retry_after="sometimes",
    ),
    "503": _error(
        "The bot check could not be done right now.",
        "bot_check_unavailable",
        retry_after="always",
    ),
    "504": _error("The provider did not answer in time.", "provider_timeout"),
}
CREATE_CALL = {
    "operationId": "createCall",
    "summary": "Create a web call and get a LiveKit URL and participant token to join it.",
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Retries with the same key answer with the same call.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": KEY_RE.pattern},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/CallBody"}}},
    },
    "responses": {
        "201": _json(
            {"$ref": "#/components/schemas/Call"},
            "The call: join `livekit.url` with `livekit.token`.",
            {"Cache-Control": {"required": True, "schema": {"type": "string", "const": "no-store"}}},
        ),
        **_ERRORS,
    },
}
_ALIVE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["status"],
    "properties": {"status": {"const": "ok"}},
}
DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "webcall", "version": "0.1.0", "description": "Start a voice call with an AI agent."},
    "paths": {
        "/api/calls": {"post": CREATE_CALL},
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "The process is alive.",
                "responses": {"200": _json(_ALIVE, "Alive.")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Every agent's provider is configured, reachable and not failing fast.",
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Readiness"}, "Ready."),
                    "503": _json({"$ref": "#/components/schemas/Readiness"}, "Not ready; `checks` says why."),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": {"200": _json({"type": "object"}, "The OpenAPI 3.1 document.")},
            }
        },
    },
    "components": {"schemas": {"CallBody": CALL_BODY, "Call": CALL, "Error": ERROR, "Readiness": READINESS}},
}


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The API description, for client generators and the contract tests."""
    return jsonify(DOCUMENT)
