"""The public API as an OpenAPI 3.1 document, generated from the models the API validates with.

Request and answer schemas come from the pydantic models (``calls.models``, ``admin.models``,
``ops.health``, the error body); each operation's error answers come from the list of errors it raises, so
a new code or field shows up here without anyone editing this file. Schemathesis fuzzes the
app against the document (``tests/ops/test_openapi.py``) to prove the two agree.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from importlib.metadata import version
from typing import Any, get_args

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from ..admin.api import DETAIL_RAISES as ADMIN_DETAIL_ERRORS
from ..admin.api import LIST_RAISES as ADMIN_LIST_ERRORS
from ..admin.events import EVENT_ID as EVENT_ID_PATTERN
from ..admin.events_api import LIST_RAISES as EVENT_LIST_ERRORS
from ..admin.events_api import MAX_LIST_LIMIT as MAX_EVENTS
from ..admin.events_api import RESEND_ALL_RAISES as EVENT_RESEND_ALL_ERRORS
from ..admin.events_api import RESEND_RAISES as EVENT_RESEND_ERRORS
from ..admin.events_api import TEST_RAISES as EVENT_TEST_ERRORS
from ..admin.events_api import EventList, EventTrial, Resent
from ..admin.link_models import (
    MAX_QUERY_CHARS,
    AdminDemoLink,
    DemoLinkBody,
    DemoLinkEvent,
    DemoLinkExtension,
    DemoLinkList,
    DemoLinkMade,
)
from ..admin.links_api import EXTEND_RAISES as LINK_EXTEND_ERRORS
from ..admin.links_api import LIST_RAISES as LINK_LIST_ERRORS
from ..admin.links_api import MAKE_RAISES as LINK_MAKE_ERRORS
from ..admin.links_api import MAX_LIST_LIMIT
from ..admin.links_api import ONE_RAISES as LINK_ERRORS
from ..admin.models import (
    AdminCallDetail,
    CallEvent,
    CallFilter,
    CallList,
    CallSelection,
    CallsSummary,
    WebhookTest,
)
from ..calls.api import RAISES as CALL_ERRORS
from ..calls.feedback import RAISES as FEEDBACK_ERRORS
from ..calls.models import MAX_TOKEN_CHARS, SINGLE_LINE, Call, CallBody, Feedback, FeedbackBody
from ..calls.token_endpoint import BOT_TOKEN_HEADER, TokenAnswer, TokenRequest
from ..calls.token_endpoint import RAISES as TOKEN_ERRORS
from ..errors import AppError, CallInProgress, ProviderError, RateLimited
from ..guards.idempotency import KEY_PATTERN
from ..history.events import TEST_EVENT
from ..history.store import CallEventType, EventType
from ..pages.demo_links import LINK_ID_PATTERN
from ..phone.api import RAISES as PHONE_ERRORS
from ..phone.api import STATUS_RAISES as PHONE_STATUS_ERRORS
from ..phone.models import PhoneCallAnswer, PhoneCallBody, PhoneCallState
from .error_handlers import Error
from .health import Alive, Readiness

bp = Blueprint("openapi", __name__)
VERSION = version("webcall")
JSON = "application/json"
REF = "#/components/schemas/{model}"


class OpenApiSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, with dict keys constrained the way JSON Schema means it."""

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        """Keys with a pattern become ``propertyNames`` (pydantic writes ``patternProperties``,
        which would leave every other key unconstrained)."""
        out = super().dict_schema(schema)
        patterns = out.pop("patternProperties", None)
        if patterns:
            ((pattern, values),) = patterns.items()
            out["additionalProperties"] = values
            out.setdefault("propertyNames", {})["pattern"] = pattern
        return out


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON response with ``schema`` and, when given, its headers."""
    answer: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _ref(model: type[BaseModel]) -> dict[str, str]:
    """A reference to a model's schema in ``components``."""
    return {"$ref": REF.format(model=model.__name__)}


def error_responses(errors: tuple[type[AppError], ...]) -> dict[str, Any]:
    """One response per status, listing each code with its meaning, and ``Retry-After`` and
    ``WWW-Authenticate`` where sent."""
    by_status: dict[int, list[type[AppError]]] = defaultdict(list)
    for error in errors:
        by_status[error.status_code].append(error)
    responses = {}
    for status, classes in sorted(by_status.items()):
        codes = "; ".join(f"`{c.code}`: {(c.__doc__ or '').strip().splitlines()[0]}" for c in classes)
        headers: dict[str, Any] = {}
        if any(issubclass(c, RateLimited) for c in classes) or status == 503:
            headers["Retry-After"] = {**_RETRY_AFTER, "required": True}
        elif any(
            issubclass(c, (ProviderError, CallInProgress)) for c in classes
        ):  # (a demo link's last calls)
            headers["Retry-After"] = {**_RETRY_AFTER, "required": False}
        challenges = sorted({c.www_authenticate for c in classes if c.www_authenticate})
        if challenges:
            headers["WWW-Authenticate"] = {
                "description": "How to authenticate: the scheme and its realm.",
                "required": all(c.www_authenticate for c in classes),
                "schema": {"type": "string", "enum": challenges},
            }
        responses[str(status)] = _json(_ref(Error), f"Codes: {codes}", headers)
    return responses


_RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retries with the same key answer with the same call.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": KEY_PATTERN},
}
NO_STORE = {"Cache-Control": {"required": True, "schema": {"type": "string", "const": "no-store"}}}


def _create_call() -> dict[str, Any]:
    """``POST /api/calls``."""
    return {
        "operationId": "createCall",
        "summary": "Create a web call and get a LiveKit URL and participant token to join it.",
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {"required": True, "content": {JSON: {"schema": _ref(CallBody)}}},
        "responses": {
            "201": _json(_ref(Call), "The call: join `livekit.url` with `livekit.token`.", NO_STORE),
            **error_responses(CALL_ERRORS),
        },
    }


def _give_feedback() -> dict[str, Any]:
    """``POST /api/calls/{call_id}/feedback``."""
    return {
        "operationId": "giveFeedback",
        "summary": "After a web call, the caller rates it (and may comment): the address is the call's "
        "`feedback_url`, present when the agent asks for feedback.",
        "parameters": [
            {
                "name": "call_id",
                "in": "path",
                "required": True,
                "description": "Our id for the call (`wc_…`), as in the call's `feedback_url`.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^/]+$"},
            }
        ],
        "requestBody": {"required": True, "content": {JSON: {"schema": _ref(FeedbackBody)}}},
        "responses": {
            "200": _json(_ref(Feedback), "Kept.", NO_STORE),
            **error_responses(FEEDBACK_ERRORS),
        },
    }


def _create_token() -> dict[str, Any]:
    """``POST /api/token``: LiveKit's standard token endpoint."""
    bot_token = {
        "name": BOT_TOKEN_HEADER,
        "in": "header",
        "required": False,
        "description": "The bot-check (Turnstile) token, when the deployment asks for one.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_TOKEN_CHARS, "pattern": SINGLE_LINE},
    }
    return {
        "operationId": "createToken",
        "summary": "LiveKit's token endpoint (`TokenSource.endpoint`): a web call with the agent named in "
        "`room_config.agents[0].agent_name`, answered as `server_url` and `participant_token`.",
        "parameters": [IDEMPOTENCY_KEY, bot_token],
        "requestBody": {"required": True, "content": {JSON: {"schema": _ref(TokenRequest)}}},
        "responses": {
            "201": _json(_ref(TokenAnswer), "Connect to `server_url` with `participant_token`.", NO_STORE),
            **error_responses(TOKEN_ERRORS),
        },
    }


def _get(operation_id: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    """A GET operation."""
    return {"get": {"operationId": operation_id, "summary": summary, "responses": responses}}


def _openapi_document() -> dict[str, Any]:
    """GET /openapi.json: conditional on its ETag (a deploy may change it)."""
    operation = _get(
        "openapi",
        "This document (`Cache-Control: no-cache`: ask again with `If-None-Match`, answered 304 while "
        "it has not changed).",
        {
            "200": {
                **_json({"type": "object"}, "The OpenAPI 3.1 document."),
                "headers": {"ETag": {"description": "Its version.", "schema": {"type": "string"}}},
            },
            "304": {"description": "Not changed since the version named in `If-None-Match` (no body)."},
        },
    )
    operation["get"]["parameters"] = [
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "The `ETag` of the version the client has.",
            "schema": {"type": "string"},
        }
    ]
    return operation


ADMIN_AUTH: list[dict[str, list[str]]] = [{"adminToken": []}]


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One optional query parameter per field of ``model``, with the field's own rules.

    A query parameter is left out, never sent as null: the null branch of an optional
    field's schema is dropped.
    """
    schema = model.model_json_schema(schema_generator=OpenApiSchema)
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1:
            prop = {**branches[0], **prop}
        elif branches:
            prop["anyOf"] = branches
        description = prop.pop("description", None)
        prop.pop("title", None)
        default = prop.pop("default", None)
        # A blank value (``?agent=&status=failed``) means "any": the form's empty fields send them.
        prop = {"anyOf": [prop, {"type": "string", "maxLength": 0}]}
        if default is not None:
            prop["default"] = default
        parameter = {"name": name, "in": "query", "required": False, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _admin_calls() -> dict[str, Any]:
    """``GET /api/admin/calls``."""
    return {
        "operationId": "listCalls",
        "summary": "The call log, newest first: filter by agent, provider, status, channel, time and text.",
        "security": ADMIN_AUTH,
        "parameters": query_parameters(CallFilter),
        "responses": {
            "200": _json(_ref(CallList), "One page of calls.", NO_STORE),
            **error_responses(ADMIN_LIST_ERRORS),
        },
    }


def _admin_summary() -> dict[str, Any]:
    """``GET /api/admin/summary``."""
    return {
        "operationId": "summarizeCalls",
        "summary": "What the calls the filters match add up to: statuses, talk time, cost, ratings.",
        "security": ADMIN_AUTH,
        "parameters": query_parameters(CallSelection),
        "responses": {
            "200": _json(_ref(CallsSummary), "The sums.", NO_STORE),
            **error_responses(ADMIN_LIST_ERRORS),
        },
    }


def _admin_call() -> dict[str, Any]:
    """``GET /api/admin/calls/{call_id}``."""
    return {
        "operationId": "getCall",
        "summary": "One call (by our id or the provider's) with its transcript and recording.",
        "security": ADMIN_AUTH,
        "parameters": [
            {
                "name": "call_id",
                "in": "path",
                "required": True,
                "description": "Our id (`wc_…`) or the provider's.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^/]+$"},
            }
        ],
        "responses": {
            "200": _json(_ref(AdminCallDetail), "The call.", NO_STORE),
            **error_responses(ADMIN_DETAIL_ERRORS),
        },
    }


def _make_demo_link() -> dict[str, Any]:
    """``POST /api/admin/demo-links``."""
    return {
        "operationId": "createDemoLink",
        "summary": "Make a signed sales-demo link (as `flask demo-link` does): the agent's page for one "
        "prospect, with preset variables, until an expiry, for a number of calls.",
        "security": ADMIN_AUTH,
        "parameters": [
            {**IDEMPOTENCY_KEY, "description": "Retries with the same key answer with the same link."}
        ],
        "requestBody": {"required": True, "content": {JSON: {"schema": _ref(DemoLinkBody)}}},
        "responses": {
            "201": _json(_ref(DemoLinkMade), "The link: send `url` to the prospect.", NO_STORE),
            **error_responses(LINK_MAKE_ERRORS),
        },
    }


def _demo_links() -> dict[str, Any]:
    """``GET /api/admin/demo-links``."""
    q = {
        "name": "q",
        "in": "query",
        "required": False,
        "description": "Only the links whose label holds this text (in any case), or whose id it is.",
        "schema": {"type": "string", "maxLength": MAX_QUERY_CHARS, "pattern": "^[^\\x00-\\x1f\\x7f]*$"},
    }
    return {
        "operationId": "listDemoLinks",
        "summary": "The demo links made here or used, the latest first (made, opened or tried), with "
        "their opens and calls.",
        "security": ADMIN_AUTH,
        "parameters": [_limit("links", MAX_LIST_LIMIT), q],
        "responses": {
            "200": _json(_ref(DemoLinkList), "The links.", NO_STORE),
            **error_responses(LINK_LIST_ERRORS),
        },
    }


LINK_ID = {
    "name": "link_id",
    "in": "path",
    "required": True,
    "description": "The link's id (`dl_…`), as on its calls' `demo_link_id`.",
    "schema": {"type": "string", "pattern": LINK_ID_PATTERN},
}


def _demo_link(operation_id: str, summary: str) -> dict[str, Any]:
    """``GET /api/admin/demo-links/{link_id}``, and revoking or restoring it."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "security": ADMIN_AUTH,
        "parameters": [LINK_ID],
        "responses": {
            "200": _json(_ref(AdminDemoLink), "The link as it is now.", NO_STORE),
            **error_responses(LINK_ERRORS),
        },
    }


def _extend_demo_link() -> dict[str, Any]:
    """``POST /api/admin/demo-links/{link_id}/extend``."""
    return {
        "operationId": "extendDemoLink",
        "summary": "Let a demo link made here work longer or place more calls, at the same address: its page "
        "and its calls are taken until the new expiry, up to the new number (only more: revoke a link to end "
        "it sooner).",
        "security": ADMIN_AUTH,
        "parameters": [LINK_ID],
        "requestBody": {"required": True, "content": {JSON: {"schema": _ref(DemoLinkExtension)}}},
        "responses": {
            "200": _json(_ref(AdminDemoLink), "The link as it is now.", NO_STORE),
            **error_responses(LINK_EXTEND_ERRORS),
        },
    }


def _admin_events() -> dict[str, Any]:
    """``GET /api/admin/events``."""
    parameters = [
        {
            "name": "state",
            "in": "query",
            "required": False,
            "description": "Only the events in this state.",
            "schema": {"type": "string", "enum": ["waiting", "given_up", "sent"]},
        },
        {
            "name": "type",
            "in": "query",
            "required": False,
            "description": "Only the events of this type.",
            "schema": {"type": "string", "enum": list(get_args(EventType))},
        },
        _limit("events", MAX_EVENTS),
        {
            "name": "before",
            "in": "query",
            "required": False,
            "description": "The next page: only the events kept before this one (the last `event_id` of a "
            "page; none when there is no such event).",
            "schema": {"type": "string", "pattern": f"^{EVENT_ID_PATTERN.pattern}$"},
        },
    ]
    return {
        "operationId": "listEvents",
        "summary": "The events for `WEBCALL_EVENTS_URL`: how many wait, were given up or were sent lately, "
        "and the latest of them, newest first.",
        "security": ADMIN_AUTH,
        "parameters": parameters,
        "responses": {
            "200": _json(_ref(EventList), "The counts and the events.", NO_STORE),
            **error_responses(EVENT_LIST_ERRORS),
        },
    }


def _admin_event_post(
    operation_id: str,
    summary: str,
    answer: type[BaseModel],
    errors: tuple[type[AppError], ...],
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A POST of the admin API's events (no body)."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "security": ADMIN_AUTH,
        **({"parameters": parameters} if parameters else {}),
        "responses": {"200": _json(_ref(answer), "Done.", NO_STORE), **error_responses(errors)},
    }


EVENT_ID = {
    "name": "event_id",
    "in": "path",
    "required": True,
    "description": "The event's `webhook-id` (`evt_…`).",
    "schema": {"type": "string", "pattern": f"^{EVENT_ID_PATTERN.pattern}$"},
}


def _limit(what: str, maximum: int) -> dict[str, Any]:
    """A list's ``limit`` query parameter (``admin.api.list_limit``)."""
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": f"How many {what}, at most.",
        "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": 100},
    }


EVENT_WORDS = {
    "call.created": "A web or phone call was placed here.",
    "call.started": "A call placed here was reported in progress: its caller joined, or its phone "
    "answered (once a call; not for a call first heard of ended).",
    "call.ended": "A call the log knew live reported a final status (once a call).",
    "call.rated": "A caller rated their call or commented on it.",
    "demo_link.opened": "A demo link's page was opened in a browser for the first time (once a link; a "
    "link preview's fetch is no open).",
    "webhook.test": "An operator tried the URL from the admin view's Events page (not kept, not retried).",
}
SIGNED = "Standard Webhooks: the event's id (`evt_…`, the same on every attempt), seconds, `v1,<HMAC>`."


def _event(kind: str, model: type[BaseModel] = CallEvent) -> dict[str, Any]:
    """What the app POSTs to ``WEBCALL_EVENTS_URL`` for the event ``kind``."""
    header = {"required": True, "schema": {"type": "string"}, "description": SIGNED}
    return {
        "operationId": "event" + "".join(part.capitalize() for part in kind.split(".")),
        "summary": EVENT_WORDS[kind] + " Sent to `WEBCALL_EVENTS_URL`, signed with `WEBCALL_EVENTS_SECRET`.",
        "parameters": [
            {"name": name, "in": "header", **header}
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        ],
        "requestBody": {"required": True, "content": {JSON: {"schema": _ref(model)}}},
        "responses": {
            "2XX": {"description": "Delivered."},
            "default": {
                "description": "Tried again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h."
                if model is not WebhookTest
                else "Shown to the operator on the Events page; not tried again."
            },
        },
    }


def _create_phone_call() -> dict[str, Any]:
    """``POST /api/phone-calls``."""
    return {
        "operationId": "createPhoneCall",
        "summary": "Ask an agent to call the visitor's phone (with their consent); the number only ever "
        "comes back masked.",
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {"required": True, "content": {JSON: {"schema": _ref(PhoneCallBody)}}},
        "responses": {
            "202": _json(_ref(PhoneCallAnswer), "The provider is calling the number.", NO_STORE),
            **error_responses(PHONE_ERRORS),
        },
    }


def _phone_call() -> dict[str, Any]:
    """``GET /api/phone-calls/{call_id}``."""
    return {
        "operationId": "getPhoneCall",
        "summary": "Where a phone callback is (the provider's status where it reports one).",
        "parameters": [
            {
                "name": "call_id",
                "in": "path",
                "required": True,
                "description": "The `call_id` of the 202 answer.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^/]+$"},
            }
        ],
        "responses": {
            "200": _json(_ref(PhoneCallState), "The call's status.", NO_STORE),
            **error_responses(PHONE_STATUS_ERRORS),
        },
    }


@cache
def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (built once)."""
    requests: list[type[BaseModel]] = [
        CallBody,
        FeedbackBody,
        TokenRequest,
        PhoneCallBody,
        DemoLinkBody,
        DemoLinkExtension,
    ]
    answers: list[type[BaseModel]] = [Call, Feedback, TokenAnswer, PhoneCallAnswer, PhoneCallState, Error]
    responses: list[type[BaseModel]] = [
        *answers, Readiness, Alive, CallList, AdminCallDetail, CallsSummary, DemoLinkList, DemoLinkMade,
        EventList, Resent, EventTrial,
    ]  # fmt: skip
    sent: list[type[BaseModel]] = [CallEvent, DemoLinkEvent, WebhookTest]  # to WEBCALL_EVENTS_URL
    models: list[type[BaseModel]] = [*requests, *responses, *sent]
    _, definitions = models_json_schema(
        [(model, "validation" if model in requests else "serialization") for model in models],
        ref_template=REF,
        schema_generator=OpenApiSchema,
    )
    readiness = _ref(Readiness)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "webcall",
            "version": VERSION,
            "description": "Start a voice call with an AI agent.",
        },
        "paths": {
            "/api/calls": {"post": _create_call()},
            "/api/calls/{call_id}/feedback": {"post": _give_feedback()},
            "/api/token": {"post": _create_token()},
            "/api/phone-calls": {"post": _create_phone_call()},
            "/api/phone-calls/{call_id}": {"get": _phone_call()},
            "/healthz": _get("healthz", "The process is alive.", {"200": _json(_ref(Alive), "Alive.")}),
            "/readyz": _get(
                "readyz",
                "Every agent's provider is configured, reachable and not failing fast.",
                {"200": _json(readiness, "Ready."), "503": _json(readiness, "Not ready; `checks` says why.")},
            ),
            "/openapi.json": _openapi_document(),
            "/api/admin/calls": {"get": _admin_calls()},
            "/api/admin/calls/{call_id}": {"get": _admin_call()},
            "/api/admin/summary": {"get": _admin_summary()},
            "/api/admin/events": {"get": _admin_events()},
            "/api/admin/events/resend": {
                "post": _admin_event_post(
                    "resendGivenUpEvents",
                    "Put every event given up back in line.",
                    Resent,
                    EVENT_RESEND_ALL_ERRORS,
                )
            },
            "/api/admin/events/{event_id}/resend": {
                "post": _admin_event_post(
                    "resendEvent",
                    "Put one event given up back in line (`queued` 0: it was not given up).",
                    Resent,
                    EVENT_RESEND_ERRORS,
                    [EVENT_ID],
                )
            },
            "/api/admin/events/test": {
                "post": _admin_event_post(
                    "sendTestEvent",
                    "Post a `webhook.test` to `WEBCALL_EVENTS_URL` now (signed, not kept, not retried): what "
                    "it answered.",
                    EventTrial,
                    EVENT_TEST_ERRORS,
                )
            },
            "/api/admin/demo-links": {"get": _demo_links(), "post": _make_demo_link()},
            "/api/admin/demo-links/{link_id}": {
                "get": _demo_link("getDemoLink", "One demo link: how it was made, its state and its calls.")
            },
            "/api/admin/demo-links/{link_id}/revoke": {
                "post": _demo_link(
                    "revokeDemoLink",
                    "Take a demo link back: from now on its page and its calls are refused, as an expired "
                    "link's are (a link the call log does not know yet can be revoked by its id too).",
                )
            },
            "/api/admin/demo-links/{link_id}/extend": {"post": _extend_demo_link()},
            "/api/admin/demo-links/{link_id}/restore": {
                "post": _demo_link("restoreDemoLink", "Let a revoked demo link work again, until it expires.")
            },
        },
        "webhooks": {
            **{kind: {"post": _event(kind)} for kind in get_args(CallEventType)},
            "demo_link.opened": {"post": _event("demo_link.opened", DemoLinkEvent)},
            TEST_EVENT: {"post": _event(TEST_EVENT, WebhookTest)},
        },
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`WEBCALL_ADMIN_TOKEN` (the admin API is refused to everyone without it).",
                }
            },
        },
    }


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The API description, for client generators and the contract tests: a client keeps it and
    asks each time whether it changed (a deploy may change it), answered 304 when it has not."""
    response = jsonify(document())
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    response.make_conditional(request)  # 304, no body, when If-None-Match has its ETag
    return response
