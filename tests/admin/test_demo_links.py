"""Which sales-demo link a call came through: the call log keeps the link's id and label, the
admin API and view show them and filter by them, and the CSV carries them."""

from __future__ import annotations

import csv
import io
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from itsdangerous import URLSafeSerializer
from itsdangerous.encoding import base64_decode

from tests.admin.conftest import CATALOGUE, SECRET_KEY, TOKEN, csrf_of, sign_in  # noqa: F401  (make_app reads CATALOGUE)
from tests.support.apps import app_state_of
from webapp.errors import ExpiredDemoLink, RevokedDemoLink, UsedUpDemoLink
from webapp.history.store import CallRecord
from webapp.pages.demo_links import SALT, Starting, sign_demo_link, verify_demo_link

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(admin_app: Callable[..., Flask], call_log_url: str) -> Flask:
    """The admin app on SQLite, then PostgreSQL, with an empty call log."""
    return admin_app(WEBCALL_DATABASE_URL=call_log_url)


def link(
    agent: str = "sales", *, expires_in_s: int = 3600, label: str | None = None, **variables: str
) -> str:
    """A demo link's token, signed as the CLI signs it."""
    return sign_demo_link(SECRET_KEY, agent, variables, int(time.time()) + expires_in_s, label=label)


def place(app: Flask, agent: str = "sales", **fields: Any) -> Any:
    """A web call from the app's own page; its answer."""
    return app.test_client().post("/api/calls", json={"agent": agent, **fields})


def recorded(app: Flask, answer: Any) -> CallRecord:
    """The call log's record of a call the API placed."""
    assert answer.status_code == 201, answer.get_json()
    record = app_state_of(app).history.find(answer.get_json()["call_id"])
    assert record is not None
    return record


def last_refusal(app: Flask) -> dict[str, Any]:
    """The newest record, as the admin API lists it."""
    return dict(api(app, "/api/admin/calls?page_size=1").get_json()["calls"][0])


def api(app: Flask, path: str) -> Any:
    """GET an admin API path with the token."""
    return app.test_client().get(path, headers=AUTH)


def test_a_call_through_a_link_keeps_its_id_and_label(app: Flask) -> None:
    token = link(label="Acme pilot", company="Acme")
    first = recorded(app, place(app, demo_token=token))
    assert first.demo_link_id == verify_demo_link(SECRET_KEY, token).link_id
    assert first.demo_link_id.startswith("dl_") and first.demo_link_label == "Acme pilot"
    again = recorded(app, place(app, demo_token=token))  # the prospect calls again: the same link
    assert (again.demo_link_id, again.demo_link_label) == (first.demo_link_id, "Acme pilot")
    other = recorded(app, place(app, demo_token=link(label="Acme pilot", company="Acme")))
    assert other.demo_link_id != first.demo_link_id  # every link is its own, however alike
    plain = recorded(app, place(app))
    assert (plain.demo_link_id, plain.demo_link_label) == (None, None)
    detail = api(app, f"/api/admin/calls/{first.call_id}").get_json()
    assert (detail["demo_link_id"], detail["demo_link_label"]) == (first.demo_link_id, "Acme pilot")


def test_without_a_label_a_link_is_named_by_its_variables(app: Flask) -> None:
    named = recorded(app, place(app, demo_token=link(company="Acme", name="Jo")))
    assert named.demo_link_label == "company=Acme, name=Jo"
    bare = recorded(app, place(app, demo_token=link()))
    assert bare.demo_link_id is not None and bare.demo_link_label is None
    long = recorded(app, place(app, demo_token=link(note="x" * 500)))
    assert long.demo_link_label == ("note=" + "x" * 500)[:200]  # the column's length


def test_a_link_signed_before_links_had_ids_gets_one_from_its_token(app: Flask) -> None:
    old = URLSafeSerializer(SECRET_KEY, salt=SALT).dumps(
        {"a": "sales", "v": {"company": "Acme"}, "e": int(time.time()) + 3600}
    )
    first, second = (recorded(app, place(app, demo_token=old)) for _ in range(2))
    assert first.demo_link_id is not None and first.demo_link_id.startswith("dl_")
    assert (second.demo_link_id, second.demo_link_label) == (first.demo_link_id, "company=Acme")


def test_a_link_signed_before_links_had_ids_is_revoked_however_its_signature_is_written(app: Flask) -> None:
    """Its id came from the token as written, and its signature's base64 checks out written other
    ways (padded, another last character holding the same bytes): each was another link, one the
    revocation did not reach."""
    old = URLSafeSerializer(SECRET_KEY, salt=SALT).dumps(
        {"a": "sales", "v": {"company": "Acme"}, "e": int(time.time()) + 3600}
    )
    payload, signature = old.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same_bytes = [
        f"{payload}.{signature[:-1]}{last}"
        for last in alphabet
        if last != signature[-1] and base64_decode(signature[:-1] + last) == base64_decode(signature)
    ]
    spellings = [f"{old}=", *same_bytes]
    assert same_bytes and all(verify_demo_link(SECRET_KEY, token) for token in spellings)
    link_id = verify_demo_link(SECRET_KEY, old).link_id
    assert {verify_demo_link(SECRET_KEY, token).link_id for token in spellings} == {link_id}
    assert app.test_cli_runner().invoke(args=["revoke-demo-link", old]).exit_code == 0
    for token in [old, *spellings]:
        assert place(app, demo_token=token).status_code == 410
        assert app.test_client().get(f"/demo/sales?t={token}").status_code == 410


@pytest.mark.parametrize(("read_timeout_s", "window_s"), [("10", 60), ("120", 180), ("3600", 3660)])
def test_a_call_being_started_through_a_link_counts_until_its_provider_has_given_up(
    admin_app: Callable[..., Flask], read_timeout_s: str, window_s: int
) -> None:
    """A link's call being started was counted for a minute: one still waiting on a provider
    allowed longer (WEBCALL_READ_TIMEOUT_S goes up to an hour) was then no longer counted, and a
    second caller placed a call past the link's max_calls. It counts past the provider's deadline."""
    app = admin_app(WEBCALL_READ_TIMEOUT_S=read_timeout_s)  # and the connect's 3 s
    assert Starting.for_state(app_state_of(app), 2).get_expiry() == window_s


def test_an_expired_link_is_refused_and_recorded_as_its_own(app: Flask) -> None:
    """A prospect who tried the link too late: the refusal names the link (send them a new one)."""
    token = link(expires_in_s=-60, label="Acme pilot")
    answer = place(app, demo_token=token)
    assert answer.status_code == 410 and answer.get_json()["error"]["code"] == "demo_link_expired"
    refused = last_refusal(app)
    assert (refused["outcome"], refused["demo_link_id"], refused["demo_link_label"]) == (
        "demo_link_expired",
        verify_demo_link(SECRET_KEY, token).link_id,
        "Acme pilot",
    )


@pytest.mark.parametrize("token", ["forged", "another agent's"])
def test_a_link_that_is_not_valid_names_no_call(app: Flask, token: str) -> None:
    """A forged token's label is nobody's word, and a link to another agent is no link to this one."""
    if token == "forged":
        good = link(label="Acme pilot")
        token = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    else:
        token = link("support", label="Acme pilot")
    answer = place(app, demo_token=token)
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "invalid_demo_link"
    refused = last_refusal(app)
    assert (refused["outcome"], refused["demo_link_id"], refused["demo_link_label"]) == (
        "invalid_demo_link",
        None,
        None,
    )


def test_the_api_lists_and_adds_up_one_links_calls_or_every_links(app: Flask) -> None:
    acme, globex = link(label="Acme pilot"), link(label="Globex")
    acme_id = verify_demo_link(SECRET_KEY, acme).link_id
    ids = [recorded(app, place(app, demo_token=acme)).call_id for _ in range(2)]
    recorded(app, place(app, demo_token=globex))
    recorded(app, place(app))
    place(app, demo_token=link(expires_in_s=-1, label="Acme late"))  # refused, but through a link

    listed = api(app, f"/api/admin/calls?demo_link={acme_id}").get_json()
    assert [call["call_id"] for call in listed["calls"]] == ids[::-1] and listed["total"] == 2
    assert api(app, "/api/admin/calls?demo_link=any").get_json()["total"] == 4
    assert api(app, "/api/admin/calls").get_json()["total"] == 5
    summary = api(app, "/api/admin/summary?demo_link=any").get_json()
    assert (summary["calls"], summary["refused"]) == (3, 1)
    assert api(app, f"/api/admin/summary?demo_link={acme_id}").get_json()["calls"] == 2
    searched = api(app, "/api/admin/calls?q=globex").get_json()
    assert [call["demo_link_label"] for call in searched["calls"]] == ["Globex"]
    assert api(app, f"/api/admin/calls?q={acme_id}").get_json()["total"] == 2
    for bad in ("dl_short", "all", "dl_" + "a" * 17, "wc_0123456789abcdef"):
        refused = api(app, f"/api/admin/calls?demo_link={bad}")
        assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "invalid_query", bad
        assert "demo_link" in refused.get_json()["error"]["message"]


def test_the_view_shows_the_link_and_filters_by_it(app: Flask) -> None:
    acme = link(label="Acme <pilot>")
    acme_id = verify_demo_link(SECRET_KEY, acme).link_id
    call_id = recorded(app, place(app, demo_token=acme)).call_id
    recorded(app, place(app))
    client = app.test_client()
    sign_in(client)

    listing = client.get("/admin").get_data(as_text=True)
    assert f'<a class="calls__demo" href="/admin?demo_link={acme_id}"' in listing
    assert "Demo: Acme &lt;pilot&gt;</a>" in listing and "Acme <pilot>" not in listing
    assert '<option value="any">Through any demo link</option>' in listing

    one = client.get(f"/admin?demo_link={acme_id}").get_data(as_text=True)
    assert "Calls 1–1 of 1" in one and call_id in one
    assert f'<option value="{acme_id}" selected>Acme &lt;pilot&gt;</option>' in one
    every = client.get("/admin?demo_link=any").get_data(as_text=True)
    assert "Calls 1–1 of 1" in every and '<option value="any" selected>' in every

    bad = client.get("/admin?demo_link=nope")
    assert bad.status_code == 400
    assert '<a href="#f-demo_link">Demo link</a> is not valid' in bad.get_data(as_text=True)

    page = client.get(f"/admin/calls/{call_id}").get_data(as_text=True)
    assert "<dt>Demo link</dt>" in page and f"<code>{acme_id}</code>" in page
    assert f'<a href="/admin?demo_link={acme_id}">Acme &lt;pilot&gt;</a>' in page

    exported = client.get(f"/admin/calls.csv?demo_link={acme_id}").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["call_id"], r["demo_link_id"], r["demo_link_label"]) for r in rows] == [
        (call_id, acme_id, "Acme <pilot>")
    ]


def test_the_cli_signs_a_label_into_each_new_link(app: Flask) -> None:
    def made(*args: str) -> str:
        result = app.test_cli_runner().invoke(args=["demo-link", "sales", *args])
        assert result.exit_code == 0, result.output
        return str(result.output.strip().split("?t=", 1)[1])

    first, second = made("--label", "  Acme pilot  "), made("--label", "Acme pilot")
    links = [verify_demo_link(SECRET_KEY, token) for token in (first, second)]
    assert [one.label for one in links] == ["Acme pilot", "Acme pilot"]
    assert links[0].link_id != links[1].link_id
    assert recorded(app, place(app, demo_token=first)).demo_link_label == "Acme pilot"
    assert verify_demo_link(SECRET_KEY, made("--var", "company=Acme")).label is None
    for bad in ("x" * 101, "two\nlines", "tab\there"):
        refused = app.test_cli_runner().invoke(args=["demo-link", "sales", "--label", bad])
        assert refused.exit_code == 2 and "--label" in refused.output, bad
    long = app.test_cli_runner().invoke(
        args=["demo-link", "sales", "--var", "notes=" + secrets.token_urlsafe(2000)]
    )
    assert long.exit_code == 2 and "--var" in long.output and "past 2,000" in long.output


def test_a_revoked_link_refuses_its_page_and_its_calls_until_restored(app: Flask) -> None:
    token, other = link(label="Acme pilot", company="Acme"), link(label="Globex")
    link_id = verify_demo_link(SECRET_KEY, token).link_id
    client, cli = app.test_client(), app.test_cli_runner()
    assert client.get(f"/demo/sales?t={token}").status_code == 200
    recorded(app, place(app, demo_token=token))

    revoked = cli.invoke(args=["revoke-demo-link", f"https://calls.example.com/demo/sales?t={token}&lang=de"])
    assert revoked.exit_code == 0, revoked.output
    assert revoked.output.startswith(f"{link_id} (Acme pilot) revoked at ")
    page = client.get(f"/demo/sales?t={token}")
    assert page.status_code == 410 and "This demo link is no longer active." in page.get_data(as_text=True)
    assert 'id="talk"' not in page.get_data(as_text=True)
    refused = place(app, demo_token=token)
    assert refused.status_code == 410
    assert (
        refused.get_json()["error"].items()
        >= {"code": "demo_link_expired", "message": RevokedDemoLink.message}.items()
    )
    german = client.get(f"/demo/sales?t={token}&lang=de").get_data(as_text=True)
    assert "Dieser Demo-Link ist nicht mehr aktiv." in german and ExpiredDemoLink.message not in german
    logged = last_refusal(app)
    assert (logged["outcome"], logged["demo_link_id"]) == ("demo_link_expired", link_id)
    recorded(app, place(app, demo_token=other))  # other links work on
    again = cli.invoke(args=["revoke-demo-link", link_id])  # by its id: revoked already, since then
    assert again.exit_code == 0 and again.output.split(" revoked at ")[1] == revoked.output.split(" at ")[1]

    restored = cli.invoke(args=["revoke-demo-link", "--restore", token])
    assert (
        restored.exit_code == 0
        and restored.output == f"{link_id} (Acme pilot) works again, until it expires\n"
    )
    assert client.get(f"/demo/sales?t={token}").status_code == 200
    recorded(app, place(app, demo_token=token))
    twice = cli.invoke(args=["revoke-demo-link", "--restore", link_id])
    assert twice.exit_code == 0 and twice.output == f"{link_id} was not revoked\n"
    for bad in (
        "dl_short",
        "https://calls.example.com/demo/sales?t=forged",
        sign_demo_link("x" * 40, "sales", {}, 0),
    ):
        refused_cli = cli.invoke(args=["revoke-demo-link", bad])
        assert refused_cli.exit_code == 2 and "LINK" in refused_cli.output, bad


def test_the_cli_lets_a_link_made_here_work_longer(app: Flask) -> None:
    cli = app.test_cli_runner()
    made = cli.invoke(args=["demo-link", "sales", "--label", "Acme pilot", "--expires", "1s"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().split("?t=")[1]
    link_id = verify_demo_link(SECRET_KEY, token).link_id
    time.sleep(1.1)
    assert place(app, demo_token=token).status_code == 410
    day = (datetime.now(UTC) + timedelta(days=30)).date()
    extended = cli.invoke(args=["extend-demo-link", made.stdout.strip(), "--expires", day.isoformat()])
    assert extended.exit_code == 0, extended.output
    assert extended.output == f"{link_id} (Acme pilot) works until {day + timedelta(days=1)} 00:00:00 UTC\n"
    recorded(app, place(app, demo_token=token))
    sooner = cli.invoke(args=["extend-demo-link", link_id, "--expires", "7d"])
    assert (
        sooner.exit_code == 2
        and "--expires" in sooner.output
        and "revoke it to end it sooner" in sooner.output
    )
    elsewhere = link(label="By hand")
    recorded(app, place(app, demo_token=elsewhere))
    unknown = cli.invoke(args=["extend-demo-link", elsewhere, "--expires", "7d"])
    assert unknown.exit_code == 2 and "no demo link with this id was made here" in unknown.output
    for bad in ("soon", "2001-01-01", "", "7" * 100):
        refused = cli.invoke(args=["extend-demo-link", link_id, "--expires", bad])
        assert (
            refused.exit_code == 2 and "--expires" in refused.output and "Traceback" not in refused.output
        ), bad
    assert cli.invoke(args=["extend-demo-link", "dl_short", "--expires", "7d"]).exit_code == 2
    nothing = cli.invoke(args=["extend-demo-link", link_id])
    assert nothing.exit_code == 2 and "give --expires, --max-calls or both" in nothing.output

    once = cli.invoke(args=["demo-link", "sales", "--max-calls", "1", "--expires", "2d"])
    token = once.stdout.strip().split("?t=")[1]
    once_id = verify_demo_link(SECRET_KEY, token).link_id
    recorded(app, place(app, demo_token=token))
    assert place(app, demo_token=token).status_code == 410  # used up
    more = cli.invoke(args=["extend-demo-link", once_id, "--max-calls", "2"])
    assert (
        more.exit_code == 0
        and more.output.startswith(f"{once_id} works until 20")
        and ", for 2 calls\n" in more.output
    )
    recorded(app, place(app, demo_token=token))
    fewer = cli.invoke(args=["extend-demo-link", once_id, "--max-calls", "2"])
    assert fewer.exit_code == 2 and "--max-calls" in fewer.output and "as many calls already" in fewer.output
    assert cli.invoke(args=["extend-demo-link", once_id, "--max-calls", "0"]).exit_code == 2


def test_the_view_revokes_and_restores_a_link(app: Flask) -> None:
    token = link(label="Acme pilot")
    link_id = verify_demo_link(SECRET_KEY, token).link_id
    call_id = recorded(app, place(app, demo_token=token)).call_id
    client = app.test_client()
    assert client.post(f"/demo-links/{link_id}/revoke").status_code == 404  # under /admin only
    signed_out = client.post(f"/admin/demo-links/{link_id}/revoke")
    assert signed_out.status_code == 303 and signed_out.headers["Location"].startswith("/admin/login")
    sign_in(client)

    listing = client.get(f"/admin?demo_link={link_id}").get_data(as_text=True)
    assert (
        f"Demo link “Acme pilot” <code>{link_id}</code>" in listing and "Works until it expires." in listing
    )
    assert f'action="/admin/demo-links/{link_id}/revoke"' in listing
    assert "link-bar" not in client.get("/admin").get_data(as_text=True)  # only for one link's calls
    assert "link-bar" not in client.get("/admin?demo_link=any").get_data(as_text=True)

    forged = client.post(f"/admin/demo-links/{link_id}/revoke", data={"csrf_token": "forged"})
    assert forged.status_code == 400 and app_state_of(app).history.demo_link_revoked_at(link_id) is None
    form = {"csrf_token": csrf_of(listing)}
    done = client.post(f"/admin/demo-links/{link_id}/revoke", data=form)
    assert done.status_code == 303 and done.headers["Location"] == f"/admin?demo_link={link_id}"
    assert app_state_of(app).history.demo_link_revoked_at(link_id) is not None
    assert place(app, demo_token=token).status_code == 410
    listing = client.get(f"/admin?demo_link={link_id}").get_data(as_text=True)
    assert "Revoked 20" in listing and "its page and its calls are refused" in listing
    assert f'action="/admin/demo-links/{link_id}/restore"' in listing
    assert ", revoked 20" in client.get(f"/admin/calls/{call_id}").get_data(as_text=True)

    assert client.post(f"/admin/demo-links/{link_id}/restore", data=form).status_code == 303
    assert app_state_of(app).history.demo_link_revoked_at(link_id) is None
    assert place(app, demo_token=token).status_code == 201
    assert ", revoked" not in client.get(f"/admin/calls/{call_id}").get_data(as_text=True)
    assert client.post("/admin/demo-links/wc_0123/revoke", data=form).status_code == 404


def test_a_link_limited_to_its_calls_ends_after_them(app: Flask) -> None:
    expires_at = int(time.time()) + 3600
    token = sign_demo_link(SECRET_KEY, "sales", {}, expires_at, label="Acme", max_calls=2)
    assert verify_demo_link(SECRET_KEY, token).max_calls == 2
    client = app.test_client()
    key = {"Idempotency-Key": "0b7a4c2e-9d3f-4e1a-8c5b-6f2d1e0a9b8c"}
    first = client.post("/api/calls", json={"agent": "sales", "demo_token": token}, headers=key)
    assert first.status_code == 201
    recorded(app, place(app, demo_token=token))
    # The page's retry of the first call (its answer lost) is the same call, not a third.
    replayed = client.post("/api/calls", json={"agent": "sales", "demo_token": token}, headers=key)
    assert replayed.status_code == 201 and replayed.get_json()["call_id"] == first.get_json()["call_id"]
    third = place(app, demo_token=token)
    assert third.status_code == 410
    assert (
        third.get_json()["error"].items()
        >= {"code": "demo_link_expired", "message": UsedUpDemoLink.message}.items()
    )
    page = client.get(f"/demo/sales?t={token}")
    assert page.status_code == 410 and 'id="talk"' not in page.get_data(as_text=True)
    assert "This demo link has no calls left." in page.get_data(as_text=True)
    assert last_refusal(app)["demo_link_label"] == "Acme"  # the refused try is the link's, and counts not
    assert app_state_of(app).history.demo_link_calls(verify_demo_link(SECRET_KEY, token).link_id) == 2

    made = app.test_cli_runner().invoke(args=["demo-link", "sales", "--max-calls", "1"])
    assert made.exit_code == 0, made.output
    assert verify_demo_link(SECRET_KEY, made.output.strip().split("?t=")[1]).max_calls == 1
    for bad in ("0", "10001", "many"):
        refused = app.test_cli_runner().invoke(args=["demo-link", "sales", "--max-calls", bad])
        assert refused.exit_code == 2 and "--max-calls" in refused.output, bad
    unlimited = verify_demo_link(SECRET_KEY, link())
    assert unlimited.max_calls is None
