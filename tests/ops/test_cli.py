"""The operator's commands: ``check``, ``agents``, ``token``, ``embed-snippet``, ``history sync``'s
arguments, ``history prune`` (``demo-link`` is in tests/pages; the sync itself in tests/history)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.support.apps import OfflineLiveKit, app_state_of, build_app
from webapp.history.store import CallAttempt

CATALOGUE = """
[agents.ravan]
provider = "ravan"
agent_id = "{ravan}"

[agents.zudu]
provider = "zudu"
agent_id = "{zudu}"

[agents.convoi]
provider = "convoi"
agent_id = "{convoi}"
title = "Sales"

[agents.retell]
provider = "retell"
agent_id = "{retell}"

[agents.elevenlabs]
provider = "elevenlabs"
agent_id = "{elevenlabs}"
"""
LIVEKIT_AGENT = """
[agents.ravan]
provider = "ravan"
agent_id = "r-1"

[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
max_call_s = 120
"""


def test_check_reaches_every_provider_with_our_keys(
    make_app: Any, ravan: Any, zudu: Any, convoi: Any, retell: Any, elevenlabs: Any, caplog: Any
) -> None:
    result = make_app().test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 0, result.output
    # Zudu's probe asks for a call that does not exist: its 404 is the answer, not an error.
    assert "zudu refused the request with 404" in caplog.text
    refusals = [r for r in caplog.records if "refused the request" in r.getMessage()]
    assert refusals and all(r.levelno == logging.INFO for r in refusals)
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert set(rows) == {"ravan", "zudu", "convoi", "retell", "elevenlabs", "livekit"}  # every one configured
    assert all(" ok " in row for name, row in rows.items() if name != "livekit")
    # LiveKit's credentials are set but no agent uses it (and nothing listens there): shown, not fatal.
    assert "FAILED" in rows["livekit"] and "(no agent)" in rows["livekit"]
    # Retell's harmless read is its call list (a POST that creates nothing); ElevenLabs' a GET.
    assert [(r.method, r.path) for r in retell[1].requests] == [("POST", "/v2/list-calls")]
    assert [(r.method, r.path) for r in elevenlabs[1].requests] == [("GET", "/v1/convai/conversations")]
    assert retell[1].calls == {} and elevenlabs[1].calls == {}
    # Each one was a harmless read that carried our credentials: no call was placed.
    assert [r.method for r in ravan[1].requests] == ["GET"] and [r.method for r in convoi[1].requests] == [
        "GET"
    ]
    assert [r.method for r in zudu[1].requests] == ["GET"]


def test_check_names_the_provider_that_refuses_our_key(make_app: Any, convoi: Any) -> None:
    convoi[1].api_key = "sk_live_someone_else"
    result = make_app().test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 1
    convoi_row = next(line for line in result.output.splitlines() if line.startswith("convoi"))
    assert "FAILED" in convoi_row and "provider_auth_failed" in convoi_row
    # What to do about it, not the caller's "please try again".
    assert convoi_row.endswith("provider_auth_failed: our credentials were refused: check CONVOI_API_KEY")
    assert "sk_live" not in result.output
    livekit_row = next(line for line in result.output.splitlines() if line.startswith("livekit"))
    unreachable = "could not be reached, or answered a server error: check the address and the network"
    assert livekit_row.endswith(f"provider_unavailable: 127.0.0.1:9 {unreachable}"), livekit_row


def test_agents_lists_the_catalogue(make_app: Any) -> None:
    result = make_app().test_cli_runner().invoke(args=["agents"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["slug", "provider"]
    assert {line.split()[0] for line in lines[1:]} == {"ravan", "zudu", "convoi", "retell", "elevenlabs"}
    assert any("Sales" in line for line in lines)


def test_a_since_outside_the_years_utc_can_hold_is_a_bad_parameter(make_app: Any, ravan: Any) -> None:
    """Year 1 at +05:00 is 5 hours before year 1 in UTC: that was an OverflowError's traceback."""
    runner = make_app().test_cli_runner()
    for since in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        result = runner.invoke(args=["history", "sync", "--provider", "ravan", "--since", since])
        assert result.exit_code == 2, result.output
        assert "Invalid value for --since" in result.output and since in result.output
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert ravan[1].requests == []  # refused before anything was asked of the provider


def test_token_mints_a_test_token_for_a_livekit_agent(tmp_path: Path) -> None:
    app = build_app(tmp_path, LIVEKIT_AGENT, RAVAN_API_KEY="rvn-test-key")
    result = app.test_cli_runner().invoke(args=["token", "local", "--name", "Ops"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    claims = jwt.decode(answer["token"], OfflineLiveKit.api_secret, algorithms=["HS256"])
    assert (claims["video"]["room"], claims["sub"], claims["name"]) == (
        answer["room"],
        answer["identity"],
        "Ops",
    )
    assert answer["url"] == OfflineLiveKit.url
    refused = app.test_cli_runner().invoke(args=["token", "ravan"])
    assert refused.exit_code != 0 and "livekit" in refused.output


EMBEDDED = """
[agents.sales]
provider = "livekit"
agent_id = "webcall-demo"
title = 'Sales "East"'
allowed_origins = ["https://www.example.com"]

[agents.vision]
provider = "livekit"
agent_id = "webcall-demo"
camera = "optional"
screen_share = true

[agents.chat]
provider = "livekit"
agent_id = "webcall-demo"
text_only = "only"
"""


def test_embed_snippet_allows_the_camera_and_screen_only_to_agents_that_use_them(tmp_path: Path) -> None:
    runner = build_app(tmp_path, EMBEDDED).test_cli_runner()
    sales = runner.invoke(args=["embed-snippet", "sales", "--base-url", "https://calls.example.com/"])
    assert sales.exit_code == 0, sales.output
    assert sales.stdout.splitlines() == [
        '<script src="https://calls.example.com/embed.js" data-agent="sales" async></script>',
        '<iframe src="https://calls.example.com/embed/sales" allow="microphone; autoplay" '
        'title="Sales &#34;East&#34;" style="width:100%;height:640px;border:0"></iframe>',
    ]
    vision = runner.invoke(args=["embed-snippet", "vision"])
    assert 'src="http://127.0.0.1:8000/embed/vision"' in vision.stdout
    assert 'allow="microphone; camera; display-capture; autoplay"' in vision.stdout
    assert "no allowed_origins" in vision.stderr  # no other site may embed it yet
    assert 'allow="autoplay"' in runner.invoke(args=["embed-snippet", "chat"]).stdout  # no microphone
    unknown = runner.invoke(args=["embed-snippet", "nobody"])
    assert unknown.exit_code == 2 and "known: chat, sales, vision" in unknown.output


def test_embed_snippet_in_another_language(tmp_path: Path) -> None:
    runner = build_app(tmp_path, EMBEDDED).test_cli_runner()
    french = runner.invoke(
        args=["embed-snippet", "sales", "--base-url", "https://calls.example.com", "--lang", "fr"]
    )
    assert french.exit_code == 0, french.output
    script, iframe = french.stdout.splitlines()
    base = "https://calls.example.com"
    assert script == f'<script src="{base}/embed.js" data-agent="sales" data-lang="fr" async></script>'
    assert iframe.startswith('<iframe src="https://calls.example.com/embed/sales?lang=fr" ')
    unknown = runner.invoke(args=["embed-snippet", "sales", "--lang", "xx"])
    assert unknown.exit_code == 2 and "'xx' is not one of" in unknown.output


@pytest.mark.parametrize("command", [["embed-snippet", "sales"], ["demo-link", "sales"]])
@pytest.mark.parametrize("base_url", ["notaurl", "calls.example.com", "https://calls.example.com/webcall"])
def test_a_base_url_that_is_no_origin_is_refused(tmp_path: Path, command: list[str], base_url: str) -> None:
    """``notaurl`` printed snippets and links to nowhere (the link recorded as made), exit 0."""
    app = build_app(tmp_path, EMBEDDED, WEBCALL_SECRET_KEY="k" * 40)
    refused = app.test_cli_runner().invoke(args=[*command, "--base-url", base_url])
    assert refused.exit_code == 2 and "--base-url" in refused.output and "public origin" in refused.output
    assert base_url not in refused.stdout.replace(f"'{base_url}'", "")


def test_history_prune_deletes_what_is_older_than_asked(tmp_path: Path) -> None:
    app = build_app(tmp_path, LIVEKIT_AGENT, RAVAN_API_KEY="rvn-test-key")
    history = app_state_of(app).history
    old = CallAttempt(agent="local", provider="livekit", received_at=datetime.now(UTC) - timedelta(days=40))
    placed = history.record_created(old, "r", None)
    history.record_failed(old, "rate_limited")
    recent = history.record_failed(replace(old, received_at=datetime.now(UTC)), "rate_limited")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["history", "prune", "--older-than", "30", "--refusals-only"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 refused requests created before ")
    assert history.find(placed) is not None and history.find(recent) is not None
    result = runner.invoke(args=["history", "prune", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 records created before ")
    assert history.find(placed) is None and history.find(recent) is not None
    for days in ("0", "1000000"):  # the second overflowed a date, with a traceback
        refused = runner.invoke(args=["history", "prune", "--older-than", days])
        assert refused.exit_code == 2 and "--older-than" in refused.output, refused.output
    assert runner.invoke(args=["history", "prune"]).exit_code == 2  # how old is for the operator to say
