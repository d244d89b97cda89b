"""The admin view's Events page (``/admin/events``): where events go, how many wait or were given
up, the latest of them, and sending those given up again, against a receiver over real HTTP."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fakes.receiver import SECRET, Receiver
from tests.history.conftest import RECEIVER_TOKEN, sender_of
from tests.history.test_events import (  # noqa: F401  (make_app reads CATALOGUE)
    CATALOGUE,
    LINK_KEY,
    give_up,
    new_call,
    open_link,
)
from tests.support.apps import app_state_of
from tests.support.processes import free_port
from webapp.admin import events as admin_events
from webapp.history import events as event_sending
from webapp.history.events import TEST_MESSAGE
from webapp.ops.openapi import document

PASSWORD = "correct horse battery staple"
ADMIN = {"WEBCALL_ADMIN_PASSWORD": PASSWORD, "WEBCALL_SECRET_KEY": "s" * 40}


def signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.post("/admin/login", data={"password": PASSWORD, "csrf_token": csrf(client, "/admin/login")})
    return client


def csrf(client: FlaskClient, path: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert token is not None
    return token.group(1)


def text(html: str) -> str:
    """A page's words, tags and runs of space gone."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def said(html: str) -> str:
    """A page's words as read: no space before a comma or a full stop."""
    return re.sub(r" ([,.;])", r"\1", text(html))


def counts(page: str) -> dict[str, str]:
    """The page's totals: name → value."""
    return dict(re.findall(r"<dt>([^<]+)</dt>\s*<dd class=\"totals__value\">([^<]+)</dd>", page))


def rows(page: str) -> list[str]:
    """The table's rows, as text."""
    return [text(row) for row in re.findall(r"<tr>(.*?)</tr>", page, re.S)[1:]]


def test_the_page_says_where_events_go_and_where_each_is(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_sending, "AT_ONCE", 1)  # the two calls' events in turn, as the answers are
    app, (target, url) = events_app(**ADMIN), receiver
    ours = give_up(app, target)
    target.statuses = [204, 500]
    sent, waiting = new_call(app)[1], new_call(app)[1]
    assert sender_of(app).send_due() == 2  # the first sent, the second refused once
    client = signed_in(app)
    page = client.get("/admin/events").get_data(as_text=True)
    host = re.match(r"(http://[^/]+)/", url)
    assert host is not None and f"<strong>{host.group(1)}</strong>" in page
    assert (
        f"Each call.created, call.started, call.ended, call.rated and demo_link.opened event is POSTed to "
        f"{host.group(1)} " in said(page)
    )
    assert "WEBCALL_EVENTS_TYPES" not in page
    assert RECEIVER_TOKEN not in page and "/hooks/webcall" not in page  # the URL's path and query stay secret
    assert counts(page) == {"Waiting": "1", "Given up": "1", "Sent in the last 24 hours": "1"}
    assert re.search(r"the oldest from <time datetime=\"\d{4}-\d\d-\d\dT[^\"]+Z\">", page)
    assert 'href="/admin/events" aria-current="page">Events</a>' in page
    lines = rows(page)
    assert len(lines) == 3
    assert re.fullmatch(r".* call\.created sales Waiting HTTP 500; next at .* UTC 1", lines[0]), lines
    assert re.fullmatch(r".* call\.created sales Sent \d{4}-.* UTC 1", lines[1]), lines
    assert re.fullmatch(r".* call\.created sales Given up HTTP 503 8 Send again", lines[2]), lines
    for call_id in (waiting, sent, ours):
        assert f'href="/admin/calls/{call_id}"' in page
    # One state at a time.
    only = client.get("/admin/events?state=given_up").get_data(as_text=True)
    assert len(rows(only)) == 1 and f'href="/admin/calls/{ours}"' in only
    assert '<option value="given_up" selected>' in only
    assert len(rows(client.get("/admin/events?state=sent").get_data(as_text=True))) == 1
    odd = client.get("/admin/events?state=lost")
    assert odd.status_code == 400 and "That state or event is not one of the lists" in odd.get_data(
        as_text=True
    )
    assert len(rows(odd.get_data(as_text=True))) == 3


def test_a_demo_links_event_names_its_link_and_events_show_by_type(events_app: Callable[..., Flask]) -> None:
    app = events_app(**{**ADMIN, "WEBCALL_SECRET_KEY": LINK_KEY})
    _, link_id = open_link(app, "Acme <pilot>")
    new_call(app)
    client = signed_in(app)
    page = client.get("/admin/events").get_data(as_text=True)
    assert f'<a href="/admin?demo_link={link_id}">Acme &lt;pilot&gt;</a>' in page
    assert len(rows(page)) == 2
    opened = client.get("/admin/events?type=demo_link.opened").get_data(as_text=True)
    (line,) = rows(opened)
    assert re.fullmatch(r".* demo_link\.opened Acme &lt;pilot&gt; Waiting to be sent 0", line), line
    assert '<option value="demo_link.opened" selected>demo_link.opened</option>' in opened
    none = client.get("/admin/events?type=call.rated&state=waiting").get_data(as_text=True)
    assert rows(none) == [] and "No event is in that state and of that type." in none
    odd = client.get("/admin/events?type=call.answered")
    assert odd.status_code == 400 and "That state or event is not one of the lists" in odd.get_data(
        as_text=True
    )
    assert len(rows(odd.get_data(as_text=True))) == 2


def test_older_events_are_a_page_away(
    events_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the page's events (two here), Older events; from there, The latest events again."""
    monkeypatch.setattr(admin_events, "SHOWN", 2)
    app = events_app(**ADMIN)
    made = [new_call(app)[1] for _ in range(3)]
    client = signed_in(app)

    def page_of(path: str) -> tuple[str, list[str], dict[str, str]]:
        page = client.get(path).get_data(as_text=True)
        links = dict(
            (text(name), html.unescape(href))
            for href, name in re.findall(
                r'<a class="button[^"]*"(?: rel="next")? href="([^"]+)">([^<]+)</a>', page
            )
        )
        return page, [call_id for call_id in made if call_id in page], links

    page, shown, links = page_of("/admin/events?state=waiting")
    assert "The latest events" in page and shown == made[1:] and "The latest events" not in links
    assert re.fullmatch(r"/admin/events\?state=waiting&before=evt_[0-9a-f]{24}", links["Older events"])
    page, shown, links = page_of(links["Older events"])
    assert "Older events</h2>" in page and "Those kept before 2 at most" in text(page)
    assert shown == made[:1] and "Older events" not in links  # the last page
    assert links["The latest events"] == "/admin/events?state=waiting"
    assert page_of("/admin/events?state=waiting&before=nonsense")[1] == made[1:]  # from the latest


def test_a_full_page_that_had_the_oldest_leads_to_a_page_that_says_so(
    events_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Older events" follows any full page: when there is none, that page said "No event has
    been kept yet." under its title, beside counts of the events kept."""
    monkeypatch.setattr(admin_events, "SHOWN", 2)
    app = events_app(**ADMIN)
    for _ in range(2):
        new_call(app)
    client = signed_in(app)
    latest = client.get("/admin/events").get_data(as_text=True)
    older = html.unescape(re.search(r'rel="next" href="([^"]+)">Older events<', latest).group(1))
    words = text(client.get(older).get_data(as_text=True))
    assert "No older event is kept: the page before this one had the oldest." in words
    assert "No event has been kept yet." not in words
    filtered = text(client.get(older + "&state=waiting").get_data(as_text=True))
    assert "No older event matches: the page before this one had the oldest." in filtered


def test_the_page_says_which_types_are_sent(events_app: Callable[..., Flask]) -> None:
    app = events_app(WEBCALL_EVENTS_TYPES="call.rated,call.ended", **ADMIN)
    page = said(signed_in(app).get("/admin/events").get_data(as_text=True))
    assert "Each call.ended and call.rated event is POSTed to " in page
    assert "; WEBCALL_EVENTS_TYPES leaves the others out." in page
    alone = events_app(WEBCALL_EVENTS_TYPES="call.ended", **ADMIN)
    assert "Each call.ended event is POSTed to " in text(
        signed_in(alone).get("/admin/events").get_data(as_text=True)
    )


def test_an_event_given_up_is_sent_again_from_its_row(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str]
) -> None:
    app, (target, _) = events_app(**ADMIN), receiver
    ours = give_up(app, target)
    client = signed_in(app)
    page = client.get("/admin/events").get_data(as_text=True)
    action = re.search(r'<form method="post" action="(/admin/events/(evt_[0-9a-f]{24})/resend)">', page)
    assert action is not None
    token = csrf(client, "/admin/events")
    assert client.post(action.group(1)).status_code == 400  # no token: a form from elsewhere
    assert counts(client.get("/admin/events").get_data(as_text=True))["Given up"] == "1"
    answer = client.post(action.group(1), data={"csrf_token": token})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/admin/events?resent=1")
    shown = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "1 event given up is in line again" in text(shown)
    assert counts(shown) == {"Waiting": "1", "Given up": "0", "Sent in the last 24 hours": "0"}
    assert sender_of(app).send_due() == 1  # the receiver takes it now (204)
    assert target.events()[-1]["data"]["call_id"] == ours
    assert {headers["Webhook-Id"] for headers, _, _ in target.received} == {action.group(2)}  # the same event
    after = client.get("/admin/events").get_data(as_text=True)
    assert counts(after)["Sent in the last 24 hours"] == "1" and "/resend" not in after
    again = client.post(action.group(1), data={"csrf_token": token})  # sent: nothing to do
    assert again.headers["Location"] == "/admin/events?resent=0"
    assert "No event was given up" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert client.post("/admin/events/evt_nope/resend", data={"csrf_token": token}).status_code == 404


def test_every_event_given_up_is_sent_again_at_once(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str]
) -> None:
    app, (target, _) = events_app(**ADMIN), receiver
    first, second = give_up(app, target), give_up(app, target)
    client = signed_in(app)
    page = client.get("/admin/events").get_data(as_text=True)
    assert counts(page)["Given up"] == "2" and 'action="/admin/events/resend"' in page
    assert client.post("/admin/events/resend").status_code == 400  # no token
    answer = client.post("/admin/events/resend", data={"csrf_token": csrf(client, "/admin/events")})
    assert answer.headers["Location"] == "/admin/events?resent=2"
    assert "2 events given up are in line again" in text(
        client.get(answer.headers["Location"]).get_data(as_text=True)
    )
    assert sender_of(app).send_due() == 2
    assert {event["data"]["call_id"] for event in target.events()} == {first, second}
    assert 'action="/admin/events/resend"' not in client.get("/admin/events").get_data(as_text=True)


def test_without_a_url_the_page_says_how_to_turn_events_on(make_app: Callable[..., Flask]) -> None:
    app = make_app(**ADMIN)
    page = signed_in(app).get("/admin/events")
    assert page.status_code == 200
    words = text(page.get_data(as_text=True))
    assert "Events are off: set WEBCALL_EVENTS_URL and WEBCALL_EVENTS_SECRET" in words
    assert "No event has been kept yet." in words


@pytest.mark.parametrize(("method", "path"), [("get", "/admin/events"), ("post", "/admin/events/resend")])
def test_strangers_are_sent_to_sign_in(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], method: str, path: str
) -> None:
    app, (target, _) = events_app(**ADMIN), receiver
    give_up(app, target)
    answer: Any = getattr(app.test_client(), method)(path)
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/admin/login")
    assert (
        app_state_of(app)
        .history.event_counts(app_state_of(app).history.recent_events()[0].occurred_at)
        .given_up
        == 1
    )


def test_a_test_event_tries_the_url_and_says_what_it_answered(
    events_app: Callable[..., Flask], receiver: tuple[Receiver, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Setting up a receiver: one click posts a signed ``webhook.test`` now and shows its answer;
    nothing is kept or tried again."""
    app, (target, url) = events_app(**ADMIN), receiver
    client = signed_in(app)
    token = csrf(client, "/admin/events")
    assert client.post("/admin/events/test").status_code == 400  # no token: nothing sent
    assert target.received == []
    with caplog.at_level(logging.INFO, logger="webapp.history.events"):
        took = client.post("/admin/events/test", data={"csrf_token": token})
    assert took.status_code == 200
    words = text(took.get_data(as_text=True))
    assert re.search(
        r"Your URL took the test event \( webhook\.test , evt_[0-9a-f]{24} \): HTTP 204 after \d+ ms", words
    )
    (event,) = target.events()  # verified with the secret, as any Standard Webhooks library does
    assert event["type"] == "webhook.test" and event["data"] == {"message": TEST_MESSAGE}
    schemas = document()["components"]
    jsonschema.validate(event, {**schemas["schemas"]["WebhookTest"], "components": schemas})
    (headers, _, where) = target.received[0]
    assert where == url and f"{headers['Webhook-Id']} )" in words
    assert f"event {headers['Webhook-Id']} webhook.test sent to 127.0.0.1:" in caplog.text
    assert RECEIVER_TOKEN not in caplog.text
    assert app_state_of(app).history.recent_events() == []  # not kept
    # A receiver that refuses it: its answer, and what to check.
    for status, advice in ((401, "verifies signatures with the same WEBCALL_EVENTS_SECRET"),
                           (503, "Events to it wait and are tried again"),
                           (302, "Redirects are not followed")):  # fmt: skip
        target.statuses = [status]
        refused = text(client.post("/admin/events/test", data={"csrf_token": token}).get_data(as_text=True))
        assert f"was not taken: your URL answered HTTP {status} after" in refused and advice in refused
    assert len(target.received) == 4  # one attempt each, none again
    assert sender_of(app).send_due() == 0


def test_a_test_event_to_a_url_that_does_not_answer(make_app: Callable[..., Flask]) -> None:
    port = free_port()  # nothing listens there
    app = make_app(WEBCALL_EVENTS_URL=f"http://127.0.0.1:{port}/hooks", WEBCALL_EVENTS_SECRET=SECRET, **ADMIN)
    client = signed_in(app)
    shown = text(
        client.post("/admin/events/test", data={"csrf_token": csrf(client, "/admin/events")}).get_data(
            as_text=True
        )
    )
    assert "was not taken: could not connect after" in shown


def test_without_a_url_there_is_no_test_event(make_app: Callable[..., Flask]) -> None:
    client = signed_in(make_app(**ADMIN))
    page = client.get("/admin/events").get_data(as_text=True)
    assert "/admin/events/test" not in page
    answer = client.post("/admin/events/test", data={"csrf_token": csrf(client, "/admin/events")})
    assert answer.status_code == 400
    assert "Events are off: there is no URL to send a test event to." in answer.get_data(as_text=True)
