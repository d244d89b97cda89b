"""WEBCALL_TRUSTED_PROXIES as the proxies' addresses: forwarded headers believed from them alone.

With a number of proxies, X-Forwarded-For is believed from whoever connects (the README asks
that only the proxy can reach the app); with their addresses, a visitor who reaches the app
directly cannot name themselves someone else and get a fresh allowance of the limits.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.apps import build_app, codes
from webapp.errors import ConfigError
from webapp.settings import Settings

CATALOGUE = """
[agents.plain]
provider = "livekit"
agent_id = "webcall-demo"
"""
PROXIES = "10.0.0.2, 10.1.0.0/16"
PROXY_ID = "0123456789abcdef0123456789abcdef"
ENV = {
    "WEBCALL_PROVIDER": "livekit",
    "WEBCALL_AGENT_ID": "webcall-demo",
    "LIVEKIT_URL": "ws://127.0.0.1:7880",
    "LIVEKIT_API_KEY": "devkey-for-tests",
    "LIVEKIT_API_SECRET": "s" * 40,
}


def calls(tmp_path: Path, peer: str, forwarded: list[str], **headers: str) -> list[int | str]:
    """Three calls from ``peer``, each naming another visitor (``forwarded[i]``), 2/minute each."""
    app = build_app(tmp_path, CATALOGUE, WEBCALL_TRUSTED_PROXIES=PROXIES, WEBCALL_RATE_LIMITS="2/minute")
    client = app.test_client()
    answers = [
        client.post(
            "/api/calls",
            json={"agent": "plain"},
            headers={"X-Forwarded-For": address, **headers},
            environ_base={"REMOTE_ADDR": peer},
        )
        for address in forwarded
    ]
    return codes(answers)


def test_a_proxy_at_a_trusted_address_names_each_visitor(tmp_path: Path) -> None:
    visitors = ["203.0.113.5", "203.0.113.6", "203.0.113.5"]
    assert calls(tmp_path, "10.0.0.2", visitors) == [201, 201, 201]


def test_a_chain_of_trusted_proxies_is_walked_back_to_the_visitor(tmp_path: Path) -> None:
    """An edge proxy (10.1.x) in front of ours (10.0.0.2): the visitor is left of them both,
    whatever the visitor wrote further left."""
    chain = ["203.0.113.9, 198.51.100.1, 10.1.4.4", "203.0.113.8, 198.51.100.1, 10.1.4.4:443"]
    assert calls(tmp_path, "10.0.0.2", [*chain, chain[0]]) == [201, 201, "rate_limited"]


def test_anyone_else_is_the_address_that_connects(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Before, with a number of proxies, these three were three visitors: 201, 201, 201."""
    visitors = ["203.0.113.5", "203.0.113.6", "203.0.113.7"]
    with caplog.at_level(logging.WARNING, logger="webapp.guards"):
        assert calls(tmp_path, "192.0.2.10", visitors) == [201, 201, "rate_limited"]
    said = [r.getMessage() for r in caplog.records if "not in WEBCALL_TRUSTED_PROXIES" in r.getMessage()]
    assert len(said) == 1, said  # once per process


def test_only_a_trusted_proxys_scheme_host_and_request_id_count(tmp_path: Path) -> None:
    app = build_app(tmp_path, CATALOGUE, WEBCALL_TRUSTED_PROXIES=PROXIES)
    client = app.test_client()
    headers = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "calls.example.com",
        "X-Request-ID": PROXY_ID,
    }
    body = {"json": {"agent": "plain"}, "headers": {**headers, "Origin": "https://calls.example.com"}}
    proxied = client.post("/api/calls", **body, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert proxied.status_code == 201 and proxied.headers["X-Request-ID"] == PROXY_ID
    assert proxied.headers["Strict-Transport-Security"].startswith("max-age=")
    direct = client.post("/api/calls", **body, environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert codes([direct]) == ["origin_not_allowed"]  # https://calls.example.com is not where it came
    assert direct.headers["X-Request-ID"] != PROXY_ID and "Strict-Transport-Security" not in direct.headers


@pytest.mark.parametrize(
    ("value", "read"),
    [("1", 1), ("0", 0), ("127.0.0.1", ("127.0.0.1/32",)), (" 10.0.0.1/8 ,::1 ", ("10.0.0.0/8", "::1/128"))],
)
def test_the_setting_is_a_number_or_addresses(value: str, read: object) -> None:
    trusted = Settings.from_mapping({**ENV, "WEBCALL_TRUSTED_PROXIES": value}).trusted_proxies
    assert (trusted if isinstance(trusted, int) else tuple(str(network) for network in trusted)) == read


@pytest.mark.parametrize("value", ["proxy.example.com", "-1", "10.0.0.300", "1, 2"])
def test_anything_else_stops_the_app_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError, match="WEBCALL_TRUSTED_PROXIES: must be the number of proxies"):
        Settings.from_mapping({**ENV, "WEBCALL_TRUSTED_PROXIES": value})
