"""What the matching calls add up to: ``GET /api/admin/summary`` and the totals above the list."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.admin.conftest import CATALOGUE, T0, TOKEN, seed, sign_in  # noqa: F401  (make_app reads CATALOGUE)
from tests.support.apps import app_state_of
from webapp.admin import views
from webapp.history.store import CallAttempt, CallStore
from webapp.providers import ProviderCall

AUTH = {"Authorization": f"Bearer {TOKEN}"}
NO_CALLS = {
    "created": 0, "in_progress": 0, "completed": 0, "failed": 0, "no_answer": 0, "busy": 0, "voicemail": 0,
    "unknown": 0,
}  # fmt: skip


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
    }


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


def test_the_list_page_shows_the_totals_of_its_filters(admin_app: Callable[..., Flask]) -> None:
    flask_app = admin_app()
    store = app_state_of(flask_app).history
    seed(store)
    costly_calls(store)
    client = flask_app.test_client()
    sign_in(client)
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
