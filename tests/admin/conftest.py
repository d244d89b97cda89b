"""An app with the admin view and API on, and a call log with calls of every kind in it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.guards.conftest import doomed_redis  # noqa: F401  (a Redis to kill, for the session tests)
from tests.support.apps import app_state_of
from webapp.history.store import CallAttempt, CallStore
from webapp.providers import ProviderCall, TranscriptLine

PASSWORD = "correct horse battery staple"
TOKEN = "admin-" + "t" * 40
SECRET_KEY = "admin-tests-secret-key-0123456789abcdef"
# What a browser sends when a person opens a link (typed, clicked in a mail or a chat).
BROWSER = {
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Site": "none",
    "Sec-Fetch-User": "?1",
}
CATALOGUE = """
[agents.sales]
provider = "livekit"
agent_id = "webcall-demo"

[agents.support]
provider = "livekit"
agent_id = "webcall-demo"
"""
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def seed(store: CallStore) -> dict[str, str]:
    """Five calls: web and phone, every outcome, one with a transcript, one rated by its caller;
    our ids by name."""

    def attempt(agent: str, hours: int) -> CallAttempt:
        at = T0 + timedelta(hours=hours)
        return CallAttempt(
            agent, "ravan", origin="https://shop.example", client_ref="ab12cd34", received_at=at
        )

    ids = {
        "pricing": store.record_created(attempt("sales", 0), "sess-pricing", "room-1"),
        "refused": store.record_failed(attempt("sales", 1), "provider_timeout"),
        "support": store.record_created(attempt("support", 2), "sess-support", None),
        "formula": store.record_created(attempt("support", 3), "sess-formula", None),
    }
    store.upsert_provider_call(
        "ravan",
        ProviderCall(
            call_id="sess-pricing", status="completed", channel="web", started_at=T0 + timedelta(seconds=3),
            ended_at=T0 + timedelta(seconds=98), duration_s=95, cost=0.35, cost_currency="USD",
            summary="Asked about the <b>pro</b> plan's price.", recording_url="https://rec.example/pricing.mp3",
            transcript=(
                TranscriptLine("agent", "Hello! How can I help?", T0 + timedelta(seconds=4)),
                TranscriptLine("user", "How much is the pro plan?", T0 + timedelta(seconds=9)),
            ),
        ),
        detailed=True,
    )  # fmt: skip
    store.upsert_provider_call(
        "ravan",
        ProviderCall(call_id="sess-formula", status="completed", summary='=HYPERLINK("https://evil.example")',
                     recording_url="javascript:alert(1)"),
    )  # fmt: skip
    store.upsert_provider_call(
        "ravan",
        ProviderCall(call_id="phone-1", agent_id="webcall-demo", status="no_answer", channel="phone",
                     created_at=T0 + timedelta(hours=4)),
        agent="sales",
    )  # fmt: skip
    ids["phone"] = store.find("phone-1").call_id  # type: ignore[union-attr]
    store.record_feedback(
        ids["support"], "good", "It knew the <i>return</i> policy.", T0 + timedelta(hours=2, minutes=5)
    )
    return ids


@pytest.fixture
def admin_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    """Build the app with the admin view and API on (keyword arguments override settings)."""

    def build(**env: str) -> Flask:
        settings = {
            "WEBCALL_ADMIN_PASSWORD": PASSWORD,
            "WEBCALL_ADMIN_TOKEN": TOKEN,
            "WEBCALL_SECRET_KEY": SECRET_KEY,
            **env,
        }
        return make_app(**{k: v for k, v in settings.items() if v is not None})

    return build


@pytest.fixture
def app(admin_app: Callable[..., Flask], call_log_url: str) -> tuple[Flask, dict[str, str]]:
    """The admin app on SQLite, then PostgreSQL, with the seeded calls."""
    app = admin_app(WEBCALL_DATABASE_URL=call_log_url)
    return app, seed(app_state_of(app).history)


def csrf_of(html: str) -> str:
    """The form token in a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: FlaskClient, password: str = PASSWORD, **form: Any) -> Any:
    """Open the sign-in page, then post the password with the page's token."""
    token = csrf_of(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"password": password, "csrf_token": token, **form})
