"""The admin view in headless Chromium, over the production entry point.

Calls go through gunicorn to the Ravan fake; one of them ends at Ravan with a transcript, and
``flask --app webapp history sync`` (the real command, against the same database) pulls it in.
Then the browser signs in with the keyboard, filters, opens the call's transcript and
downloads the CSV; every page is checked with axe-core and photographed into
test-artifacts/screenshots/ (375×740 and 1280×800, light and dark).
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.fakes import Fault
from tests.fakes.ravan import add_session, complete_session
from tests.support.apps import FAKE_AGENT_IDS, FAKE_KEYS, offline_livekit_env
from tests.support.browser import assert_accessible, screenshots, serve_axe
from tests.support.processes import ROOT
from tests.support.stack import AppServer, start_app_server
from webapp.history.schema import calls
from webapp.history.store import CallStore, new_call_id

pytestmark = pytest.mark.e2e
PASSWORD = "a long admin password"
AGENTS = f"""\
[agents.sales]
provider = "ravan"
agent_id = "{FAKE_AGENT_IDS["ravan"]}"
title = "Sales"

[agents.support]
provider = "ravan"
agent_id = "support-agent"
title = "Support"
"""
TRANSCRIPT = [
    ("assistant", "Hello! Thanks for calling Acme sales."),
    ("user", "Hi, how much is the pro plan for a team of ten?"),
    ("assistant", "The pro plan is 12 dollars per seat, so 120 dollars a month for ten people."),
]


def admin_env(ravan: Any, tmp_path: Path) -> dict[str, str]:
    """Settings for gunicorn with the admin view on, its own call log and the Ravan fake behind it."""
    return {
        **offline_livekit_env(),
        "RAVAN_API_KEY": FAKE_KEYS["ravan"],
        "RAVAN_BASE_URL": ravan[0].url,
        "WEBCALL_ADMIN_PASSWORD": PASSWORD,
        "WEBCALL_SECRET_KEY": "e2e-admin-secret-key-0123456789abcdef",
        "WEBCALL_DATABASE_URL": f"sqlite:///{tmp_path / 'calls.db'}",
    }


@pytest.fixture
def admin_server(ravan: Any, tmp_path: Path) -> Iterator[tuple[AppServer, dict[str, str]]]:
    """gunicorn with the admin view on, its own call log, the Ravan fake behind it; and its settings."""
    ravan[1].agents["support-agent"] = {}
    env = {**admin_env(ravan, tmp_path), "WEBCALL_AGENTS_FILE": str(tmp_path / "agents.toml")}
    (tmp_path / "agents.toml").write_text(AGENTS)
    app = start_app_server(env, tmp_path / "logs", agents_toml=AGENTS)
    yield app, env
    app.stop_now()  # the page may still hold connections


def place_calls(app: AppServer, ravan: Any) -> str:
    """Two calls Ravan creates and one it refuses; the first ends with a transcript; a phone call too."""
    pricing = httpx.post(f"{app.url}/api/calls", json={"agent": "sales"}, timeout=10).json()["call_id"]
    httpx.post(f"{app.url}/api/calls", json={"agent": "support"}, timeout=10).raise_for_status()
    ravan.faults.append(Fault("status", status=500, body={"success": False}))
    assert httpx.post(f"{app.url}/api/calls", json={"agent": "support"}, timeout=10).status_code == 502
    complete_session(ravan, pricing, duration_sec=95, summary="Asked the pro plan's price for ten seats.",
                     transcript=TRANSCRIPT)  # fmt: skip
    add_session(ravan, FAKE_AGENT_IDS["ravan"], id="phone-call-1", channel="voice", status="no_answer")
    return pricing


def run_sync(env: dict[str, str], log_dir: Path) -> str:
    """``flask --app webapp history sync``, as an operator (or cron) runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "webapp", "history", "sync"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    (log_dir / "history-sync.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_sign_in_filter_open_a_transcript_and_download_the_csv(
    page: Page, admin_server: tuple[AppServer, dict[str, str]], ravan: Any, artifacts: Path, tmp_path: Path
) -> None:
    app, env = admin_server
    pricing = place_calls(app, ravan[1])
    output = run_sync(env, tmp_path)
    assert output.startswith("ravan: 3 calls listed since the beginning (1 new)"), output
    shots = artifacts / "screenshots"
    serve_axe(page, app.url)

    # Signed out: the sign-in page, operated with the keyboard alone.
    page.goto(f"{app.url}/admin")
    expect(page).to_have_url(f"{app.url}/admin/login?next=%2Fadmin")
    expect(page.locator("#password")).to_be_focused()
    assert_accessible(page, app.url, "sign-in")
    screenshots(page, shots, "admin-login")
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("That password is not right.")
    page.locator("#password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{app.url}/admin")

    # Every call on record: ours (created and refused) and the one only Ravan knew.
    expect(page.locator("#results-count")).to_have_text("Calls 1–4 of 4, newest first")
    expect(page.locator(".calls tbody tr")).to_have_count(4)
    expect(page.locator(".calls")).to_contain_text("provider_error")
    expect(page.locator(".admin-live")).to_have_text("1 call in progress")  # the support call
    assert_accessible(page, app.url, "calls")
    screenshots(page, shots, "admin-calls")

    # Filter with the keyboard: a status, then a search, then Enter.
    page.locator("#f-status").select_option("completed")
    page.locator("#f-q").focus()
    page.keyboard.type("pro plan")
    page.keyboard.press("Enter")
    expect(page.locator("#results-count")).to_have_text("Calls 1–1 of 1, newest first")
    expect(page).to_have_url(re.compile(r"/admin\?.*status=completed.*&q=pro\+plan"))

    # The live count follows new calls without a reload.
    httpx.post(f"{app.url}/api/calls", json={"agent": "support"}, timeout=10).raise_for_status()
    expect(page.locator(".admin-live")).to_have_text("2 calls in progress", timeout=12_000)

    # The CSV of the filtered list.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("webcall-calls-") and download.suggested_filename.endswith(
        ".csv"
    )
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = list(csv.DictReader(saved.open()))
    assert [(r["provider_call_id"], r["status"], r["duration_s"]) for r in rows] == [
        (pricing, "completed", "95.0")
    ]

    # Open the call from the keyboard and read its transcript.
    page.locator(".calls__id").first.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Call wc_")
    transcript = page.locator(".dialogue__line")
    expect(transcript).to_have_count(3)
    expect(transcript.nth(1)).to_contain_text("how much is the pro plan for a team of ten?")
    expect(transcript.nth(1)).to_contain_text("Caller")
    expect(page.locator(".panel").first).to_contain_text("Asked the pro plan's price for ten seats.")
    expect(page.locator(".facts")).to_contain_text("1 min 35 s")
    assert_accessible(page, app.url, "one call")
    screenshots(page, shots, "admin-call")
    page.get_by_role("link", name="← All calls").click()
    expect(page.locator("#results-count")).to_have_text("Calls 1–1 of 1, newest first")  # the filters kept

    # Signing out ends the session.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{app.url}/admin/login")
    page.goto(f"{app.url}/admin")
    expect(page).to_have_url(f"{app.url}/admin/login?next=%2Fadmin")


def sign_in_over_http(client: httpx.Client) -> None:
    """The sign-in form, as a browser posts it (its CSRF token included)."""
    page = client.get("/admin/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no CSRF token in the sign-in page"
    signed_in = client.post("/admin/login", data={"password": PASSWORD, "csrf_token": token.group(1)})
    assert signed_in.status_code == 303, signed_in.text


def test_a_long_export_does_not_hold_up_calls_in_its_worker(ravan: Any, tmp_path: Path) -> None:
    """One gevent worker streams a CSV of 20,000 calls (about a second of its CPU) while a call
    comes in: the call is answered while most of the file is still to come."""
    env = admin_env(ravan, tmp_path)
    app = start_app_server(env, tmp_path / "logs", agents_toml=AGENTS, workers=1)
    try:
        store = CallStore(env["WEBCALL_DATABASE_URL"])  # the schema is there: the worker made it
        start = datetime(2026, 3, 1, tzinfo=UTC)
        with store.engine.begin() as connection:
            connection.execute(calls.insert(), [
                {"call_id": new_call_id(), "provider": "ravan", "agent": "sales", "channel": "web",
                 "outcome": "created", "status": "created", "provider_call_id": f"sess-{n}",
                 "created_at": start + timedelta(seconds=n), "updated_at": start + timedelta(seconds=n)}
                for n in range(20_000)
            ])  # fmt: skip
        store.close()
        finished: dict[str, float] = {}
        with httpx.Client(base_url=app.url, timeout=60) as admin:
            sign_in_over_http(admin)
            with admin.stream("GET", "/admin/calls.csv") as export:
                pieces = export.iter_bytes()
                body = [next(pieces)]  # the export is under way

                def read_the_rest() -> None:
                    body.extend(pieces)
                    finished["export"] = time.monotonic()

                reader = threading.Thread(target=read_the_rest)
                reader.start()
                call = httpx.post(f"{app.url}/api/calls", json={"agent": "sales"}, timeout=60)
                finished["call"] = time.monotonic()
                reader.join(60)
        assert call.status_code == 201, call.text
        rows = list(csv.DictReader(io.StringIO(b"".join(body).decode())))
        assert len(rows) == 20_000 and rows[0]["provider_call_id"] == "sess-19999"
        # Without its pauses the export ran to its end first: the call came after it.
        assert finished["export"] - finished["call"] > 0.2, finished
    finally:
        app.process.stop()
