"""Making demo links in the admin view (``/admin/demo-links``), and the table of links used."""

from __future__ import annotations

import html
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.admin.conftest import BROWSER, CATALOGUE, SECRET_KEY, TOKEN, csrf_of, sign_in  # noqa: F401  (make_app reads CATALOGUE)
from tests.support.apps import app_state_of
from webapp.admin.display import LANGUAGE_NAMES
from webapp.history.store import LinkMade
from webapp.pages.demo_links import sign_demo_link, verify_demo_link
from webapp.pages.words import LANGUAGES


@pytest.fixture
def app(admin_app: Callable[..., Flask], call_log_url: str) -> Flask:
    """The admin app on SQLite, then PostgreSQL, with an empty call log."""
    return admin_app(WEBCALL_DATABASE_URL=call_log_url)


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    """A signed-in client."""
    client = app.test_client()
    sign_in(client)
    return client


def make(client: FlaskClient, **fields: str) -> Any:
    """Post the form as the page does (with its token), the given fields over the defaults."""
    page = client.get("/admin/demo-links").get_data(as_text=True)
    token, form_id = csrf_of(page), form_id_of(page)
    form = {
        "form_id": form_id,
        "agent": "sales",
        "label": "",
        "variables": "",
        "expires": "7d",
        "max_calls": "",
        "lang": "",
        **fields,
    }
    return client.post("/admin/demo-links", data={"csrf_token": token, **form})


def form_id_of(page: str) -> str:
    """The id of the form a page carries."""
    match = re.search(r'name="form_id" value="([^"]+)"', page)
    assert match, "no form id"
    return match.group(1)


def made_link(page: str) -> str:
    """The link a page shows as made."""
    match = re.search(r'id="made-link" type="text" value="([^"]+)"', page)
    assert match, "no link made"
    return html.unescape(match.group(1))


def test_the_form_makes_a_link_that_works(app: Flask, admin: FlaskClient) -> None:
    page = admin.get("/admin/demo-links")
    assert page.status_code == 200 and page.headers["Cache-Control"].startswith("no-store")
    text = page.get_data(as_text=True)
    assert '<a href="/admin/demo-links" aria-current="page">Demo links</a>' in text
    assert 'value="7d"' in text and "No demo link has been made here or used yet." in text

    variables = "company=Acme\r\nname=Jo\r\n\r\n"
    answer = make(admin, label="Acme pilot", variables=variables, expires="2d", max_calls=" 3 ", lang="de")
    assert answer.status_code == 200
    shown = answer.get_data(as_text=True)
    url = made_link(shown)
    assert url.startswith("http://localhost/demo/sales?t=") and url.endswith("&lang=de")
    token = parse_qs(urlsplit(url).query)["t"][0]
    link = verify_demo_link(SECRET_KEY, token)
    assert (link.agent, link.variables, link.label) == (
        "sales",
        {"company": "Acme", "name": "Jo"},
        "Acme pilot",
    )
    assert abs(link.expires_at - (time.time() + 2 * 86400)) < 60 and link.max_calls == 3
    assert "for 3 calls at most." in shown
    assert "A link for Acme pilot" in shown and f"<code>{link.link_id}</code>" in shown
    assert 'data-copy="made-link" hidden>Copy</button>' in shown  # the script shows it
    prospect = app.test_client().get(url.removeprefix("http://localhost"))
    assert prospect.status_code == 200 and '<html lang="de"' in prospect.get_data(as_text=True)


def test_links_point_at_the_public_url_when_there_is_one(admin_app: Callable[..., Flask]) -> None:
    client = admin_app(WEBCALL_PUBLIC_URL="https://calls.example.com").test_client()
    sign_in(client)
    assert made_link(make(client).get_data(as_text=True)).startswith(
        "https://calls.example.com/demo/sales?t="
    )


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"agent": "nobody"}, "agent", "Choose one of the agents."),
        ({"label": "x" * 101}, "label", "At most 100 characters on one line, without control characters."),
        ({"variables": "company=Acme\nnot a variable"}, "variables", "'not a variable' is not NAME=VALUE"),
        ({"variables": "1st=x"}, "variables", "is not NAME=VALUE with a variable's name."),
        ({"expires": "soon"}, "expires", "Use a duration (30m, 12h, 7d, 2w) or a date (2026-12-31)."),
        ({"expires": "9999-12-31"}, "expires", "A link works ten years at most."),
        ({"expires": "2001-01-01"}, "expires", "That moment has passed."),
        ({"lang": "tlh"}, "lang", "Choose one of the languages."),
        ({"max_calls": "0"}, "max_calls", "A whole number from 1 to 10,000, or empty for any number."),
        ({"max_calls": "²"}, "max_calls", "A whole number from 1 to 10,000"),
        ({"max_calls": "2.5"}, "max_calls", "A whole number from 1 to 10,000"),
        ({"variables": "notes=" + secrets.token_urlsafe(2000)}, "variables", "characters long, past 2,000"),
    ],
)
def test_a_field_that_is_not_valid_is_marked_and_makes_no_link(
    admin: FlaskClient, fields: dict[str, str], field: str, reason: str
) -> None:
    answer = make(admin, **{"label": "Kept", **fields})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert 'id="made-link"' not in page and "No link made:" in page
    # One aria-describedby, with the field's hint when it has one: a second would be dropped.
    hint = f"d-{field}-hint " if field in ("label", "variables", "expires", "max_calls") else ""
    assert f'aria-invalid="true" aria-describedby="{hint}d-{field}-error"' in page
    assert all(tag.count("aria-describedby") <= 1 for tag in page.split("<"))
    assert reason in html.unescape(page)
    assert 'value="Kept"' in page or field == "label"  # what was typed stays, to be corrected


def test_a_form_without_its_token_or_a_key_makes_no_link(
    app: Flask, admin: FlaskClient, admin_app: Callable[..., Flask]
) -> None:
    forged = admin.post("/admin/demo-links", data={"csrf_token": "forged", "agent": "sales", "expires": "7d"})
    assert forged.status_code == 400 and "This form has expired." in forged.get_data(as_text=True)
    assert 'id="made-link"' not in forged.get_data(as_text=True)
    signed_out = app.test_client().post("/admin/demo-links", data={"agent": "sales"})
    assert signed_out.status_code == 303 and signed_out.headers["Location"].startswith("/admin/login")

    keyless = admin_app(WEBCALL_SECRET_KEY=None).test_client()  # sign-ins signed per process: one app
    sign_in(keyless)
    page = keyless.get("/admin/demo-links").get_data(as_text=True)
    assert "Set <code>WEBCALL_SECRET_KEY</code>" in page and 'action="/admin/demo-links"' not in page
    token = csrf_of(page)
    refused = keyless.post("/admin/demo-links", data={"csrf_token": token, "agent": "sales", "expires": "7d"})
    assert refused.status_code == 400 and 'id="made-link"' not in refused.get_data(as_text=True)


def rows_of(page: str) -> list[tuple[str, str, list[str]]]:
    """The table of links: each row's link id, name and other cells."""
    found = re.findall(
        r"<tr>\s*<td><a href=\"/admin\?demo_link=([^\"]+)\">(.*?)</a></td>(.*?)</tr>", page, re.S
    )
    return [(link_id, name, re.findall(r"<td[^>]*>(.*?)</td>", rest, re.S)) for link_id, name, rest in found]


def test_the_links_made_and_used_latest_first_with_their_calls_and_state(
    app: Flask, admin: FlaskClient
) -> None:
    """Links made elsewhere show once used; links made here show at once, and say why one no
    longer works: revoked, expired, used up."""
    history = app_state_of(app).history
    soon = int(time.time()) + 600
    acme = sign_demo_link(SECRET_KEY, "sales", {"company": "Acme"}, soon, label="Acme <pilot>")
    globex = sign_demo_link(SECRET_KEY, "support", {"company": "Globex"}, soon)
    client = app.test_client()
    for token, agent in ((acme, "sales"), (acme, "sales"), (globex, "support")):
        assert client.post("/api/calls", json={"agent": agent, "demo_token": token}).status_code == 201
    acme_id, globex_id = (verify_demo_link(SECRET_KEY, t).link_id for t in (acme, globex))
    history.revoke_demo_link(acme_id, datetime.now(UTC))
    assert client.post("/api/calls", json={"agent": "sales", "demo_token": acme}).status_code == 410

    rows = rows_of(admin.get("/admin/demo-links").get_data(as_text=True))
    assert [(link_id, name) for link_id, name, _ in rows] == [
        (acme_id, "Acme &lt;pilot&gt;"),  # its refused try is the last
        (globex_id, "company=Globex"),
    ]
    assert [cells[0] for _, _, cells in rows] == ["sales", "support"]
    assert [cells[1] for _, _, cells in rows] == ["—", "—"]  # made elsewhere: not when
    assert [(cells[4], cells[5]) for _, _, cells in rows] == [("2", "1"), ("1", "0")]
    assert "Revoked" in rows[0][2][2] and "Works" in rows[1][2][2] and "until" not in rows[1][2][2]

    # Made here: listed before anyone uses it, with its expiry and its calls allowed.
    fresh = made_link(make(admin, label="Initech", max_calls="1").get_data(as_text=True))
    cli = app.test_cli_runner().invoke(args=["demo-link", "support", "--label", "Hooli", "--expires", "90s"])
    assert cli.exit_code == 0 and cli.output.startswith("http://127.0.0.1:8000/demo/support?t="), cli.output
    rows = rows_of(admin.get("/admin/demo-links").get_data(as_text=True))
    assert [name for _, name, _ in rows[:2]] == ["Hooli", "Initech"]
    hooli, initech = rows[0][2], rows[1][2]
    assert "Works" in hooli[2] and "until 20" in hooli[2] and "UTC" in hooli[1]
    assert hooli[1].endswith(">with the CLI</span>") and initech[1].endswith(">here</span>")  # where made
    auth = {"Authorization": f"Bearer {TOKEN}"}
    made_by_api = {"agent": "sales", "label": "Umbrella"}
    assert client.post("/api/admin/demo-links", json=made_by_api, headers=auth).status_code == 201
    umbrella = rows_of(admin.get("/admin/demo-links").get_data(as_text=True))[0]
    assert umbrella[1] == "Umbrella" and umbrella[2][1].endswith(">by the API</span>")
    assert (initech[3], initech[4], initech[6]) == ("Not yet", "0 of 1", "Not yet")
    token = parse_qs(urlsplit(fresh).query)["t"][0]
    assert client.post("/api/calls", json={"agent": "sales", "demo_token": token}).status_code == 201
    initech = next(cells for _, name, cells in rows_of(admin.get("/admin/demo-links").get_data(as_text=True))
                   if name == "Initech")  # fmt: skip
    assert "Used up" in initech[2] and initech[4] == "1 of 1" and "<form" not in initech[7]
    (latest,) = history.demo_links(limit=1)  # made before Hooli, used since: known as made here
    assert latest.label == "Initech" and latest.made is not None and latest.made.max_calls == 1

    # Revoked from the table, back to it; expired ones are kept until a prune past their expiry.
    initech_id = verify_demo_link(SECRET_KEY, token).link_id
    hooli_id = rows[0][0]
    form = {
        "csrf_token": csrf_of(admin.get("/admin/demo-links").get_data(as_text=True)),
        "back": "/admin/demo-links",
    }
    back = admin.post(f"/admin/demo-links/{hooli_id}/revoke", data=form)
    assert back.status_code == 303 and back.headers["Location"] == "/admin/demo-links"
    assert history.demo_link_revoked_at(hooli_id) is not None
    history.revoke_demo_link("dl_madeElsewhere0001", datetime.now(UTC))  # its expiry unknown: kept
    history.prune(datetime.now(UTC) + timedelta(days=1))
    listed = [link.link_id for link in history.demo_links()]
    assert initech_id in listed and hooli_id not in listed  # Hooli expired in 90 s; Initech in 7 days
    assert history.demo_link_revoked_at(hooli_id) is None  # its revocation went with it
    assert history.demo_link_revoked_at("dl_madeElsewhere0001") is not None


def test_a_links_page_opened_in_a_browser_is_counted(app: Flask, admin: FlaskClient) -> None:
    """Did the prospect look? Each page a browser opens (a reload too) counts; a chat app's link
    preview, a mail scanner, a prefetch, a fetch of another kind and a refused link's page do not."""
    url = made_link(make(admin, label="Acme").get_data(as_text=True))
    page = urlsplit(url).path + "?" + urlsplit(url).query
    link_id = verify_demo_link(SECRET_KEY, parse_qs(urlsplit(url).query)["t"][0]).link_id
    prospect, history = app.test_client(), app_state_of(app).history
    for headers in (
        {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},  # no Sec-Fetch
        {**BROWSER, "Sec-Purpose": "prefetch"},
        {**BROWSER, "Sec-Purpose": "prefetch;prerender"},
        {**BROWSER, "Purpose": "prefetch"},
        {**BROWSER, "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script"},
        {**BROWSER, "Sec-Fetch-Dest": "image"},
    ):
        assert prospect.get(page, headers=headers).status_code == 200
    assert history.demo_link(link_id).opened is None  # type: ignore[union-attr]
    first = datetime.now(UTC)
    assert prospect.get(page, headers=BROWSER).status_code == 200
    assert prospect.get(page, headers={**BROWSER, "Sec-Fetch-Dest": "iframe"}).status_code == 200
    opened = history.demo_link(link_id).opened  # type: ignore[union-attr]
    assert opened is not None and opened.opens == 2
    assert first <= opened.first_opened_at <= opened.last_opened_at <= datetime.now(UTC)
    (row,) = [cells for found, _, cells in rows_of(admin.get("/admin/demo-links").get_data(as_text=True))
              if found == link_id]  # fmt: skip
    assert re.fullmatch(
        r'2 times <span class="facts__note">last <time datetime="[^"]+Z">.+</time></span>', row[3]
    )
    # Revoked: its page is refused, and counts no open.
    history.revoke_demo_link(link_id, datetime.now(UTC))
    assert prospect.get(page, headers=BROWSER).status_code == 410
    assert history.demo_link(link_id).opened.opens == 2  # type: ignore[union-attr]
    # A link made elsewhere and only opened is known by its opens; pruning past it forgets them.
    elsewhere = sign_demo_link(SECRET_KEY, "sales", {}, int(time.time()) + 600)
    assert prospect.get(f"/demo/sales?t={elsewhere}", headers=BROWSER).status_code == 200
    state = history.demo_link(verify_demo_link(SECRET_KEY, elsewhere).link_id)
    assert state is not None and state.opened is not None and (state.opened.opens, state.made) == (1, None)
    history.prune(datetime.now(UTC) + timedelta(seconds=1))
    assert history.demo_link(verify_demo_link(SECRET_KEY, elsewhere).link_id) is None
    assert history.demo_link(link_id).opened is None  # type: ignore[union-attr]


def test_the_form_sent_again_shows_the_link_it_made_not_another(app: Flask, admin: FlaskClient) -> None:
    """A reload of the page that answered the form (or a second click) sent it again and made a
    second link, which worked too: the same form shows the link it made. A form from a new page,
    or this one changed, makes another."""
    page = admin.get("/admin/demo-links").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "form_id": form_id_of(page), "agent": "sales", "label": "Acme",
            "variables": "", "expires": "7d", "max_calls": "", "lang": ""}  # fmt: skip
    first, again = (admin.post("/admin/demo-links", data=form) for _ in range(2))
    assert first.status_code == again.status_code == 200
    assert made_link(again.get_data(as_text=True)) == made_link(first.get_data(as_text=True))
    assert [link.label for link in app_state_of(app).history.demo_links()] == ["Acme"]
    edited = admin.post("/admin/demo-links", data={**form, "label": "Acme 2"})
    changed = made_link(edited.get_data(as_text=True))
    fresh = made_link(make(admin, label="Acme").get_data(as_text=True))
    assert len({made_link(first.get_data(as_text=True)), changed, fresh}) == 3
    assert form_id_of(first.get_data(as_text=True)) != form["form_id"]  # the next form is another


def test_an_older_link_opened_lately_is_listed_among_the_latest(app: Flask, admin: FlaskClient) -> None:
    """The list is the latest made, opened or tried: with more links made since (a CRM makes one
    per lead), an older one the prospect has just opened was left out of it."""
    urls = [made_link(make(admin, label=f"Lead {n}").get_data(as_text=True)) for n in range(3)]
    oldest = urlsplit(urls[0])
    assert app.test_client().get(f"{oldest.path}?{oldest.query}", headers=BROWSER).status_code == 200
    history = app_state_of(app).history
    listed = [link.label for link in history.demo_links(limit=2)]
    assert listed == ["Lead 0", "Lead 2"], listed
    assert [link.label for link in history.demo_links(limit=2, q="lead 0")] == ["Lead 0"]
    names = [name for _, name, _ in rows_of(admin.get("/admin/demo-links").get_data(as_text=True))]
    assert names[:3] == ["Lead 0", "Lead 2", "Lead 1"], names


def test_a_links_calls_say_what_the_link_is_now(app: Flask, admin: FlaskClient) -> None:
    """Above one link's calls: its label (before any call), until when it works, whether the
    prospect opened it, and why it no longer works."""
    last_day = datetime.now(UTC).date() + timedelta(days=30)
    until = f"{last_day + timedelta(days=1)} 00:00:00 UTC"  # it works through its last day
    url = made_link(
        make(admin, label="Initech", max_calls="1", expires=last_day.isoformat()).get_data(as_text=True)
    )
    token = parse_qs(urlsplit(url).query)["t"][0]
    link_id = verify_demo_link(SECRET_KEY, token).link_id

    def bar() -> str:
        page = admin.get(f"/admin?demo_link={link_id}").get_data(as_text=True)
        found = re.search(r'<section class="link-bar".*?</section>', page, re.S)
        assert found is not None
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(0))).strip()

    assert bar().startswith(
        f"Demo link “Initech” {link_id} Works until {until}. 0 of its 1 call placed. Not opened yet."
    )
    prospect = app.test_client()
    assert prospect.get(urlsplit(url).path + "?" + urlsplit(url).query, headers=BROWSER).status_code == 200
    opened = rf"Works until {until}\. 0 of its 1 call placed\. Opened 1 time, last 20\d\d-.* UTC\."
    assert re.search(rf"{opened} Let it work for from now: .*\) Extend More calls Allow Revoke", bar())
    assert prospect.post("/api/calls", json={"agent": "sales", "demo_token": token}).status_code == 201
    assert re.search(r"Used up: its 1 call was placed, and its page is refused\. Opened 1 time", bar())
    assert "Revoke the link" not in bar()
    gone = LinkMade("dl_expiredLink00001", "sales", "Globex", datetime.now(UTC) - timedelta(days=1), None,
                    datetime.now(UTC) - timedelta(days=8), "cli")  # fmt: skip
    app_state_of(app).history.record_demo_link(gone)
    page = admin.get("/admin?demo_link=dl_expiredLink00001").get_data(as_text=True)
    assert "Demo link “Globex”" in page and "Expired 20" in page and "Not opened yet." in page
    assert "Revoke the link" not in page and "Let it work again" not in page


def test_a_links_bar_extends_it(app: Flask, admin: FlaskClient) -> None:
    """Above a link's calls: Extend, for a link made here; the prospect's link works again."""
    url = made_link(make(admin, label="Umbrella", expires="1s").get_data(as_text=True))
    token = parse_qs(urlsplit(url).query)["t"][0]
    link_id = verify_demo_link(SECRET_KEY, token).link_id
    time.sleep(1.1)
    listing = admin.get("/admin/demo-links").get_data(as_text=True)  # from the table: to the bar
    assert (
        f'href="/admin?demo_link={link_id}#link-bar-title" aria-label="Extend: Umbrella">Extend</a>'
        in listing
    )
    page = admin.get(f"/admin?demo_link={link_id}").get_data(as_text=True)
    assert "Expired 20" in page and f'action="/admin/demo-links/{link_id}/extend"' in page
    form = {"csrf_token": csrf_of(page), "expires": "2w"}
    done = admin.post(f"/admin/demo-links/{link_id}/extend", data=form)
    assert done.status_code == 303 and done.headers["Location"] == f"/admin?demo_link={link_id}"
    known = app_state_of(app).history.demo_link(link_id)
    assert known is not None and known.made is not None
    until = known.made.expires_at
    assert abs((until - datetime.now(UTC)) - timedelta(weeks=2)) < timedelta(minutes=1)
    assert f"Works until {until:%Y-%m-%d %H:%M:%S} UTC." in admin.get(f"/admin?demo_link={link_id}").get_data(
        as_text=True
    )
    prospect = app.test_client()
    assert prospect.post("/api/calls", json={"agent": "sales", "demo_token": token}).status_code == 201

    refusals = {
        "forged": ({"csrf_token": "forged", "expires": "4w"}, 400, "Form expired"),
        "sooner": (
            {**form, "expires": "1d"},
            400,
            "The link works until then already; revoke it to end it sooner.",
        ),
        "nonsense": (
            {**form, "expires": "soon"},
            400,
            "Use a duration (30m, 12h, 7d, 2w) or a date (2026-12-31).",
        ),
        "empty": ({**form, "expires": ""}, 400, "Use a duration (30m, 12h, 7d, 2w) or a date (2026-12-31)."),
        "long": (
            {**form, "expires": "7" * 100},
            400,
            "Expires must be a duration (30m, 12h, 7d, 2w) or a date",
        ),
    }
    for name, (sent, status, words) in refusals.items():
        refused = admin.post(f"/admin/demo-links/{link_id}/extend", data=sent)
        assert refused.status_code == status and words in html.unescape(refused.get_data(as_text=True)), name
    elsewhere = sign_demo_link(SECRET_KEY, "sales", {}, int(time.time()) + 600, label="By hand")
    assert prospect.post("/api/calls", json={"agent": "sales", "demo_token": elsewhere}).status_code == 201
    other_id = verify_demo_link(SECRET_KEY, elsewhere).link_id
    page = admin.get(f"/admin?demo_link={other_id}").get_data(as_text=True)
    assert "/extend" not in page  # made elsewhere: no expiry here to move
    refused = admin.post(f"/admin/demo-links/{other_id}/extend", data=form)
    assert refused.status_code == 404 and "only those can be extended" in refused.get_data(as_text=True)
    assert admin.post("/admin/demo-links/wc_0123/extend", data=form).status_code == 404


def test_a_used_up_links_bar_allows_it_more_calls(app: Flask, admin: FlaskClient) -> None:
    url = made_link(make(admin, label="Hooli", max_calls="1").get_data(as_text=True))
    token = parse_qs(urlsplit(url).query)["t"][0]
    link_id = verify_demo_link(SECRET_KEY, token).link_id
    prospect = app.test_client()

    def call() -> int:
        return prospect.post("/api/calls", json={"agent": "sales", "demo_token": token}).status_code

    assert call() == 201 and call() == 410
    page = admin.get(f"/admin?demo_link={link_id}").get_data(as_text=True)
    assert "Used up: its 1 call was placed" in page and 'name="more_calls"' in page and 'max="9999"' in page
    form = {"csrf_token": csrf_of(page), "more_calls": "2"}
    done = admin.post(f"/admin/demo-links/{link_id}/extend", data=form)
    assert done.status_code == 303 and done.headers["Location"] == f"/admin?demo_link={link_id}"
    page = admin.get(f"/admin?demo_link={link_id}").get_data(as_text=True)
    assert re.search(r"Works until 20[^.]*\. 1 of its 3 calls placed\.", page) and "Used up" not in page
    assert [call(), call(), call()] == [201, 201, 410]  # two more: three in all
    for more, words in (("0", "More calls: a whole number from 1 to 10,000."), ("ten", "More calls: a whole"),
                        ("9999", "More calls: a link may place 10,000 calls at most.")):  # fmt: skip
        refused = admin.post(f"/admin/demo-links/{link_id}/extend", data={**form, "more_calls": more})
        assert refused.status_code == 400 and words in html.unescape(refused.get_data(as_text=True)), more
    uncapped = made_link(make(admin, label="Pied Piper").get_data(as_text=True))
    uncapped_id = verify_demo_link(SECRET_KEY, parse_qs(urlsplit(uncapped).query)["t"][0]).link_id
    page = admin.get(f"/admin?demo_link={uncapped_id}").get_data(as_text=True)
    assert 'name="expires"' in page and 'name="more_calls"' not in page  # any number already
    refused = admin.post(f"/admin/demo-links/{uncapped_id}/extend", data=form)
    assert refused.status_code == 400 and "as many calls already" in refused.get_data(as_text=True)


def test_a_link_is_found_by_its_label_or_its_id(app: Flask, admin: FlaskClient) -> None:
    """Past a few dozen links, the one for Acme is found by typing Acme: in any case, made here or
    only used, a % or _ in the search meaning themselves."""
    for label in ("Acme pilot", "ACME renewal", "Globex", "100% Initech", "Hooli_2"):
        make(admin, label=label)
    used = sign_demo_link(SECRET_KEY, "sales", {}, int(time.time()) + 600, label="Acme (used only)")
    assert (
        app.test_client().post("/api/calls", json={"agent": "sales", "demo_token": used}).status_code == 201
    )

    def found(q: str) -> list[str]:
        page = admin.get("/admin/demo-links", query_string={"q": q}).get_data(as_text=True)
        return [html.unescape(name) for _, name, _ in rows_of(page)]

    assert found("acme") == ["Acme (used only)", "ACME renewal", "Acme pilot"]
    assert found("  Globex ") == ["Globex"]
    assert found("%") == ["100% Initech"] and found("_") == ["Hooli_2"]
    link_id = verify_demo_link(SECRET_KEY, used).link_id
    assert found(link_id) == ["Acme (used only)"] and found(link_id[:-1]) == []
    assert len(found("")) == 6
    page = admin.get("/admin/demo-links?q=Umbrella").get_data(as_text=True)
    assert "No link's label holds “Umbrella”" in page and 'value="Umbrella"' in page
    assert 'href="/admin/demo-links">Show every link</a>' in page
    assert 'aria-label="Find a link"' in admin.get("/admin/demo-links").get_data(as_text=True)


def test_every_language_of_the_page_is_offered_by_name(admin: FlaskClient) -> None:
    assert set(LANGUAGE_NAMES) == set(LANGUAGES)
    page = admin.get("/admin/demo-links").get_data(as_text=True)
    assert (
        '<option value="pt">Portuguese (Brazil)</option>' in page
        and '<option value="">The agent\'s</option>' in page
    )


def test_a_call_log_that_cannot_be_read_still_makes_links(app: Flask, admin: FlaskClient) -> None:
    """Making a link needs no call log; the table of links used says it cannot be listed."""
    token = sign_demo_link(SECRET_KEY, "sales", {}, int(time.time()) + 600)
    placed = app.test_client().post("/api/calls", json={"agent": "sales", "demo_token": token})
    assert placed.status_code == 201
    with app_state_of(app).history.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE revoked_demo_links"))
    answer = make(admin, label="Acme")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert made_link(page) and "The call log cannot be read right now" in page
