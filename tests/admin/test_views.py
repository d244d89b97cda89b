"""The admin view: sign-in (password, cookie, CSRF, rate limit), the list, one call, CSV, live count."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.test import TestResponse

from tests.admin.conftest import CATALOGUE, PASSWORD, csrf_of, seed, sign_in  # noqa: F401  (make_app reads CATALOGUE)
from tests.support.apps import app_state_of, post
from webapp.admin import views
from webapp.history.schema import calls
from webapp.history.store import CallAttempt, CallLogError, CallQuery


@pytest.fixture
def flask_app(admin_app: Callable[..., Flask]) -> Flask:
    """The admin app on SQLite with the seeded calls (PostgreSQL is covered by the API's tests)."""
    app = admin_app()
    seed(app_state_of(app).history)
    return app


def test_the_view_does_not_exist_without_a_password(admin_app: Callable[..., Flask]) -> None:
    client = admin_app(WEBCALL_ADMIN_PASSWORD=None).test_client()
    for path in ("/admin", "/admin/login", "/admin/calls.csv", "/admin/live.json"):
        assert client.get(path).status_code == 404, path
    assert client.post("/admin/login", data={"password": PASSWORD}).status_code == 404


def test_every_page_asks_for_the_password_first(flask_app: Flask) -> None:
    client = flask_app.test_client()
    answer = client.get("/admin?status=failed")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/admin/login?next=%2Fadmin%3Fstatus%3Dfailed"
    assert client.get("/admin/calls.csv").status_code == 303
    assert client.get("/admin/live.json").status_code == 401
    login = client.get("/admin/login")
    assert login.status_code == 200 and 'type="password"' in login.get_data(as_text=True)
    assert (
        login.headers["Cache-Control"] == "no-store"
        and "frame-ancestors 'none'" in login.headers["Content-Security-Policy"]
    )


def test_signing_in_opens_a_session_that_goes_where_you_were_going(flask_app: Flask) -> None:
    client = flask_app.test_client()
    answer = sign_in(client, next="/admin?status=failed")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/admin?status=failed")
    cookie = answer.headers["Set-Cookie"]
    assert (
        "webcall_admin=" in cookie
        and "HttpOnly" in cookie
        and "SameSite=Lax" in cookie
        and "Path=/admin" in cookie
    )
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test
    page = client.get("/admin?status=failed").get_data(as_text=True)
    assert "provider_timeout" in page and "Calls 1–1 of 1" in page


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/admin", "/talk/demo", "/admin\\@evil"]
)
def test_no_sign_in_sends_you_to_another_site(flask_app: Flask, target: str) -> None:
    answer = sign_in(flask_app.test_client(), next=target)
    assert answer.headers["Location"] == "/admin"


@pytest.mark.parametrize(
    "target", ["/admin\r\nX-Injected: 1", "/admin\nX: y", "/admin\x00", "/admin?q=\tx", "/admin\x7f"]
)
def test_a_control_character_in_next_sends_you_to_the_list(flask_app: Flask, target: str) -> None:
    """A CR or LF in ``next`` reached the Location header, which Werkzeug refuses: a 500."""
    client = flask_app.test_client()
    assert sign_in(client, next=target).headers["Location"] == "/admin"
    signed_in = client.get("/admin/login", query_string={"next": target})
    assert (signed_in.status_code, signed_in.headers["Location"]) == (303, "/admin")


def test_the_cookie_is_secure_over_https(flask_app: Flask) -> None:
    client = flask_app.test_client()
    token = csrf_of(client.get("/admin/login", base_url="https://calls.example").get_data(as_text=True))
    answer = client.post("/admin/login", data={"password": PASSWORD, "csrf_token": token},
                         base_url="https://calls.example")  # fmt: skip
    assert answer.status_code == 303 and "Secure" in answer.headers["Set-Cookie"]


def test_a_wrong_password_or_a_missing_token_opens_nothing(flask_app: Flask) -> None:
    client = flask_app.test_client()
    wrong = sign_in(client, password="correct horse battery stapler")
    assert wrong.status_code == 401 and "That password is not right." in wrong.get_data(as_text=True)
    no_token = client.post("/admin/login", data={"password": PASSWORD})
    assert no_token.status_code == 400 and "This form has expired" in no_token.get_data(as_text=True)
    forged = client.post("/admin/login", data={"password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 400
    # Another browser's token is no good either.
    other = csrf_of(flask_app.test_client().get("/admin/login").get_data(as_text=True))
    assert client.post("/admin/login", data={"password": PASSWORD, "csrf_token": other}).status_code == 400
    assert client.get("/admin").status_code == 303


def test_sign_in_is_rate_limited(flask_app: Flask) -> None:
    client = flask_app.test_client()
    # Right passwords are not what the limit is for (operators behind one address would lock each
    # other out): six sign-ins in a row, then five guesses, and the next is refused.
    for _ in range(6):
        assert sign_in(flask_app.test_client()).status_code == 303
    codes = [sign_in(client, password=f"guess number {n}").status_code for n in range(5)]
    assert codes == [401] * 5
    limited = sign_in(client)  # even the right password, for now
    assert limited.status_code == 429 and "Too many attempts" in limited.get_data(as_text=True)
    assert int(limited.headers["Retry-After"]) > 0
    assert client.get("/admin").status_code == 303
    # Another client is not held back by this one's guesses.
    other = flask_app.test_client()
    token = csrf_of(other.get("/admin/login").get_data(as_text=True))
    elsewhere = other.post("/admin/login", data={"password": PASSWORD, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": "198.51.100.7"})  # fmt: skip
    assert elsewhere.status_code == 303


def test_a_refused_sign_in_is_the_page_whatever_its_body(flask_app: Flask) -> None:
    """The 429's page read the form: a body past the size limit raised a 413 inside it, a 500."""
    client = flask_app.test_client()
    for _ in range(6):
        client.post("/admin/login", data={"password": "x"})
    padded = {"password": "x", "next": "/admin/calls.csv", "padding": "a" * 20_000}
    for body in (padded, {"password": "x", "next": "/admin/calls.csv"}):
        refused = client.post("/admin/login", data=body)
        assert refused.status_code == 429 and "Too many attempts" in refused.get_data(as_text=True)
        assert int(refused.headers["Retry-After"]) > 0
    # A body that can be read still takes you where you were going, once signed in.
    assert 'name="next" value="/admin/calls.csv"' in refused.get_data(as_text=True)


def test_signing_out_needs_the_forms_token(flask_app: Flask) -> None:
    client = flask_app.test_client()
    sign_in(client)
    assert client.post("/admin/logout").status_code == 400  # another site's form cannot sign you out
    assert client.get("/admin").status_code == 200
    token = csrf_of(client.get("/admin").get_data(as_text=True))
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/admin").status_code == 303


def test_a_new_password_signs_every_session_out(admin_app: Callable[..., Flask]) -> None:
    before = admin_app()
    client = before.test_client()
    sign_in(client)
    assert client.get("/admin").status_code == 200
    after = admin_app(WEBCALL_ADMIN_PASSWORD="a brand new password")
    cookie = client.get_cookie("webcall_admin", path="/admin")
    assert cookie is not None
    moved = after.test_client()
    moved.set_cookie("webcall_admin", cookie.value, path="/admin")
    assert moved.get("/admin").status_code == 303


def test_the_list_filters_and_pages(flask_app: Flask) -> None:
    client = flask_app.test_client()
    sign_in(client)
    page = client.get("/admin").get_data(as_text=True)
    # The seeded calls are months old: none counts as in progress any more.
    assert "Calls 1–5 of 5, newest first" in page and 'data-live-count="0"' in page
    assert "No calls in progress" in page
    # The pro plan's summary is shown as text, never as markup.
    assert "Asked about the &lt;b&gt;pro&lt;/b&gt; plan" in page and "<b>pro</b>" not in page
    filtered = client.get("/admin?agent=sales&status=&channel=phone&since=&until=&q=").get_data(as_text=True)
    assert "Calls 1–1 of 1" in filtered and "No answer" in filtered
    assert '<option value="sales" selected>' in filtered and '<option value="phone" selected>' in filtered
    paged = client.get("/admin?page_size=2&page=2").get_data(as_text=True)
    assert "Calls 3–4 of 5" in paged and 'rel="prev"' in paged and 'rel="next"' in paged
    searched = client.get("/admin?q=pro+plan").get_data(as_text=True)
    assert "Calls 1–1 of 1" in searched
    # The caller's rating, and their comment as text.
    rated = client.get("/admin?feedback=good").get_data(as_text=True)
    assert "Calls 1–1 of 1" in rated and '<option value="good" selected>Good</option>' in rated
    assert '<span class="badge badge--good">Good</span>' in rated
    assert '<span class="calls__comment">It knew the &lt;i&gt;return&lt;/i&gt; policy.</span>' in rated
    bad = client.get("/admin?status=done")
    assert bad.status_code == 400 and '"#f-status">Status</a> is not valid' in bad.get_data(as_text=True)


def test_a_filter_that_is_not_valid_stays_in_the_form_marked_and_lists_nothing(flask_app: Flask) -> None:
    """One filter that was not valid emptied the form (every filter chosen was lost), said "No calls
    match these filters." and offered the CSV of the whole log."""
    client = flask_app.test_client()
    sign_in(client)
    answer = client.get("/admin?agent=sales&status=failed&since=2026-03-01T25:00&until=2026-03-02&q=pro+plan")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert '<option value="sales" selected>' in page and '<option value="failed" selected>' in page
    assert 'name="until" type="date" value="2026-03-02"' in page and 'value="pro plan"' in page
    # The field at fault keeps what was typed, marked, with the reason beside it.
    assert (
        'name="since" type="text" value="2026-03-01T25:00" spellcheck="false" aria-invalid="true" '
        'aria-describedby="f-since-error">' in page
    )
    assert (
        '<p class="field__error" id="f-since-error">Must be a date or a date and time, like 2026-03-01 '
        "or 2026-03-01T12:00:00Z.</p>" in page
    )
    assert page.count("aria-invalid") == 1
    assert 'role="alert">No calls listed: <a href="#f-since">From</a> is not valid.' in page
    # No count and no CSV of another filter than the one asked for (none at all: every call).
    assert "No calls listed until the filters are valid." in page
    assert "calls.csv" not in page and "No calls match" not in page and "<table" not in page
    # A list's value that is none of its choices stays chosen (sent again, it is refused again).
    status = client.get("/admin?status=done&agent=sales").get_data(as_text=True)
    assert '<select class="field__select" id="f-status" name="status" aria-invalid="true"' in status
    assert '<option value="done" selected>done</option>' in status
    assert '<option value="sales" selected>' in status
    # A date box cannot show a day there is not: a text box, to correct it in.
    day = client.get("/admin?until=2026-02-30").get_data(as_text=True)
    assert 'name="until" type="text" value="2026-02-30" spellcheck="false" aria-invalid="true"' in day
    # A parameter the form has no field for is said in the alert.
    paged = client.get("/admin?agent=sales&page=0").get_data(as_text=True)
    assert 'role="alert">page is not valid: Input should be greater than or equal to 1.</p>' in paged
    assert "aria-invalid" not in paged and '<option value="sales" selected>' in paged


@pytest.mark.parametrize("until", ["9999-W52", "9999W52", "9999-12-31"])
def test_an_until_in_the_last_week_there_is_lists_and_exports_all(flask_app: Flask, until: str) -> None:
    """The end of a week's last day ran past the last date there is: a 500 on the list and the CSV."""
    client = flask_app.test_client()
    sign_in(client)
    listing = client.get(f"/admin?until={until}")
    assert listing.status_code == 200 and "Calls 1–5 of 5" in listing.get_data(as_text=True)
    export = client.get(f"/admin/calls.csv?until={until}")
    assert export.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))) == 5


def test_the_csv_link_is_a_plain_link_to_a_file_that_says_it_is_one(flask_app: Flask) -> None:
    """The link had ``download``: with the session expired, the browser saved the redirect's sign-in
    page as a file. The CSV's own header makes it a download, and a sign-in page stays a page."""
    client = flask_app.test_client()
    sign_in(client)
    page = client.get("/admin?agent=sales").get_data(as_text=True)
    link = re.search(r"<a [^>]*>Download CSV</a>", page)
    assert link is not None
    assert link.group(0) == (
        '<a class="button button--quiet button--small" href="/admin/calls.csv?agent=sales">Download CSV</a>'
    )
    export = client.get("/admin/calls.csv?agent=sales")
    assert export.headers["Content-Disposition"].startswith('attachment; filename="webcall-calls-')
    export.close()  # the streamed body holds its request's context until then
    signed_out = flask_app.test_client().get("/admin/calls.csv?agent=sales")
    assert signed_out.status_code == 303 and "Content-Disposition" not in signed_out.headers


def test_a_page_past_the_end_says_so_and_leads_to_the_last(flask_app: Flask) -> None:
    client = flask_app.test_client()
    sign_in(client)
    answer = client.get("/admin?page_size=2&page=999")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Calls 0–0" not in page
    assert "Page 999 is past the end of the 5 matching calls" in page
    assert 'href="/admin?page_size=2&amp;page=3">page 3</a>' in page
    assert 'href="/admin?page_size=2&amp;page=3" rel="prev"' in page and "page=998" not in page
    assert 'rel="next"' not in page


def test_no_page_past_the_last_one_the_list_takes_is_offered(
    flask_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``page`` goes up to MAX_PAGE (10,000): on a bigger log "Older calls" led to a 400 there."""
    monkeypatch.setattr(views, "MAX_PAGE", 2)  # five calls, one a page
    client = flask_app.test_client()
    sign_in(client)
    assert 'rel="next"' in client.get("/admin?page_size=1").get_data(as_text=True)
    last = client.get("/admin?page_size=1&page=2").get_data(as_text=True)
    assert "Calls 2–2 of 5" in last and 'rel="next"' not in last


def test_a_date_time_from_a_link_stays_in_the_filter_form(flask_app: Flask) -> None:
    """A date box cannot hold a date-time: shown there, it came back empty and the filter was gone."""
    client = flask_app.test_client()
    sign_in(client)
    page = client.get("/admin?since=2026-03-01T10:00:00Z&until=2026-03-01").get_data(as_text=True)
    assert "Calls 1–4 of 4" in page
    assert 'name="since" type="text" value="2026-03-01T10:00:00Z"' in page
    assert 'name="until" type="date" value="2026-03-01"' in page
    # The HTML view reads dates as the API does: every form, and an until date is its whole day.
    week_day = client.get("/admin?until=2026-W09-7").get_data(as_text=True)
    assert "Calls 1–5 of 5" in week_day and 'name="until" type="text" value="2026-W09-7"' in week_day


def test_a_missing_summary_says_whether_one_may_come(flask_app: Flask) -> None:
    """Ravan writes summaries (one may come later); self-hosted LiveKit never does, nor does
    Convoi, whose call object has no summary ("No summary yet." for ever)."""
    client = flask_app.test_client()
    sign_in(client)
    history = app_state_of(flask_app).history
    livekit = history.record_created(CallAttempt("sales", "livekit"), "room-lk", "room-lk")
    convoi = history.record_created(CallAttempt("sales", "convoi"), "call_1", "room-1")
    ravan = {r.provider_call_id: r.call_id for r in history.search(_everything())[0]}["sess-support"]
    page = client.get(f"/admin/calls/{livekit}").get_data(as_text=True)
    assert "No summary: Self-hosted LiveKit calls have none here." in page and "No summary yet." not in page
    assert "No summary: Convoi AI calls have none here." in client.get(f"/admin/calls/{convoi}").get_data(
        as_text=True
    )
    assert "No summary yet." in client.get(f"/admin/calls/{ravan}").get_data(as_text=True)


def test_a_backwards_date_range_says_so(flask_app: Flask) -> None:
    client = flask_app.test_client()
    sign_in(client)
    backwards = client.get("/admin?since=2026-03-02&until=2026-03-01").get_data(as_text=True)
    assert "No calls match: From must come before To." in backwards
    one_day = client.get("/admin?since=2026-03-01&until=2026-03-01").get_data(as_text=True)
    assert "Calls 1–" in one_day and "must come before" not in one_day  # To includes its whole day
    nothing = client.get("/admin?since=2030-01-01").get_data(as_text=True)
    assert "No calls match these filters." in nothing


def test_one_call_shows_its_summary_recording_and_transcript(flask_app: Flask) -> None:
    client = flask_app.test_client()
    sign_in(client)
    ids = {r.provider_call_id: r.call_id for r in app_state_of(flask_app).history.search(_everything())[0]}
    page = client.get(f"/admin/calls/{ids['sess-pricing']}?back=/admin%3Fagent%3Dsales").get_data(
        as_text=True
    )
    assert "How much is the pro plan?" in page and "Hello! How can I help?" in page
    assert 'href="https://rec.example/pricing.mp3"' in page and "1 min 35 s" in page
    assert 'href="/admin?agent=sales"' in page  # back to the filtered list
    formula = client.get(f"/admin/calls/{ids['sess-formula']}").get_data(as_text=True)
    assert "javascript:" not in formula  # a provider's odd recording URL is not a link
    assert client.get("/admin/calls/wc_nope").status_code == 404
    assert "<dt>Feedback</dt><dd>—</dd>" in page  # none given
    rated = client.get(f"/admin/calls/{ids['sess-support']}").get_data(as_text=True)
    assert '<dt>Feedback</dt><dd><span class="badge badge--good">Good</span>' in rated
    assert '<span class="facts__note">2026-03-01 11:05:00 UTC</span>' in rated
    assert '<p class="panel__text">It knew the &lt;i&gt;return&lt;/i&gt; policy.</p>' in rated
    assert "The caller's comment" not in page
    assert client.get("/admin/calls/sess-pricing").status_code == 200  # the provider's id works too


def test_a_cost_is_shown_as_stored_with_its_currency(flask_app: Flask) -> None:
    """``%.4g`` wrote 12345.0 as 1.234e+04 and 1234.56 as 1235."""
    client = flask_app.test_client()
    sign_in(client)
    history = app_state_of(flask_app).history
    call_id = history.find("sess-pricing").call_id  # type: ignore[union-attr]
    for cost, currency, shown in (
        (12345.0, "USD", "12345 USD"), (1234.56, "EUR", "1234.56 EUR"), (0.00001234, "USD", "0.00001234 USD"),
        (2.5, None, "2.5"),
    ):  # fmt: skip
        with history.engine.begin() as connection:
            connection.execute(
                sa.update(calls).where(calls.c.call_id == call_id).values(cost=cost, cost_currency=currency)
            )
        page = client.get(f"/admin/calls/{call_id}").get_data(as_text=True)
        assert re.findall(r"<dt>Cost</dt><dd>([^<]*)</dd>", page) == [shown], cost


def test_csv_has_every_matching_call_and_no_formulas(flask_app: Flask) -> None:
    for _ in range(3):  # more calls than one page of the list
        post(flask_app, {"agent": "sales"})
    client = flask_app.test_client()
    sign_in(client)
    answer = client.get("/admin/calls.csv?agent=sales&page_size=2")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="webcall-calls-')
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert len(rows) == 6 and {r["agent"] for r in rows} == {"sales"}
    everything = list(csv.DictReader(io.StringIO(client.get("/admin/calls.csv").get_data(as_text=True))))
    formula = next(r for r in everything if r["provider_call_id"] == "sess-formula")
    assert formula["summary"] == '\'=HYPERLINK("https://evil.example")'
    pricing = next(r for r in everything if r["provider_call_id"] == "sess-pricing")
    assert (pricing["duration_s"], pricing["cost"], pricing["status"]) == ("95.0", "0.35", "completed")
    support = next(r for r in everything if r["provider_call_id"] == "sess-support")
    assert (support["feedback_rating"], support["feedback_comment"]) == (
        "good",
        "It knew the <i>return</i> policy.",
    )
    assert (pricing["feedback_rating"], pricing["feedback_comment"]) == ("", "")


def test_csv_of_a_call_log_that_fails_is_the_lists_503_not_a_file_without_calls(flask_app: Flask) -> None:
    """It answered 200 with the header alone: "no call matches", to whoever opened it."""
    client = flask_app.test_client()
    sign_in(client)
    with app_state_of(flask_app).history.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE calls"))
    listing, export = client.get("/admin"), client.get("/admin/calls.csv")
    assert [(answer.status_code, answer.mimetype) for answer in (listing, export)] == [(503, "text/html")] * 2
    assert "Content-Disposition" not in export.headers and export.headers["Cache-Control"] == "no-store"

    def page(answer: TestResponse) -> str:
        """The page, without the request id it quotes."""
        return answer.get_data(as_text=True).replace(answer.headers["X-Request-ID"], "")

    assert page(export) == page(listing) and "Call log unavailable" in page(export)


def test_csv_cut_short_by_the_call_log_fails_the_download_instead_of_ending_it(flask_app: Flask) -> None:
    """A failure after the 200 ended the chunked body cleanly: the browser said the download was
    whole. Raised out of the body, it makes the server close the connection mid-body instead."""
    store = app_state_of(flask_app).history
    at = datetime(2026, 3, 2, tzinfo=UTC)
    more = [
        {"call_id": f"wc_{n:020x}", "provider": "ravan", "channel": "web", "status": "completed",
         "created_at": at, "updated_at": at}
        for n in range(600)
    ]  # fmt: skip
    with store.engine.begin() as connection:  # more than one batch of the export's reads
        connection.execute(sa.insert(calls), more)
    client = flask_app.test_client()
    sign_in(client)
    answer = client.get("/admin/calls.csv")  # the first batch is read: the 200 is on its way
    assert answer.status_code == 200
    with store.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE calls"))
    with pytest.raises(CallLogError):
        answer.get_data()


def test_the_live_count(flask_app: Flask) -> None:
    client = flask_app.test_client()
    sign_in(client)
    assert client.get("/admin/live.json").get_json() == {"in_progress": 0}
    post(flask_app, {"agent": "support"})
    post(flask_app, {"agent": "sales"})
    answer = client.get("/admin/live.json")
    assert answer.get_json() == {"in_progress": 2} and answer.headers["Cache-Control"] == "no-store"
    assert "2 calls in progress" in client.get("/admin").get_data(as_text=True)


def test_the_live_count_fails_in_the_apis_error_shape(flask_app: Flask) -> None:
    """It answered ``{"error": "signed_out"}``: the shape of no other error of the app."""
    client = flask_app.test_client()
    signed_out = client.get("/admin/live.json")
    assert signed_out.status_code == 401 and signed_out.headers["Cache-Control"] == "no-store"
    assert signed_out.get_json()["error"] == {
        "code": "signed_out",
        "message": "Sign in again to see the calls in progress.",
        "request_id": signed_out.headers["X-Request-ID"],
    }
    sign_in(client)
    with app_state_of(flask_app).history.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE calls"))
    outage = client.get("/admin/live.json")
    assert (outage.status_code, outage.get_json()["error"]["code"]) == (503, "call_log_unavailable")
    assert set(outage.get_json()["error"]) == {"code", "message", "request_id"}
    assert outage.headers["Retry-After"] == "5" and outage.headers["Cache-Control"] == "no-store"


def test_without_a_password_the_live_count_is_the_apis_404(admin_app: Callable[..., Flask]) -> None:
    client = admin_app(WEBCALL_ADMIN_PASSWORD=None).test_client()
    missing = client.get("/admin/live.json")
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (404, "not_found")
    assert "text/html" in client.get("/admin").content_type  # the pages' 404 is still a page


def _everything() -> CallQuery:
    """A query for every call."""
    return CallQuery(page_size=100)
