"""The served OpenAPI document is valid, and the app keeps every promise it makes (Schemathesis).

Schemathesis reads ``/openapi.json`` from the app in-process (WSGI, no server) and runs its
examples, coverage and fuzzing phases with every default check: no 5xx, only documented
statuses, headers and content types, bodies that match their schemas, valid requests accepted
and invalid ones refused. The one agent is a ``livekit`` agent, so no call leaves the process.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.core.parameters import ParameterLocation

from tests.support.apps import OfflineLiveKit
from webapp import create_app
from webapp.admin.api import DETAIL_RAISES, LIST_RAISES
from webapp.admin.link_models import DemoLinkBody, DemoLinkMade
from webapp.admin.links_api import EXTEND_RAISES as EXTEND_LINK_RAISES
from webapp.admin.links_api import LIST_RAISES as LIST_LINKS_RAISES
from webapp.admin.links_api import MAKE_RAISES as MAKE_LINK_RAISES
from webapp.admin.links_api import ONE_RAISES as LINK_RAISES
from webapp.admin.models import CallFilter
from webapp.calls.api import RAISES
from webapp.calls.models import CallBody
from webapp.calls.token_endpoint import RAISES as TOKEN_RAISES
from webapp.calls.token_endpoint import TokenRequest
from webapp.catalogue import VARIABLE_PATTERN
from webapp.errors import AppError
from webapp.ops.openapi import document
from webapp.phone.api import RAISES as PHONE_RAISES
from webapp.providers import provider_names
from webapp.settings import Settings

UNLIMITED = "100000/minute"
ADMIN_TOKEN = "admin-" + "t" * 40
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def livekit_answering(status: int) -> httpx.Client:
    """The app's HTTP client, answered in-process: LiveKit's ``GET /`` (the readiness probe)."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status if request.url.path == "/" else 404)

    return httpx.Client(transport=httpx.MockTransport(handle))


# The call logs of this module's apps: one folder, removed when the tests end (each app's own
# folder in it; one left in /tmp per app before).
CALL_LOGS = tempfile.TemporaryDirectory(prefix="webcall-openapi-")


def build_app(livekit_status: int = 200) -> Flask:
    """The app with one LiveKit agent (slug ``default``) and limits no fuzz run reaches."""
    database = Path(tempfile.mkdtemp(dir=CALL_LOGS.name)) / "calls.db"
    settings = Settings.from_mapping(
        {
            "WEBCALL_DATABASE_URL": f"sqlite:///{database}",
            "WEBCALL_PROVIDER": "livekit",
            "WEBCALL_AGENT_ID": "webcall-demo",
            "LIVEKIT_URL": OfflineLiveKit.url,
            "LIVEKIT_API_KEY": OfflineLiveKit.api_key,
            "LIVEKIT_API_SECRET": OfflineLiveKit.api_secret,
            "WEBCALL_RATE_LIMITS": UNLIMITED,
            "WEBCALL_GLOBAL_RATE_LIMIT": UNLIMITED,
            "WEBCALL_AGENT_CALLS_PER_MINUTE": "100000",
            "WEBCALL_AGENT_DAILY_BUDGET": "10000000",
            # JSON Schema cannot bound a body's size in bytes; the largest body it allows
            # (2 x 32 entries of 1000 escaped characters) is well under 1 MiB. The 413 itself
            # is covered in tests/calls/test_api.py.
            "WEBCALL_MAX_BODY_BYTES": str(1024 * 1024),
            "WEBCALL_ADMIN_TOKEN": ADMIN_TOKEN,
            "WEBCALL_SECRET_KEY": "openapi-tests-secret-key-0123456789abcdef",  # demo links are made
        }
    )
    app = create_app(settings, http=livekit_answering(livekit_status))
    for _ in range(3):  # calls in the log, so the admin API has something to answer with
        app.test_client().post("/api/calls", json={})
    return app


# Built at import: Schemathesis makes one test per operation at collection time. (Its lazy
# ``schemathesis.pytest.from_fixture`` would take a fixture, but fails under pytest 9.2.)
api = schemathesis.openapi.from_wsgi("/openapi.json", build_app())


def test_document_is_valid_openapi_3_1_served_as_json() -> None:
    response = build_app().test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_document_is_revalidated_by_its_etag() -> None:
    client = build_app().test_client()
    first = client.get("/openapi.json")
    assert first.headers["Cache-Control"] == "no-cache" and first.headers["ETag"]
    again = client.get("/openapi.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    changed = client.get("/openapi.json", headers={"If-None-Match": '"an-older-document"'})
    assert changed.status_code == 200 and changed.get_json() == first.get_json()
    documented = first.get_json()["paths"]["/openapi.json"]["get"]  # and says so
    assert [p["name"] for p in documented["parameters"]] == ["If-None-Match"]
    assert set(documented["responses"]) == {"200", "304"}
    assert "ETag" in documented["responses"]["200"]["headers"]


def test_document_is_generated_from_the_models_and_the_error_list() -> None:
    schemas = document()["components"]["schemas"]
    body = schemas["CallBody"]
    assert set(body["properties"]) == set(CallBody.model_fields)
    assert body["additionalProperties"] is False
    # Map keys are constrained as keys (propertyNames), not as patterns that leave others free.
    variables = body["properties"]["variables"]["anyOf"][0]
    assert "patternProperties" not in variables and variables["propertyNames"]["pattern"]
    assert set(schemas["Call"]["properties"]["provider"]["enum"]) == set(provider_names("web_call"))
    assert {"retell", "elevenlabs"} <= set(schemas["Call"]["properties"]["provider"]["enum"])
    # Per-provider protocol data: an object when present, absent when the provider needs none.
    assert "protocol" not in schemas["Call"]["required"]
    assert schemas["Call"]["properties"]["protocol"]["anyOf"][0]["type"] == "object"
    posts = (("/api/calls", RAISES), ("/api/token", TOKEN_RAISES), ("/api/phone-calls", PHONE_RAISES))
    for path, raises in posts:
        responses = document()["paths"][path]["post"]["responses"]
        for error in raises:
            assert f"`{error.code}`" in responses[str(error.status_code)]["description"], (path, error.code)
        # What reading any body can answer (tests/ops/test_request_bodies.py), listed too.
        assert "`bad_request`" in responses["400"]["description"], path
        assert "`request_timeout`" in responses["408"]["description"], path
    # LiveKit's token request: every field of its format, the server's own allowed only empty.
    token = schemas["TokenRequest"]
    assert set(token["properties"]) == set(TokenRequest.model_fields)
    assert token["additionalProperties"] is False
    assert token["properties"]["room_name"]["anyOf"][0] == {"maxLength": 0, "type": "string"}
    assert schemas["RoomConfig"]["properties"]["agents"]["anyOf"][0]["maxItems"] == 1
    assert set(schemas["TokenAnswer"]["required"]) == {"server_url", "participant_token"}


def test_error_descriptions_name_only_codes_and_fields_the_answers_have() -> None:
    """Two descriptions told clients to read ``retry_after_s``, which no error body has (the
    wait is in the Retry-After header): a generated client would wait for a field never sent."""
    doc = document()
    schemas = doc["components"]["schemas"].values()
    fields = {name for schema in schemas for name in schema.get("properties", {})}
    codes, kinds = set(), [AppError]
    while kinds:
        kind = kinds.pop()
        codes.add(kind.code)
        kinds += kind.__subclasses__()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation.get("responses", {}).items():
                named = set(re.findall(r"`+([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`+", answer["description"]))
                assert named <= codes | fields, (path, method, status, named - codes - fields)


def test_the_admin_api_is_documented_with_its_bearer_token() -> None:
    paths = document()["paths"]
    listing, detail = paths["/api/admin/calls"]["get"], paths["/api/admin/calls/{call_id}"]["get"]
    assert document()["components"]["securitySchemes"]["adminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document()["components"]["securitySchemes"]["adminToken"]["description"],
    }
    assert listing["security"] == detail["security"] == [{"adminToken": []}]
    assert [p["name"] for p in listing["parameters"]] == list(CallFilter.model_fields)
    assert all(p["in"] == "query" and not p["required"] for p in listing["parameters"])
    for operation, errors in ((listing, LIST_RAISES), (detail, DETAIL_RAISES)):
        for error in errors:
            assert f"`{error.code}`" in operation["responses"][str(error.status_code)]["description"]
        # Its 429 is for wrong tokens, not the calls the public API limits.
        assert "wrong admin tokens" in operation["responses"]["429"]["description"]
        assert "calls" not in operation["responses"]["429"]["description"]
    # The 401 says how to authenticate, as the app does (RFC 6750).
    for operation in (listing, detail):
        challenge = operation["responses"]["401"]["headers"]["WWW-Authenticate"]
        assert challenge["required"] is True
        assert challenge["schema"] == {"type": "string", "enum": ['Bearer realm="webcall admin"']}
    refused = build_app().test_client().get("/api/admin/calls")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] in challenge["schema"]["enum"]
    schemas = document()["components"]["schemas"]
    assert {"transcript", "recording_url"} <= set(schemas["AdminCallDetail"]["properties"])
    assert set(schemas["CallList"]["properties"]) == {"calls", "page", "page_size", "total"}


def test_the_demo_links_are_documented_with_the_admin_token_and_their_errors() -> None:
    paths = document()["paths"]
    operations = {
        (path, method): operation
        for path, methods in paths.items()
        if path.startswith("/api/admin/demo-links")
        for method, operation in methods.items()
    }
    assert sorted(op["operationId"] for op in operations.values()) == [
        "createDemoLink", "extendDemoLink", "getDemoLink", "listDemoLinks", "restoreDemoLink",
        "revokeDemoLink",
    ]  # fmt: skip
    raised = {"post": MAKE_LINK_RAISES, "get": LIST_LINKS_RAISES}
    for (path, method), operation in operations.items():
        assert operation["security"] == [{"adminToken": []}], path
        errors = raised[method] if path == "/api/admin/demo-links" else LINK_RAISES
        if path.endswith("/extend"):
            errors = EXTEND_LINK_RAISES
        for error in errors:
            assert f"`{error.code}`" in operation["responses"][str(error.status_code)]["description"], path
    made = paths["/api/admin/demo-links"]["post"]
    assert made["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/DemoLinkMade")
    schemas = document()["components"]["schemas"]
    assert set(schemas["DemoLinkBody"]["properties"]) == set(DemoLinkBody.model_fields)
    assert schemas["DemoLinkBody"]["required"] == ["agent"]
    variables = schemas["DemoLinkBody"]["properties"]["variables"]["anyOf"][0]
    assert variables["propertyNames"]["pattern"] == VARIABLE_PATTERN
    assert set(schemas["DemoLinkMade"]["properties"]) == set(DemoLinkMade.model_fields)
    extended = paths["/api/admin/demo-links/{link_id}/extend"]["post"]
    assert extended["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/DemoLinkExtension"
    )
    assert set(schemas["DemoLinkExtension"]["properties"]) == {"expires", "max_calls"}
    for path in ("/api/calls", "/api/phone-calls"):  # a demo link's last calls being started: wait
        assert paths[path]["post"]["responses"]["409"]["headers"]["Retry-After"]["required"] is False
    extension = schemas["DemoLinkExtension"]
    assert "required" not in extension  # either, or both, but one at least (as the code says)
    for body, valid in [({}, False), ({"max_calls": None}, True), ({"expires": "7d"}, True)]:
        assert jsonschema.Draft202012Validator(extension).is_valid(body) is valid, body
    assert '``{"expires": null}`` alone is refused' in extension["description"]
    assert extended["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AdminDemoLink"
    )


def test_every_admin_operation_needs_the_token_and_says_so() -> None:
    """Each operation under /api/admin is documented with the bearer token, its 401 and its 429,
    and refuses a request without the token (the events' and the demo links' ones included)."""
    client = build_app().test_client()
    operations = [
        (path, method, operation)
        for path, methods in document()["paths"].items()
        if path.startswith("/api/admin/")
        for method, operation in methods.items()
    ]
    assert {op["operationId"] for _, _, op in operations} >= {
        "listEvents", "resendGivenUpEvents", "resendEvent", "sendTestEvent", "createDemoLink",
    }  # fmt: skip
    for path, method, operation in operations:
        assert operation["security"] == [{"adminToken": []}], path
        assert "`admin_token_required`" in operation["responses"]["401"]["description"], path
        assert "429" in operation["responses"], path
        concrete = path.replace("{event_id}", "evt_" + "0" * 24).replace("{link_id}", "dl_" + "A" * 16)
        refused = client.open(concrete.replace("{call_id}", "wc_1"), method=method.upper())
        assert refused.status_code == 401, (path, method)


def test_the_summary_takes_the_lists_filters_without_its_paging() -> None:
    summary = document()["paths"]["/api/admin/summary"]["get"]
    assert summary["security"] == [{"adminToken": []}]
    names = [p["name"] for p in summary["parameters"]]
    assert names == [name for name in CallFilter.model_fields if name not in ("page", "page_size")]
    for error in LIST_RAISES:
        assert f"`{error.code}`" in summary["responses"][str(error.status_code)]["description"]
    answer = document()["components"]["schemas"]["CallsSummary"]
    assert set(answer["properties"]) == {
        "calls",
        "refused",
        "statuses",
        "durations",
        "costs",
        "feedback",
        "days",
    }
    day = document()["components"]["schemas"]["DayTotal"]["properties"]["day"]
    assert day == {"format": "date", "title": "Day", "type": "string"}


def test_a_body_is_required() -> None:
    # The document says so (an empty body cannot also be application/json), and the page always
    # sends one. The fuzzer finds this only now and then, through its random-bytes bodies.
    client = build_app().test_client()
    for raw in (b"", b"\r\n"):
        response = client.post("/api/calls", data=raw, content_type="application/json")
        assert response.status_code == 400, raw
        assert response.get_json()["error"]["code"] == "invalid_json"


def test_not_ready_answer_matches_the_document() -> None:
    response = build_app(livekit_status=502).test_client().get("/readyz")
    assert response.status_code == 503
    jsonschema.validate(response.get_json(), document()["components"]["schemas"]["Readiness"])


@api.parametrize()
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_app_keeps_the_documented_contract(case: Any) -> None:
    case.call_and_validate(headers=admin_auth(case))


def admin_auth(case: Any) -> dict[str, str] | None:
    """The admin API's token, except where Schemathesis made the headers wrong on purpose.

    Those cases must be refused (401) for their headers; putting the token back would turn
    them into valid requests the check then wrongly counts as accepted bad data. Schemathesis
    also checks that the admin API refuses requests without a token or with another one.
    """
    if not case.path.startswith("/api/admin"):
        return None
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return None
    return ADMIN_AUTH
