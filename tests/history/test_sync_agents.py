"""The history sync of a provider with more than one agent, each listed on its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from tests.fakes import Fault
from tests.fakes import retell as retell_fake
from tests.history.test_sync import log_of, sync
from tests.support.apps import post

# The first agent's id sorts first: it is listed first.
CATALOGUE = """
[agents.lobby]
provider = "retell"
agent_id = "agent_0_deleted_at_retell"

[agents.frontdesk]
provider = "retell"
agent_id = "{retell}"
"""
MakeApp = Callable[..., Flask]


def test_an_agent_the_provider_refuses_to_list_leaves_the_others_listed(
    make_app: MakeApp, retell: Any
) -> None:
    """An agent deleted (or renamed) at the provider: its listing is refused (404), and that
    stopped the listing of every agent after it, on every run."""
    app = make_app()
    state = retell[1]
    placed = post(app, {"agent": "frontdesk"}).get_json()["call_id"]
    retell_fake.end_call(state, placed, transcript=[("agent", "Hello!")])
    state.faults = [Fault("status", status=404)]  # the first list request: the deleted agent's
    report = sync(app, "retell")["retell"]
    assert report.errors == ["provider_error while listing agent agent_0_deleted_at_retell"], report.errors
    assert report.listed == 1 and [r.provider_call_id for r in log_of(app)] == [placed]
    assert log_of(app)[0].status == "completed"


def test_a_refused_key_still_stops_every_listing(make_app: MakeApp, retell: Any) -> None:
    app = make_app()
    state = retell[1]
    placed = post(app, {"agent": "frontdesk"}).get_json()["call_id"]
    retell_fake.end_call(state, placed)
    state.faults = [Fault("status", status=401)]
    report = sync(app, "retell")["retell"]
    assert report.errors == ["provider_auth_failed while listing agent agent_0_deleted_at_retell"]
    assert report.listed == 0
