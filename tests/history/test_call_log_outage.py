"""The call log's PostgreSQL goes away while the app runs: calls still succeed and the failure is logged.

Each test starts on a real PostgreSQL that works (so the pool already holds a connection),
then takes the database away as a stopped server does: the server cuts every open
connection and refuses each new one at connect. The app runs in process against the
provider fakes, over its real HTTP routes.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from flask import Flask

from tests.fakes import Fault
from tests.fakes.fields import now_ms
from tests.fakes.receiver import SECRET, Receiver
from tests.fakes.retell import add_call, webhook
from tests.support.apps import codes, post
from tests.support.services import PostgresServer
from webapp.history.store import CallAttempt, CallLogError, CallQuery, CallStore, LinkExtension, LinkMade
from webapp.pages.demo_links import sign_demo_link, verify_demo_link
from webapp.providers import ProviderCall

NUMBER, OTHER = "+14155552671", "+14155552672"
CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"
[agents.ravan.phone]
enabled = true
allowed_countries = ["US"]
from_number = "+14157774444"
bot_check = false
cooldown_s = 0
"""

MakeApp = Callable[..., Flask]


def set_reachable(postgres: PostgresServer, url: str, reachable: bool) -> None:
    """Let ``url``'s database be reached, or take it away: its open connections cut and every
    new one refused by the server itself (psycopg's ``OperationalError`` at connect)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(reachable).lower()}')
        if not reachable:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])


@pytest.fixture
def call_log(postgres: PostgresServer) -> str:
    """A call log on the real PostgreSQL, at the latest revision; its URL."""
    return postgres.create_database(migrated=True)


@pytest.fixture
def app(make_app: MakeApp, call_log: str) -> Flask:
    """The app with its call log on ``call_log``."""
    return make_app(WEBCALL_DATABASE_URL=call_log)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every message logged at ERROR or above."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_every_operation_of_the_log_fails_as_its_own_error_until_the_database_is_back(
    postgres: PostgresServer, call_log: str
) -> None:
    """Callers catch :class:`CallLogError` only: a driver's or SQLAlchemy's error is a 500 (or a
    history sync that stops with a traceback)."""
    store = CallStore(call_log)
    store.migrate()
    attempt = CallAttempt(agent="ravan", provider="ravan")
    store.record_created(attempt, "sess-1", "room-1")
    set_reachable(postgres, call_log, False)
    call = ProviderCall(call_id="sess-1", status="completed")
    at = attempt.received_at
    made = LinkMade("dl_abcdefghijklmnop", "ravan", None, at, None, at, "cli")
    operations: dict[str, Callable[[], Any]] = {
        "record_created": lambda: store.record_created(attempt, "sess-2", None),
        "record_failed": lambda: store.record_failed(attempt, "rate_limited"),
        "upsert_provider_call": lambda: store.upsert_provider_call("ravan", call),
        "apply_webhook": lambda: store.apply_webhook("ravan", "call.completed", "d-1", call),
        "search": lambda: store.search(CallQuery()),
        "iter_search": lambda: list(store.iter_search(CallQuery())),
        "find": lambda: store.find("sess-1"),
        "count_live": store.count_live,
        "calls_needing_detail": lambda: store.calls_needing_detail("ravan", attempt.received_at),
        "calls_never_asked": lambda: store.calls_never_asked("ravan", None),
        "mark_detail_asked": lambda: store.mark_detail_asked("ravan", "sess-1"),
        "listed_through": lambda: store.listed_through("ravan", ["agent-1"]),
        "note_listed": lambda: store.note_listed("ravan", {"agent-1": None}, attempt.received_at),
        "unfinished_listing": lambda: store.unfinished_listing("ravan"),
        "begin_listing": lambda: store.begin_listing("ravan", None, ["agent-1"]),
        "keep_listing_before": lambda: store.keep_listing_before(
            "ravan", attempt.received_at, began_at=attempt.received_at, caught_up_at=attempt.received_at
        ),
        "finish_listing": lambda: store.finish_listing("ravan", None),
        "acquire_lease": lambda: store.acquire_lease("sync", "me", timedelta(minutes=1)),
        "revoke_demo_link": lambda: store.revoke_demo_link("dl_abcdefghijklmnop", attempt.received_at),
        "restore_demo_link": lambda: store.restore_demo_link("dl_abcdefghijklmnop"),
        "demo_link_revoked_at": lambda: store.demo_link_revoked_at("dl_abcdefghijklmnop"),
        "demo_link_standing": lambda: store.demo_link_standing("dl_abcdefghijklmnop"),
        "extend_demo_link": lambda: store.extend_demo_link("dl_abcdefghijklmnop", LinkExtension(until=at)),
        "demo_link_calls": lambda: store.demo_link_calls("dl_abcdefghijklmnop"),
        "demo_links": store.demo_links,
        "demo_link": lambda: store.demo_link("dl_abcdefghijklmnop"),
        "recent_events": store.recent_events,
        "event_counts": lambda: store.event_counts(at),
        "resend_event": lambda: store.resend_event("evt_" + "0" * 24, at),
        "record_demo_link": lambda: store.record_demo_link(made),
        "record_demo_link_open": lambda: store.record_demo_link_open("dl_abcdefghijklmnop", at),
    }
    escaped = {}
    for name, operation in operations.items():
        try:
            operation()
            escaped[name] = "nothing"
        except CallLogError:
            pass
        except Exception as error:
            escaped[name] = f"{type(error).__module__}.{type(error).__qualname__}"
    assert escaped == {}
    set_reachable(postgres, call_log, True)
    record = store.find(store.record_created(attempt, "sess-3", None))  # the pool connects again
    assert record is not None and record.provider_call_id == "sess-3"
    store.close()


def test_a_call_the_provider_created_reaches_the_caller_while_the_log_is_down(
    app: Flask, postgres: PostgresServer, call_log: str, ravan: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The audit's case: one call recorded, the database gone, then the next call was a 500
    although the provider had created it."""
    assert post(app, {"agent": "ravan"}).status_code == 201
    set_reachable(postgres, call_log, False)
    caplog.set_level(logging.ERROR, logger="webapp")
    answer = post(app, {"agent": "ravan"})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["call_id"] in ravan[1].calls and len(ravan[1].calls) == 2
    assert messages(caplog) == ["call log: could not record a call"]


def test_a_demo_link_works_while_the_log_cannot_say_whether_it_was_revoked(
    make_app: MakeApp, postgres: PostgresServer, call_log: str, ravan: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Calls go on without the call log, and demo links with them (a revocation waits for it)."""
    key = "outage-secret-key-0123456789abcdef"
    app = make_app(WEBCALL_DATABASE_URL=call_log, WEBCALL_SECRET_KEY=key)
    token = sign_demo_link(key, "ravan", {"company": "Acme"}, int(time.time()) + 600, max_calls=1)
    link_id = verify_demo_link(key, token).link_id
    set_reachable(postgres, call_log, False)
    caplog.set_level(logging.ERROR, logger="webapp")
    browser = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert app.test_client().get(f"/demo/ravan?t={token}", headers=browser).status_code == 200
    answer = post(app, {"agent": "ravan", "demo_token": token})
    assert answer.status_code == 201, answer.get_json()
    logged = "\n".join(messages(caplog))
    assert f"demo link {link_id}: whether it is revoked could not be read: " in logged
    assert f"demo link {link_id}: its calls could not be counted: " in logged
    assert f"demo link {link_id}: its opening could not be counted: " in logged
    made = app.test_cli_runner().invoke(args=["demo-link", "ravan"])  # a link made: it works, unkept
    assert made.exit_code == 0 and made.stdout.startswith("http://127.0.0.1:8000/demo/ravan?t=")
    assert "note: the link works, but the admin view will not list it before its first call" in made.stderr


def test_the_admin_api_makes_demo_links_while_the_log_is_down(
    make_app: MakeApp, postgres: PostgresServer, call_log: str, ravan: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A link is signed, not stored: it is made (``kept`` false, and logged) and works; what the
    log alone knows (the list, one link, revoking) is a 503 to retry."""
    key, admin = "outage-secret-key-0123456789abcdef", "admin-" + "t" * 40
    app = make_app(WEBCALL_DATABASE_URL=call_log, WEBCALL_SECRET_KEY=key, WEBCALL_ADMIN_TOKEN=admin)
    auth = {"Authorization": f"Bearer {admin}"}
    client = app.test_client()
    set_reachable(postgres, call_log, False)
    caplog.set_level(logging.ERROR, logger="webapp")
    made = client.post("/api/admin/demo-links", json={"agent": "ravan", "label": "Acme"}, headers=auth)
    assert made.status_code == 201 and made.get_json()["kept"] is False
    link_id = made.get_json()["link_id"]
    assert f"admin: demo link {link_id} could not be kept in the call log: " in "\n".join(messages(caplog))
    token = made.get_json()["url"].split("?t=", 1)[1]
    assert post(app, {"agent": "ravan", "demo_token": token}).status_code == 201
    base = "/api/admin/demo-links"
    answers = [
        client.get(base, headers=auth),
        client.get(f"{base}/{link_id}", headers=auth),
        client.post(f"{base}/{link_id}/revoke", headers=auth),
        client.post(f"{base}/{link_id}/restore", headers=auth),
        client.post(f"{base}/{link_id}/extend", json={"expires": "30d"}, headers=auth),
    ]
    assert codes(answers) == ["call_log_unavailable"] * 5
    assert all(answer.status_code == 503 and answer.headers["Retry-After"] == "5" for answer in answers)
    set_reachable(postgres, call_log, True)
    back = client.get(f"{base}/{link_id}", headers=auth)  # not kept: listed from its first call logged
    assert (back.status_code, back.get_json()["error"]["code"]) == (404, "unknown_demo_link")


def test_a_retell_webhook_is_a_503_that_retell_retries_while_the_log_is_down(
    app: Flask, postgres: PostgresServer, call_log: str, retell: Any
) -> None:
    """Retell retries what is not a 2xx: its retry, once the log is back, is answered (here
    ``ignored``: the log has no such call)."""
    call = add_call(retell[1], "agent_x", call_status="ongoing", start_timestamp=now_ms())
    set_reachable(postgres, call_log, False)
    body, headers = webhook(retell[1], "call_started", call["call_id"])
    answer = app.test_client().post("/webhooks/retell", data=body, headers=headers)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (503, "call_log_unavailable")
    assert answer.headers["Retry-After"] == "30"
    set_reachable(postgres, call_log, True)
    body, headers = webhook(retell[1], "call_started", call["call_id"])
    assert app.test_client().post("/webhooks/retell", data=body, headers=headers).get_json() == {
        "status": "ignored"
    }


def test_every_refusal_keeps_its_own_answer_while_the_log_is_down(
    make_app: MakeApp, postgres: PostgresServer, call_log: str, ravan: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused before the service (recorded by the blueprint's hook) or by it: never a 500."""
    app = make_app(WEBCALL_DATABASE_URL=call_log, WEBCALL_RATE_LIMITS="3/minute")
    assert post(app, {"agent": "ravan"}).status_code == 201
    set_reachable(postgres, call_log, False)
    caplog.set_level(logging.ERROR, logger="webapp")
    ravan[1].faults.append(Fault("status", status=500, body={"success": False}))
    answers = [
        post(app, {"agent": "nobody"}),
        app.test_client().post("/api/calls", data="{not json", content_type="application/json"),
        post(app, {"agent": "ravan"}, Origin="https://evil.example"),
        post(app, {"agent": "ravan"}),  # the provider fails
        post(app, {"agent": "ravan"}),  # the fourth counted this minute (bad bodies count none)
    ]
    assert codes(answers) == ["unknown_agent", "invalid_json", "origin_not_allowed", "provider_error",
                              "rate_limited"]  # fmt: skip
    assert messages(caplog).count("call log: could not record a refusal") == 5


def test_a_phone_call_is_placed_while_the_log_is_down(
    app: Flask, postgres: PostgresServer, call_log: str, ravan: Any
) -> None:
    """The caller hears back by the provider's id, as the log has no id of ours to give."""
    client = app.test_client()
    body = {"agent": "ravan", "phone_number": NUMBER, "consent": True}
    assert client.post("/api/phone-calls", json=body).status_code == 202
    set_reachable(postgres, call_log, False)
    answer = client.post("/api/phone-calls", json={**body, "phone_number": OTHER})
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["call_id"] in ravan[1].calls


def test_a_phone_calls_state_is_a_503_to_retry_while_the_log_is_down(
    app: Flask, postgres: PostgresServer, call_log: str
) -> None:
    """As ``/api/admin/calls`` answers: the log alone says whose call it is, so no guess."""
    client = app.test_client()
    placed = client.post("/api/phone-calls", json={"agent": "ravan", "phone_number": NUMBER, "consent": True})
    call_id = placed.get_json()["call_id"]
    assert placed.status_code == 202 and call_id.startswith("wc_")
    assert client.get(f"/api/phone-calls/{call_id}").status_code == 200
    set_reachable(postgres, call_log, False)
    state = client.get(f"/api/phone-calls/{call_id}")
    assert (state.status_code, state.get_json()["error"]["code"]) == (503, "call_log_unavailable")
    assert state.headers["Retry-After"] == "5"


def test_the_events_page_tries_the_url_while_the_log_is_down(
    make_app: MakeApp, postgres: PostgresServer, call_log: str, receiver: tuple[Receiver, str]
) -> None:
    """What only the log knows (the counts, the events) is said to be unreadable; where events go
    and a test event still work: a receiver can be checked during the outage."""
    target, url = receiver
    password = "correct horse battery staple"
    app = make_app(
        WEBCALL_DATABASE_URL=call_log, WEBCALL_EVENTS_URL=url, WEBCALL_EVENTS_SECRET=SECRET,
        WEBCALL_ADMIN_PASSWORD=password, WEBCALL_SECRET_KEY="s" * 40,
    )  # fmt: skip
    client = app.test_client()
    login = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login)
    assert token is not None
    client.post("/admin/login", data={"password": password, "csrf_token": token.group(1)})
    set_reachable(postgres, call_log, False)
    page = client.get("/admin/events")
    assert page.status_code == 200
    assert "The call log cannot be read right now: the events cannot be counted" in page.get_data(
        as_text=True
    )
    form = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert form is not None
    tried = client.post("/admin/events/test", data={"csrf_token": form.group(1)})
    assert tried.status_code == 200 and "Your URL took the test event" in tried.get_data(as_text=True)
    assert [event["type"] for event in target.events()] == ["webhook.test"]
