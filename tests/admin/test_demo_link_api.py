"""Demo links in the admin JSON API (``/api/admin/demo-links``): made, listed, shown, revoked and
restored by a script holding the admin token, and the links themselves working or not."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from tests.admin.conftest import BROWSER, CATALOGUE, SECRET_KEY, TOKEN  # noqa: F401  (make_app reads CATALOGUE)
from tests.support.apps import app_state_of, codes
from webapp.pages.demo_links import sign_demo_link, verify_demo_link
from webapp.pages.words import LANGUAGES

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SHOWN = {
    "link_id", "label", "agent", "state", "made_at", "made_by", "expires_at", "max_calls", "opens",
    "first_opened_at", "last_opened_at", "calls", "refused", "last_at", "revoked_at",
}  # fmt: skip
LISTED = ", ".join(LANGUAGES)
RANDOM = secrets.token_urlsafe(750)  # 1,000 characters no token compresses: two make a link too long


@pytest.fixture
def app(admin_app: Callable[..., Flask], call_log_url: str) -> Flask:
    """The admin app on SQLite, then PostgreSQL, with an empty call log."""
    return admin_app(WEBCALL_DATABASE_URL=call_log_url)


def make(app: Flask, **body: Any) -> Any:
    """POST a link to make (``agent`` is sales unless given); the answer."""
    return app.test_client().post("/api/admin/demo-links", json={"agent": "sales", **body}, headers=AUTH)


def get(app: Flask, path: str) -> Any:
    return app.test_client().get(path, headers=AUTH)


def post(app: Flask, path: str) -> Any:
    return app.test_client().post(path, headers=AUTH)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def call(app: Flask, token: str) -> Any:
    """A web call from the link's page."""
    return app.test_client().post("/api/calls", json={"agent": "sales", "demo_token": token})


def test_a_link_made_works_and_says_what_it_is(app: Flask) -> None:
    before = int(time.time())
    answer = make(app, label="Acme pilot", variables={"company": "Acme", "name": "Jo"}, expires="2d",
                  max_calls=3, lang="de")  # fmt: skip
    assert answer.status_code == 201, answer.get_json()
    assert answer.headers["Cache-Control"] == "no-store"
    made = answer.get_json()
    assert set(made) == SHOWN | {"url", "lang", "kept"}
    assert made["url"].startswith("http://localhost/demo/sales?t=") and made["url"].endswith("&lang=de")
    link = verify_demo_link(SECRET_KEY, token_of(made["url"]))
    assert (link.agent, link.variables, link.label, link.max_calls, link.link_id) == (
        "sales", {"company": "Acme", "name": "Jo"}, "Acme pilot", 3, made["link_id"]
    )  # fmt: skip
    assert before + 2 * 86400 <= link.expires_at <= int(time.time()) + 2 * 86400
    expires = datetime.fromisoformat(made["expires_at"])
    assert expires == datetime.fromtimestamp(link.expires_at, UTC)
    assert {k: made[k] for k in ("label", "agent", "state", "made_by", "max_calls", "calls", "refused")} == {
        "label": "Acme pilot", "agent": "sales", "state": "works", "made_by": "api", "max_calls": 3,
        "calls": 0, "refused": 0,
    }  # fmt: skip
    assert (made["lang"], made["kept"], made["last_at"], made["revoked_at"]) == ("de", True, None, None)
    assert (made["opens"], made["first_opened_at"], made["last_opened_at"]) == (0, None, None)
    # The prospect's page opens, in its language, and calls.
    page = app.test_client().get(
        urlsplit(made["url"]).path + "?" + urlsplit(made["url"]).query, headers=BROWSER
    )
    assert page.status_code == 200 and 'lang="de"' in page.get_data(as_text=True)
    assert call(app, token_of(made["url"])).status_code == 201
    # Listed, and shown alone, with its call; the view lists it made here too.
    shown = get(app, f"/api/admin/demo-links/{made['link_id']}")
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    last_at, opened_at = shown.get_json()["last_at"], shown.get_json()["last_opened_at"]
    assert last_at is not None and opened_at is not None
    assert shown.get_json() == {k: made[k] for k in SHOWN} | {
        "calls": 1, "last_at": last_at, "opens": 1, "first_opened_at": opened_at, "last_opened_at": opened_at,
    }  # fmt: skip
    listed = get(app, "/api/admin/demo-links").get_json()["links"]
    assert listed == [shown.get_json()]


def test_a_link_without_a_label_is_named_by_its_variables_and_works_seven_days(app: Flask) -> None:
    made = make(app, variables={"company": "Globex"}).get_json()
    link = verify_demo_link(SECRET_KEY, token_of(made["url"]))
    assert made["label"] == "company=Globex" and link.label is None and made["max_calls"] is None
    assert abs(link.expires_at - (time.time() + 7 * 86400)) < 60
    assert made["lang"] is None and "&lang=" not in made["url"]
    bare = make(app).get_json()
    assert bare["label"] is None and verify_demo_link(SECRET_KEY, token_of(bare["url"])).variables == {}


def test_the_link_is_on_the_public_url_when_one_is_set(admin_app: Callable[..., Flask]) -> None:
    app = admin_app(WEBCALL_PUBLIC_URL="https://talk.example.com")
    assert make(app).get_json()["url"].startswith("https://talk.example.com/demo/sales?t=")


def test_an_expiry_date_works_through_that_day(app: Flask) -> None:
    day = (datetime.now(UTC) + timedelta(days=30)).date()
    made = make(app, expires=day.isoformat()).get_json()
    assert made["expires_at"] == f"{day + timedelta(days=1)}T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"agent": "nobody"}, 404, "unknown_agent", "There is no agent with that name."),
        ({"agent": None}, 400, "invalid_field", None),
        ({"colour": "red"}, 400, "unknown_field", "Unknown field 'colour'."),
        ({"variables": {"first name": "Jo"}}, 400, "invalid_field", "variables keys must be variable names"),
        ({"variables": {"name": 3}}, 400, "invalid_field", "variables values must be strings."),
        ({"variables": ["name=Jo"]}, 400, "invalid_field", "variables must be a JSON object."),
        ({"label": "x" * 101}, 400, "invalid_field", "label must be a single-line string of 1 to 100"),
        ({"label": "Acme\npilot"}, 400, "invalid_field", "label must be a single-line string"),
        ({"label": ""}, 400, "invalid_field", "label must be a single-line string"),
        ({"expires": "soon"}, 400, "invalid_field", "expires: use a duration (30m, 12h, 7d, 2w) or a date"),
        ({"expires": "11y"}, 400, "invalid_field", "expires: use a duration"),
        ({"expires": "4000d"}, 400, "invalid_field", "expires: a link works ten years at most."),
        ({"expires": "9999-12-31"}, 400, "invalid_field", "expires: a link works ten years at most."),
        ({"expires": "2001-01-01"}, 400, "invalid_field", "expires: that moment has passed."),  # a dead link
        ({"expires": "0001-01-01T00:00:00+14:00"}, 400, "invalid_field", "expires: that moment has passed."),
        ({"expires": 7}, 400, "invalid_field", "expires must be a duration"),
        ({"max_calls": 0}, 400, "invalid_field", "max_calls must be a whole number from 1 to 10,000"),
        ({"max_calls": 10_001}, 400, "invalid_field", "max_calls must be a whole number"),
        ({"max_calls": "3"}, 400, "invalid_field", "max_calls must be a whole number"),
        ({"max_calls": 2.5}, 400, "invalid_field", "max_calls must be a whole number"),
        ({"lang": "xx"}, 400, "invalid_field", f"lang must be one of the page's languages: {LISTED}"),
        ({"variables": {"note": RANDOM, "more": RANDOM[::-1]}}, 400, "invalid_field", "The link would be "),
    ],
)  # fmt: skip
def test_what_is_no_link_is_refused_with_its_reason(
    app: Flask, body: dict[str, Any], status: int, code: str, words: str | None
) -> None:
    answer = make(app, **body)
    error = answer.get_json()["error"]
    assert (answer.status_code, error["code"]) == (status, code), error
    if words:
        assert error["message"].startswith(words), error["message"]
    assert get(app, "/api/admin/demo-links").get_json()["links"] == []  # nothing made


def test_a_body_that_is_not_a_links_is_refused(app: Flask) -> None:
    client = app.test_client()
    path = "/api/admin/demo-links"
    sent = [
        client.post(path, data="{", content_type="application/json", headers=AUTH),
        client.post(path, data="[]", content_type="application/json", headers=AUTH),
        client.post(path, data="agent=sales", content_type="application/x-www-form-urlencoded", headers=AUTH),
        client.post(path, json={"agent": "sales", "label": "x" * 70_000}, headers=AUTH),
        # Past the app's 16 KiB for a call's body, within this endpoint's 64 KiB: read, then judged.
        client.post(path, json={"agent": "sales", "label": "x" * 20_000}, headers=AUTH),
        client.post(path, json={"label": "Acme"}, headers=AUTH),
    ]
    assert codes(sent) == ["invalid_json", "invalid_body", "unsupported_media_type", "payload_too_large",
                           "invalid_field", "invalid_field"]  # fmt: skip
    assert sent[-2].get_json()["error"]["message"].startswith("label must be a single-line string")
    assert sent[-1].get_json()["error"]["message"] == "agent is required."


def test_without_a_secret_key_no_link_is_made(admin_app: Callable[..., Flask]) -> None:
    app = admin_app(WEBCALL_SECRET_KEY=None)
    answer = make(app)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (403, "demo_links_disabled")
    assert "WEBCALL_SECRET_KEY" in answer.get_json()["error"]["message"]


def test_every_endpoint_needs_the_token(app: Flask) -> None:
    client = app.test_client()
    made = make(app).get_json()
    link_id = made["link_id"]
    base = "/api/admin/demo-links"
    answers = [
        client.post(base, json={"agent": "sales"}),
        client.get(base),
        client.get(f"{base}/{link_id}"),
        client.post(f"{base}/{link_id}/revoke"),
        client.post(f"{base}/{link_id}/restore"),
        client.post(f"{base}/{link_id}/extend", json={"expires": "30d"}),
        # A wrong token is a guess, limited as the rest of the API's are (5 a minute): two of them.
        client.post(base, json={"agent": "sales"}, headers={"Authorization": "Bearer wrong"}),
        client.post(f"{base}/{link_id}/revoke", headers={"Authorization": f"Bearer {TOKEN[:-1]}"}),
    ]
    assert codes(answers) == ["admin_token_required"] * 8
    shown = get(app, f"{base}/{link_id}").get_json()
    assert (
        shown["state"] == "works" and shown["expires_at"] == made["expires_at"]
    )  # nor changed by a stranger
    assert len(get(app, base).get_json()["links"]) == 1  # nor one made


def test_revoking_and_restoring_a_link(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    made = make(app, label="Acme").get_json()
    token, link_id = token_of(made["url"]), made["link_id"]
    other = token_of(make(app, label="Globex").get_json()["url"])
    with caplog.at_level(logging.INFO, logger="webapp"):
        revoked = post(app, f"/api/admin/demo-links/{link_id}/revoke")
    assert revoked.status_code == 200 and revoked.headers["Cache-Control"] == "no-store"
    assert revoked.get_json()["state"] == "revoked" and revoked.get_json()["revoked_at"] is not None
    assert f"admin: demo link {link_id} revoked (api)" in caplog.text
    refused = call(app, token)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (410, "demo_link_expired")
    assert app.test_client().get(f"/demo/sales?t={token}").status_code == 410
    assert call(app, other).status_code == 201  # other links work on
    again = post(app, f"/api/admin/demo-links/{link_id}/revoke").get_json()
    assert again["revoked_at"] == revoked.get_json()["revoked_at"]  # the first moment is kept
    assert get(app, f"/api/admin/demo-links/{link_id}").get_json()["refused"] == 1
    restored = post(app, f"/api/admin/demo-links/{link_id}/restore")
    assert restored.status_code == 200
    assert (restored.get_json()["state"], restored.get_json()["revoked_at"]) == ("works", None)
    assert call(app, token).status_code == 201


def test_a_link_made_elsewhere_is_revoked_by_its_id(app: Flask) -> None:
    """A link signed before links were kept (or with the CLI while the log was down) is unknown
    until used; revoking it by its id works all the same, as the CLI's does."""
    link_id = "dl_AAAAbbbbCCCCdddd"
    assert get(app, f"/api/admin/demo-links/{link_id}").get_json()["error"]["code"] == "unknown_demo_link"
    assert post(app, f"/api/admin/demo-links/{link_id}/restore").status_code == 404  # nothing to restore
    revoked = post(app, f"/api/admin/demo-links/{link_id}/revoke").get_json()
    assert {k: revoked[k] for k in ("state", "made_at", "agent", "label", "calls")} == {
        "state": "revoked", "made_at": None, "agent": None, "label": None, "calls": 0,
    }  # fmt: skip
    assert get(app, f"/api/admin/demo-links/{link_id}").status_code == 200


def extend(app: Flask, link_id: str, expires: Any, **more: Any) -> Any:
    """POST a link's new expiry (None: none), and ``max_calls`` when given; the answer."""
    path = f"/api/admin/demo-links/{link_id}/extend"
    body = {"expires": expires} if expires is not None else {}
    return app.test_client().post(path, json={**body, **more}, headers=AUTH)


def test_an_expired_link_extended_works_again_at_the_same_address(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    made = make(app, label="Acme", expires="1s").get_json()
    token, link_id = token_of(made["url"]), made["link_id"]
    time.sleep(1.1)
    assert codes([call(app, token)]) == ["demo_link_expired"]
    assert app.test_client().get(f"/demo/sales?t={token}").status_code == 410
    with caplog.at_level(logging.INFO, logger="webapp"):
        extended = extend(app, link_id, "7d")
    assert extended.status_code == 200 and extended.headers["Cache-Control"] == "no-store"
    shown = extended.get_json()
    assert (shown["state"], shown["refused"]) == ("works", 1)
    expires_at = datetime.fromisoformat(shown["expires_at"])
    assert abs(expires_at.timestamp() - (time.time() + 7 * 86400)) < 60
    assert f"admin: demo link {link_id} extended (until {expires_at.isoformat()}) (api)" in caplog.text
    assert call(app, token).status_code == 201  # the prospect's link, as it was sent
    assert app.test_client().get(f"/demo/sales?t={token}").status_code == 200
    assert get(app, "/api/admin/demo-links").get_json()["links"][0]["expires_at"] == shown["expires_at"]
    # Only later: a shorter life is a revocation's business.
    sooner = extend(app, link_id, "1d")
    assert codes([sooner]) == ["invalid_field"] and sooner.status_code == 400
    assert sooner.get_json()["error"]["message"] == (
        "expires: the link works until then already; revoke it to end it sooner."
    )
    assert get(app, f"/api/admin/demo-links/{link_id}").get_json()["expires_at"] == shown["expires_at"]
    later = extend(app, link_id, (datetime.now(UTC) + timedelta(days=60)).date().isoformat()).get_json()
    assert later["expires_at"] > shown["expires_at"]
    # A revoked link extended stays revoked.
    post(app, f"/api/admin/demo-links/{link_id}/revoke")
    assert extend(app, link_id, "90d").get_json()["state"] == "revoked"
    assert codes([call(app, token)]) == ["demo_link_expired"]


@pytest.mark.parametrize(
    ("expires", "words"),
    [
        ("soon", "expires: use a duration (30m, 12h, 7d, 2w) or a date"),
        ("2001-01-01", "expires: that moment has passed."),
        ("4000d", "expires: a link works ten years at most."),
        (7, "expires must be a duration"),
        ("", "expires must be a duration"),
    ],
)
def test_what_is_no_new_expiry_is_refused(app: Flask, expires: Any, words: str) -> None:
    made = make(app).get_json()
    answer = extend(app, made["link_id"], expires)
    error = answer.get_json()["error"]
    assert (answer.status_code, error["code"]) == (400, "invalid_field") and error["message"].startswith(
        words
    )
    assert get(app, f"/api/admin/demo-links/{made['link_id']}").get_json()["expires_at"] == made["expires_at"]


def test_a_body_that_is_no_expiry_is_refused(app: Flask) -> None:
    client = app.test_client()
    path = f"/api/admin/demo-links/{make(app).get_json()['link_id']}/extend"
    sent = [
        client.post(path, data="{", content_type="application/json", headers=AUTH),
        client.post(path, json={"expires": None}, headers=AUTH),
        client.post(path, json={"expires": "7d", "label": "Acme"}, headers=AUTH),
        client.post(path, data="expires=7d", content_type="application/x-www-form-urlencoded", headers=AUTH),
        client.post(path, json={"expires": "7d"}),
    ]
    assert codes(sent) == [
        "invalid_json", "invalid_field", "unknown_field", "unsupported_media_type", "admin_token_required",
    ]  # fmt: skip


def test_a_link_used_up_is_given_more_calls(app: Flask) -> None:
    made = make(app, label="Hooli", max_calls=1).get_json()
    token, link_id = token_of(made["url"]), made["link_id"]
    assert call(app, token).status_code == 201
    assert codes([call(app, token)]) == ["demo_link_expired"]
    assert app.test_client().get(f"/demo/sales?t={token}").status_code == 410
    more = extend(app, link_id, None, max_calls=3).get_json()
    assert (more["state"], more["max_calls"], more["calls"], more["expires_at"]) == (
        "works", 3, 1, made["expires_at"],
    )  # fmt: skip
    assert app.test_client().get(f"/demo/sales?t={token}").status_code == 200
    assert [call(app, token).status_code for _ in range(3)] == [201, 201, 410]  # three in all
    assert get(app, f"/api/admin/demo-links/{link_id}").get_json()["state"] == "used_up"
    fewer = extend(app, link_id, None, max_calls=3)
    assert codes([fewer]) == ["invalid_field"] and fewer.get_json()["error"]["message"] == (
        "max_calls: the link may place as many calls already; revoke it to end it sooner."
    )
    both = extend(app, link_id, "30d", max_calls=None).get_json()  # any number, for a month
    assert (both["state"], both["max_calls"]) == ("works", None)
    assert abs(datetime.fromisoformat(both["expires_at"]).timestamp() - (time.time() + 30 * 86400)) < 60
    assert call(app, token).status_code == 201
    assert codes([extend(app, link_id, None, max_calls=10)]) == ["invalid_field"]  # any number already
    uncapped = make(app).get_json()["link_id"]
    assert codes([extend(app, uncapped, None, max_calls=10)]) == ["invalid_field"]
    nothing = app.test_client().post(f"/api/admin/demo-links/{link_id}/extend", json={}, headers=AUTH)
    assert nothing.get_json()["error"]["message"] == "expires or max_calls is required."
    for bad in (0, 10_001, "5", 2.5):
        assert codes([extend(app, link_id, None, max_calls=bad)]) == ["invalid_field"], bad


def test_only_a_link_made_here_is_extended(app: Flask) -> None:
    """A link signed elsewhere has no expiry in the call log to move: it is used, and still unknown here."""
    token = sign_demo_link(SECRET_KEY, "sales", {}, int(time.time()) + 3600, label="By hand")
    assert call(app, token).status_code == 201
    link_id = verify_demo_link(SECRET_KEY, token).link_id
    assert get(app, f"/api/admin/demo-links/{link_id}").status_code == 200
    refused = extend(app, link_id, "30d")
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (404, "unknown_demo_link")
    assert refused.get_json()["error"]["message"] == (
        "No demo link with this id was made here: only those can be extended."
    )
    assert codes([extend(app, "dl_AAAAbbbbCCCCdddd", "30d")]) == ["unknown_demo_link"]


def test_pruning_keeps_a_link_extended_past_its_signed_expiry(app: Flask) -> None:
    made = make(app, label="Initech", expires="1s").get_json()
    extend(app, made["link_id"], "7d")
    time.sleep(1.1)
    assert app_state_of(app).history.prune(datetime.now(UTC)) == 0
    assert call(app, token_of(made["url"])).status_code == 201
    assert get(app, f"/api/admin/demo-links/{made['link_id']}").get_json()["state"] == "works"


@pytest.mark.parametrize("link_id", ["wc_0123456789abcdef", "dl_short", "dl_AAAAbbbbCCCCdddd%00", "x" * 300])
def test_what_is_no_links_id_is_unknown(app: Flask, link_id: str) -> None:
    for answer in (
        get(app, f"/api/admin/demo-links/{link_id}"),
        post(app, f"/api/admin/demo-links/{link_id}/revoke"),
        post(app, f"/api/admin/demo-links/{link_id}/restore"),
        extend(app, link_id, "7d"),
    ):
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (404, "unknown_demo_link")
    assert get(app, "/api/admin/demo-links").get_json()["links"] == []  # nothing revoked


def test_the_states_a_link_goes_through(app: Flask) -> None:
    used = make(app, label="One call", max_calls=1).get_json()
    assert call(app, token_of(used["url"])).status_code == 201
    assert call(app, token_of(used["url"])).status_code == 410
    states = {link["label"]: link for link in get(app, "/api/admin/demo-links").get_json()["links"]}
    assert states["One call"]["state"] == "used_up"
    assert (states["One call"]["calls"], states["One call"]["refused"]) == (1, 1)
    short = make(app, label="Short", expires="1s").get_json()
    time.sleep(1.1)
    assert get(app, f"/api/admin/demo-links/{short['link_id']}").get_json()["state"] == "expired"


def test_the_list_takes_a_limit_and_nothing_else(app: Flask) -> None:
    ids = [make(app, label=f"Prospect {n}").get_json()["link_id"] for n in range(3)]
    listed = get(app, "/api/admin/demo-links?limit=2").get_json()["links"]
    assert [link["link_id"] for link in listed] == ids[:0:-1]  # the latest first
    assert len(get(app, "/api/admin/demo-links?limit=&_=123").get_json()["links"]) == 3
    assert [
        link["label"] for link in get(app, "/api/admin/demo-links?q=prospect%201").get_json()["links"]
    ] == ["Prospect 1"]
    assert get(app, f"/api/admin/demo-links?q={ids[0]}").get_json()["links"][0]["link_id"] == ids[0]
    assert get(app, "/api/admin/demo-links?q=nobody").get_json()["links"] == []
    queries = ("limit=0", "limit=1001", "limit=x", "limit=-1", "agent=sales", "q=" + "x" * 101, "q=a%0Ab")
    refused = [get(app, f"/api/admin/demo-links?{query}") for query in queries]
    assert codes(refused) == ["invalid_query"] * 7
    assert refused[4].get_json()["error"]["message"] == "Unknown query parameter 'agent'."
    assert refused[-1].get_json()["error"]["message"].startswith("q is not valid: at most 100 characters")


def test_no_link_reaches_the_log(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    """A link is a key to an agent: the log says one was made, never which token."""
    with caplog.at_level(logging.DEBUG):
        made = make(app, label="Acme").get_json()
    assert f"admin: demo link {made['link_id']} made for agent sales (api)" in caplog.text
    assert token_of(made["url"]) not in caplog.text and SECRET_KEY not in caplog.text


def test_a_retry_with_the_same_key_gets_the_same_link(app: Flask) -> None:
    """A CRM whose answer was lost sends again: one link, not two (the call API's guard)."""
    client = app.test_client()
    body = {"agent": "sales", "label": "Acme pilot", "variables": {"company": "Acme"}}
    keyed = {**AUTH, "Idempotency-Key": "crm-lead-4711"}
    first = client.post("/api/admin/demo-links", json=body, headers=keyed)
    again = client.post("/api/admin/demo-links", json=body, headers=keyed)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    assert len(get(app, "/api/admin/demo-links").get_json()["links"]) == 1
    other = client.post("/api/admin/demo-links", json={**body, "label": "Globex"}, headers=keyed)
    assert (other.status_code, other.get_json()["error"]["code"]) == (409, "idempotency_key_reused")
    bad = client.post("/api/admin/demo-links", json=body, headers={**AUTH, "Idempotency-Key": "no spaces"})
    assert (bad.status_code, bad.get_json()["error"]["code"]) == (400, "invalid_idempotency_key")
    unkeyed = [client.post("/api/admin/demo-links", json=body, headers=AUTH) for _ in range(2)]
    assert len({answer.get_json()["link_id"] for answer in unkeyed}) == 2  # without a key, two links
    # A refused make is forgotten: the same key, mended, makes the link.
    refused = client.post(
        "/api/admin/demo-links", json={"agent": "nobody"}, headers={**AUTH, "Idempotency-Key": "k2"}
    )
    assert refused.status_code == 404
    mended = client.post(
        "/api/admin/demo-links", json={"agent": "sales"}, headers={**AUTH, "Idempotency-Key": "k2"}
    )
    assert mended.status_code == 201, mended.get_json()
