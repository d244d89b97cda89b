"""What the matching calls add up to: ``GET /api/admin/summary`` and the totals above the list."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.admin.conftest import CATALOGUE, T0, TOKEN, seed, sign_in  # noqa: F401  (make_app reads CATALOGUE)
from tests.support.apps import app_state_of
from webapp.admin import views
from webapp.admin.models import CHART_DAYS, CallSelection
from webapp.history.store import CallAttempt, CallStore
from webapp.providers import ProviderCall

AUTH = {"Authorization": f"Bearer {TOKEN}"}
NO_CALLS = {
    "created": 0, "in_progress": 0, "completed": 0, "failed": 0, "no_answer": 0, "busy": 0, "voicemail": 0,
    "unknown": 0,
}  # fmt: skip


def no_calls_lately() -> list[dict[str, Any]]:
    """The summary's days without a date filter, none of the seeded calls (of March) among them."""
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in reversed(range(CHART_DAYS))]
    return [{"day": day.isoformat(), "calls": 0, "refused": 0} for day in days]


def summary_of(app: Flask, query: str = "") -> dict[str, Any]:
    """The API's summary for ``query``, checked to be a 200 no cache keeps."""
    answer = app.test_client().get(f"/api/admin/summary?{query}", headers=AUTH)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"
    return dict(answer.get_json())


def costly_calls(store: CallStore) -> None:
    """Five more calls with costs: in dollars (sums a float cannot hold exactly), euros, and none
    named; one refused request with a cost a provider could never have reported (it counts not)."""
    for number, (cost, currency, seconds) in enumerate(
        [(0.1, "USD", 30), (0.2, "USD", 4000), (1.5, "EUR", None), (0.05, None, 12), (0.7, "USD", 61)]
    ):
        at = T0 + timedelta(days=1, minutes=number)
        store.record_created(CallAttempt("support", "ravan", received_at=at), f"sess-cost-{number}", None)
        store.upsert_provider_call(
            "ravan",
            ProviderCall(
                call_id=f"sess-cost-{number}", status="completed", duration_s=seconds, cost=cost,
                cost_currency=currency,
            ),
        )  # fmt: skip


def test_the_whole_log_adds_up_calls_apart_from_refused_requests(app: tuple[Flask, dict[str, str]]) -> None:
    flask_app, _ = app
    # Seeded: pricing (completed, 95 s, 0.35 USD), a request refused (provider_timeout), support
    # (created, rated good), formula (completed), a phone call nobody answered.
    assert summary_of(flask_app) == {
        "calls": 4,
        "refused": 1,
        "statuses": {**NO_CALLS, "created": 1, "completed": 2, "no_answer": 1},
        "durations": {"calls": 1, "total_s": 95.0, "average_s": 95.0},
        "costs": [{"currency": "USD", "total": 0.35, "calls": 1}],
        "feedback": {"good": 1, "bad": 0},
        "days": no_calls_lately(),
    }


def test_costs_add_up_per_currency_without_float_noise(app: tuple[Flask, dict[str, str]]) -> None:
    flask_app, _ = app
    costly_calls(app_state_of(flask_app).history)
    body = summary_of(flask_app)
    # 0.35 + 0.1 + 0.2 + 0.7 is 1.3499999999999999 in binary fractions; the most calls come first.
    assert body["costs"] == [
        {"currency": "USD", "total": 1.35, "calls": 4},
        {"currency": "EUR", "total": 1.5, "calls": 1},
        {"currency": None, "total": 0.05, "calls": 1},
    ]
    assert body["durations"] == {"calls": 5, "total_s": 4198.0, "average_s": 839.6}
    assert (body["calls"], body["statuses"]["completed"]) == (9, 7)


@pytest.mark.parametrize(
    ("query", "calls", "refused", "statuses", "feedback"),
    [
        ("agent=sales", 2, 1, {"completed": 1, "no_answer": 1}, 0),
        ("status=failed", 0, 1, {}, 0),  # the refused request's status, and no call
        ("status=completed", 2, 0, {"completed": 2}, 0),
        ("channel=phone", 1, 0, {"no_answer": 1}, 0),
        ("feedback=good", 1, 0, {"created": 1}, 1),
        ("q=pro+plan", 1, 0, {"completed": 1}, 0),
        ("since=2026-03-01T10:00:00Z&until=2026-03-01T12:00:00Z", 1, 1, {"created": 1}, 1),
        ("until=2026-02-28", 0, 0, {}, 0),
        ("until=0001-01-02", 0, 0, {}, 0),  # no day to count the calls of, one by one
        ("agent=&provider=&status=&channel=&feedback=&since=&until=&q=&_=1", 4, 1, None, 1),  # blanks: any
    ],
)
def test_the_filters_are_the_lists(
    app: tuple[Flask, dict[str, str]],
    query: str,
    calls: int,
    refused: int,
    statuses: dict[str, int] | None,
    feedback: int,
) -> None:
    flask_app, _ = app
    body = summary_of(flask_app, query)
    assert (body["calls"], body["refused"], body["feedback"]["good"]) == (calls, refused, feedback)
    if statuses is not None:
        assert body["statuses"] == {**NO_CALLS, **statuses}
    assert sum(body["statuses"].values()) == body["calls"]
    # The list counts the same records: the calls and the refused requests.
    listed = flask_app.test_client().get(f"/api/admin/calls?{query}", headers=AUTH).get_json()
    assert listed["total"] == calls + refused


def test_an_empty_log_adds_up_to_nothing(admin_app: Callable[..., Flask], call_log_url: str) -> None:
    assert summary_of(admin_app(WEBCALL_DATABASE_URL=call_log_url)) == {
        "calls": 0,
        "refused": 0,
        "statuses": NO_CALLS,
        "durations": {"calls": 0, "total_s": 0.0, "average_s": None},
        "costs": [],
        "feedback": {"good": 0, "bad": 0},
        "days": no_calls_lately(),
    }


def a_day_apart(store: CallStore) -> None:
    """Besides the seeded calls of 2026-03-01 (four calls and a refused request from 09:00 to
    13:00 UTC): a call a second before midnight, one at midnight and a refused request after it."""
    late, midnight = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    store.record_created(CallAttempt("sales", "ravan", received_at=late), "sess-late", None)
    store.record_created(CallAttempt("sales", "ravan", received_at=midnight), "sess-midnight", None)
    store.record_failed(
        CallAttempt("sales", "ravan", received_at=midnight + timedelta(hours=1)), "rate_limited"
    )


def test_the_calls_are_counted_a_day_at_a_time_in_utc(
    admin_app: Callable[..., Flask], call_log_url: str
) -> None:
    url = call_log_url
    if url.startswith("postgresql"):  # a session in another time zone (UTC+5:30) counts the same days
        url += ("&" if "?" in url else "?") + "options=-c%20TimeZone%3DAsia%2FKolkata"
    flask_app = admin_app(WEBCALL_DATABASE_URL=url)
    store = app_state_of(flask_app).history
    seed(store)
    a_day_apart(store)
    assert summary_of(flask_app, "since=2026-02-28&until=2026-03-03")["days"] == [
        {"day": "2026-02-28", "calls": 0, "refused": 0},
        {"day": "2026-03-01", "calls": 5, "refused": 1},
        {"day": "2026-03-02", "calls": 1, "refused": 1},
        {"day": "2026-03-03", "calls": 0, "refused": 0},
    ]
    # The filters count as they do for the sums.
    assert summary_of(flask_app, "agent=support&since=2026-03-01&until=2026-03-02")["days"] == [
        {"day": "2026-03-01", "calls": 2, "refused": 0},
        {"day": "2026-03-02", "calls": 0, "refused": 0},
    ]


@pytest.mark.parametrize(
    ("query", "days"),
    [
        ({}, ("2026-11-07", "2026-12-06")),  # the last 30 days
        ({"since": "2026-12-01"}, ("2026-12-01", "2026-12-06")),
        ({"until": "2026-12-01"}, ("2026-11-02", "2026-12-01")),  # a date: that whole day
        ({"until": "2026-12-01T00:00:00Z"}, ("2026-11-01", "2026-11-30")),  # a moment: before it
        ({"since": "2026-11-20", "until": "2027-05-01"}, ("2026-11-20", "2026-12-06")),  # none to come
        ({"since": "2025-01-01"}, ("2026-09-06", "2026-12-06")),  # 92 at most: the latest
        ({"since": "2026-12-07"}, None),  # all to come
        ({"since": "0001-01-01"}, ("2026-09-06", "2026-12-06")),
        ({"until": "0001-01-02"}, None),  # no day before the first to count from
    ],
)
def test_the_days_counted_one_by_one(query: dict[str, str], days: tuple[str, str] | None) -> None:
    counted = CallSelection(**query).days(date(2026, 12, 6))  # type: ignore[arg-type]
    assert counted == (tuple(date.fromisoformat(day) for day in days) if days else None)


@pytest.mark.parametrize(
    "query",
    ["status=done", "since=yesterday", "feedback=meh", "q=%00", "colour=red", "page=2", "page_size=10"],
)
def test_bad_filters_and_paging_are_400(app: tuple[Flask, dict[str, str]], query: str) -> None:
    """A sum has no pages: ``page`` is a name it does not document, refused as a typo would be."""
    answer = app[0].test_client().get(f"/api/admin/summary?{query}", headers=AUTH)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (400, "invalid_query")


def test_the_token_is_required_and_an_outage_is_a_503(app: tuple[Flask, dict[str, str]]) -> None:
    flask_app, _ = app
    client = flask_app.test_client()
    refused = client.get("/api/admin/summary", headers={"Authorization": "Bearer wrong"})
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (401, "admin_token_required")
    with app_state_of(flask_app).history.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE calls"))
    answer = client.get("/api/admin/summary", headers=AUTH)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (503, "call_log_unavailable")
    assert answer.headers["Retry-After"] == "5"


def totals_of(html: str) -> dict[str, str]:
    """The list page's totals: each item's title and its values and notes, as text."""
    section = re.search(r'<section class="totals".*?</section>', html, re.S)
    if section is None:
        return {}
    totals = {}
    for title, rest in re.findall(r"<dt>(.*?)</dt>(.*?)</div>", section.group(0), re.S):
        values = re.findall(r"<dd.*?</dd>", rest, re.S)
        totals[title] = " | ".join(re.sub(r"<[^>]+>", "", value).strip() for value in values)
    return totals


def signed_in(admin_app: Callable[..., Flask], more_calls: Callable[[CallStore], None]) -> FlaskClient:
    """A client signed in to the admin view of the seeded calls and ``more_calls``'."""
    flask_app = admin_app()
    store = app_state_of(flask_app).history
    seed(store)
    more_calls(store)
    client = flask_app.test_client()
    sign_in(client)
    return client


def test_the_list_page_shows_the_totals_of_its_filters(admin_app: Callable[..., Flask]) -> None:
    client = signed_in(admin_app, costly_calls)
    page = client.get("/admin?page_size=2").get_data(as_text=True)  # every page adds up all of them
    assert 'aria-labelledby="totals-title"' in page
    assert totals_of(page) == {
        "Calls": "9 | and 1 request refused",
        "Completed": "7 | Created 1 · No answer 1",
        "Talk time": "1 h 10 min | 14 min 0 s on average · 5 calls timed",
        "Cost": "1.35 USD | 1.5 EUR | 0.05",
        "Feedback": "1 good | 0 not good",
    }
    narrow = client.get("/admin?agent=support&status=created").get_data(as_text=True)
    assert totals_of(narrow) == {
        "Calls": "1",
        "Completed": "0 | Created 1",
        "Talk time": "0 s | No call has a duration yet",
        "Feedback": "1 good | 0 not good",
    }
    # Nothing matches, or the filters are not valid: no totals, which would be nobody's.
    assert totals_of(client.get("/admin?until=2026-02-28").get_data(as_text=True)) == {}
    assert totals_of(client.get("/admin?status=done").get_data(as_text=True)) == {}


def test_a_currency_a_provider_wrote_is_shown_as_text(admin_app: Callable[..., Flask]) -> None:
    flask_app = admin_app()
    store = app_state_of(flask_app).history
    store.record_created(CallAttempt("sales", "ravan", received_at=T0), "sess-odd", None)
    store.upsert_provider_call("ravan", ProviderCall(call_id="sess-odd", cost=2.0, cost_currency="<b>X</b>"))
    client = flask_app.test_client()
    sign_in(client)
    page = client.get("/admin").get_data(as_text=True)
    assert "2 &lt;b&gt;X&lt;/b&gt;" in page and "<b>X</b>" not in page


def test_a_long_log_lists_without_adding_up(
    admin_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_SUMMED_CALLS matching calls the page skips the totals (each view would read them
    all) and says how to get them; the API adds up any number."""
    monkeypatch.setattr(views, "MAX_SUMMED_CALLS", 3)
    flask_app = admin_app()
    seed(app_state_of(flask_app).history)
    client = flask_app.test_client()
    sign_in(client)
    page = client.get("/admin").get_data(as_text=True)  # 5 calls
    assert totals_of(page) == {}
    assert "Totals are shown for 3 matching calls at most: narrow the dates" in page
    narrow = client.get("/admin?agent=sales").get_data(as_text=True)  # 3 calls
    assert totals_of(narrow)["Calls"] == "2 | and 1 request refused"
    assert "Totals are shown for" not in narrow


def test_the_list_page_draws_the_calls_a_day(admin_app: Callable[..., Flask]) -> None:
    client = signed_in(admin_app, a_day_apart)
    page = client.get("/admin?since=2026-02-28&until=2026-03-03&page_size=1").get_data(as_text=True)
    chart = re.search(r'<figure class="days">.*?</figure>', page, re.S)
    assert chart, "no chart"
    drawn = chart.group(0)
    assert "Calls a day, 2026-02-28 to 2026-03-03 (UTC)" in drawn and "refused requests" in drawn
    assert "The most in a day: 6, on 2026-03-01." in drawn
    assert re.findall(r"<title>(.*?)</title>", drawn) == [
        "2026-03-01: 5 calls, 1 refused",
        "2026-03-02: 1 call, 1 refused",
    ]
    bars = [
        (kind, int(x), float(top), float(height))
        for kind, x, top, height in re.findall(
            r'<rect class="days__(\w+)" x="(\d+)" y="([\d.]+)" width="8" height="([\d.]+)">', drawn
        )
    ]
    # Each day 10 units wide; the busiest day (5 calls and 1 refused) as high as the chart (100).
    assert [(kind, x) for kind, x, _, _ in bars] == [
        ("calls", 11),
        ("refused", 11),
        ("calls", 21),
        ("refused", 21),
    ]
    heights = [height for *_, height in bars]
    assert heights == pytest.approx([500 / 6, 100 / 6, 100 / 6, 100 / 6], abs=0.01)  # to 2 places
    assert [top + height for _, _, top, height in bars] == pytest.approx(
        [100, 100 / 6, 100, 100 - 100 / 6], abs=0.01
    )
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th><td>(\d+)</td><td>(\d+)</td></tr>", drawn)
    # A day with calls leads to them, by the page's other filters.
    to_day = '<a href="/admin?since=2026-03-0{0}&amp;until=2026-03-0{0}&amp;page_size=1">2026-03-0{0}</a>'
    assert rows == [
        ("2026-03-03", "0", "0"), (to_day.format(2), "1", "1"),
        (to_day.format(1), "5", "1"), ("2026-02-28", "0", "0"),
    ]  # fmt: skip
    # A filter from a moment of a day: that day's link keeps it, so it lists the calls its row counts.
    from_moments = "/admin?since=2026-03-01T11:30:00Z&until=2026-03-02T00:30:00Z"
    moments = client.get(from_moments).get_data(as_text=True)
    links = dict(re.findall(r'<a href="(/admin\?since=[^"]*)">(2026-03-0\d)</a>', moments))
    first, last = (html.unescape(link) for link, day in sorted(links.items(), key=lambda item: item[1]))
    assert first == "/admin?since=2026-03-01T11%3A30%3A00Z&until=2026-03-01"
    assert last == "/admin?since=2026-03-02&until=2026-03-02T00%3A30%3A00Z"
    rows = {day: int(calls) + int(refused) for day, calls, refused in re.findall(
        r'>(2026-03-0\d)</a></th><td>(\d+)</td><td>(\d+)</td>', moments)}  # fmt: skip
    for link, day in links.items():  # the list has the refused requests too
        listed = client.get(html.unescape(link)).get_data(as_text=True)
        assert re.search(rf"Calls 1–\d+ of {rows[day]},", listed), (day, rows)
    # Without dates: the last 30 days, in which no call of March was made.
    lately = client.get("/admin").get_data(as_text=True)
    assert "None on any of these days." in lately and "<rect" not in lately
    # No call matches: no totals, and no chart.
    assert '<figure class="days">' not in client.get("/admin?agent=nobody").get_data(as_text=True)
