"""[agents.<slug>.phone]: off by default, and refused at start-up where it cannot work safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from webapp.errors import ConfigError
from webapp.settings import Settings

KEYS = {
    "RAVAN_API_KEY": "k", "ZUDU_API_KEY": "k", "ZUDU_API_SECRET": "s", "CONVOI_API_KEY": "sk_live_k",
    "UNLEASHX_API_TOKEN": "t", "LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "devkey",
    "LIVEKIT_API_SECRET": "s" * 32, "WEBCALL_TURNSTILE_SITE_KEY": "site",
    "WEBCALL_TURNSTILE_SECRET_KEY": "secret",
}  # fmt: skip


def load(tmp_path: Path, table: str, **env: str) -> Settings:
    """Settings from a one-agent catalogue."""
    path = tmp_path / "agents.toml"
    path.write_text(table)
    return Settings.from_mapping({"WEBCALL_AGENTS_FILE": str(path), **KEYS, **env})


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            '[agents.a]\nprovider = "zudu"\nagent_id = "z"\n[agents.a.phone]\nenabled = true\n'
            'allowed_countries = ["US"]\n',
            "Zudu documents no destination number",
        ),
        (
            '[agents.a]\nprovider = "livekit"\nagent_id = "x"\n[agents.a.phone]\nenabled = true\n'
            'allowed_countries = ["US"]\n',
            "no telephony",
        ),
        (
            '[agents.a]\nprovider = "ravan"\nagent_id = "r"\n[agents.a.phone]\nenabled = true\n'
            'from_number = "+14157774444"\n',
            "allowed_countries is required",
        ),
        (
            '[agents.a]\nprovider = "ravan"\nagent_id = "r"\n[agents.a.phone]\nenabled = true\n'
            'allowed_countries = ["US"]\n',
            "from_number",
        ),
        (
            '[agents.a]\nprovider = "ravan"\nagent_id = "r"\n[agents.a.phone]\nenabled = true\n'
            'allowed_countries = ["XX"]\nfrom_number = "+14157774444"\n',
            "'XX' is not an ISO 3166 country",
        ),
        (
            '[agents.a]\nprovider = "ravan"\nagent_id = "r"\n[agents.a.phone]\nenabled = true\n'
            'allowed_countries = ["US"]\nfrom_number = "4157774444"\n',
            "E.164",
        ),
        (
            '[agents.a]\nprovider = "convoi"\nagent_id = "agt_1"\n[agents.a.phone]\nenabled = true\n'
            'allowed_countries = ["US"]\n',
            "phone_number_id",
        ),
        ('[agents.a]\nprovider = "convoi"\nagent_id = "sqd_1"\n', "Convoi web calls need an agent id"),
        (
            '[agents.a]\nprovider = "unleashx"\nagent_id = "101"\n',
            "places phone calls only and has no web call",
        ),
        (
            '[agents.a]\nprovider = "unleashx"\nagent_id = "101"\nweb = true\n[agents.a.phone]\n'
            'enabled = true\nallowed_countries = ["US"]\n',
            "places phone calls only and has no web call: remove web = true",
        ),
        (
            '[agents.a]\nprovider = "ravan"\nagent_id = "r"\n[agents.a.phone]\nenabled = true\n'
            'allowed_countries = ["US"]\nfrom_number = "+14157774444"\ncooldown = 5\n',
            "unknown setting",
        ),
    ],
)
def test_phone_settings_that_cannot_work_are_refused(tmp_path: Path, table: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, table)
    assert problem in str(refused.value)


def test_phone_calls_need_the_bot_check_unless_the_operator_says_otherwise(tmp_path: Path) -> None:
    """Without Turnstile the app starts (its web calls are fine) and says at once that every
    phone call will be refused; ``bot_check = false`` is the operator's explicit choice."""
    table = ('[agents.a]\nprovider = "ravan"\nagent_id = "r"\n[agents.a.phone]\nenabled = true\n'
             'allowed_countries = ["US"]\nfrom_number = "+14157774444"\n')  # fmt: skip
    without_check = {"WEBCALL_TURNSTILE_SITE_KEY": "", "WEBCALL_TURNSTILE_SECRET_KEY": ""}
    warnings = load(tmp_path, table, **without_check).warnings()
    assert any("[agents.a.phone]: phone calls need the bot check" in w for w in warnings), warnings
    assert not load(tmp_path, table + "bot_check = false\n", **without_check).warnings()
    agent = load(tmp_path, table + "bot_check = false\n", **without_check).agents["a"]
    assert agent.takes_phone_calls and agent.takes_web_calls and agent.phone is not None
    assert (agent.phone.cooldown_s, agent.phone.daily_cap_per_number) == (600, 3)  # the defaults


def test_phone_only_agents_and_defaults(tmp_path: Path) -> None:
    unleashx = load(tmp_path, '[agents.a]\nprovider = "unleashx"\nagent_id = "101"\n[agents.a.phone]\n'
                              'enabled = true\nallowed_countries = ["us", "GB"]\n').agents["a"]  # fmt: skip
    assert not unleashx.takes_web_calls and unleashx.phone.allowed_countries == ("US", "GB")  # type: ignore[union-attr]
    plain = load(tmp_path, '[agents.a]\nprovider = "ravan"\nagent_id = "r"\n').agents["a"]
    assert plain.takes_web_calls and not plain.takes_phone_calls


def test_an_unleashx_agent_id_may_be_written_as_the_integer_it_is(tmp_path: Path) -> None:
    table = ('[agents.a]\nprovider = "unleashx"\nagent_id = 101\n[agents.a.phone]\nenabled = true\n'
             'allowed_countries = ["US"]\n')  # fmt: skip
    agent = load(tmp_path, table).agents["a"]
    assert agent.agent_id == "101" and agent.takes_phone_calls and not agent.takes_web_calls


def test_a_convoi_workforce_agent_with_phone_calls_is_phone_only_by_default(tmp_path: Path) -> None:
    table = ('[agents.a]\nprovider = "convoi"\nagent_id = "sqd_3fa85f6457174562b3fc2c963f66afa6"\n'
             '[agents.a.phone]\nenabled = true\nallowed_countries = ["US"]\n'
             'phone_number_id = "phn_c38155f043624745a66d2e28c185abcd"\n')  # fmt: skip
    agent = load(tmp_path, table).agents["a"]
    assert agent.takes_phone_calls and not agent.takes_web_calls
    with pytest.raises(ConfigError, match="Convoi web calls need an agent id starting with 'agt_'"):
        load(tmp_path, table.replace("[agents.a.phone]", "web = true\n[agents.a.phone]"))


@pytest.mark.parametrize(
    ("table", "agent_id", "web"),
    [
        (
            '[agents.a]\nprovider = "unleashx"\n[agents.a.phone]\nenabled = true\n'
            'allowed_countries = ["US"]\nagent_id = 101\n',
            "101",
            False,
        ),
        (
            '[agents.a]\nprovider = "convoi"\n[agents.a.phone]\nenabled = true\nallowed_countries = ["US"]\n'
            'phone_number_id = "phn_c38155f043624745a66d2e28c185abcd"\n'
            'agent_id = "sqd_3fa85f6457174562b3fc2c963f66afa6"\n',
            "sqd_3fa85f6457174562b3fc2c963f66afa6",
            False,
        ),
    ],
)
def test_a_phone_agent_may_name_its_providers_agent_in_the_phone_table_alone(
    tmp_path: Path, table: str, agent_id: str, web: bool
) -> None:
    """The issue lists the provider's agent id among what the phone table holds."""
    agent = load(tmp_path, table).agents["a"]
    assert (agent.agent_id, agent.takes_phone_calls, agent.takes_web_calls) == (agent_id, True, web)


def test_a_convoi_agent_id_valid_for_web_calls_is_valid_for_phone_calls(tmp_path: Path) -> None:
    """One rule for Convoi's ids: a '-' was a web agent's and refused once phone calls were on."""
    table = ('[agents.a]\nprovider = "convoi"\nagent_id = "agt_abc-def"\n[agents.a.phone]\n'
             'enabled = true\nallowed_countries = ["US"]\n'
             'phone_number_id = "phn_c38155f043624745a66d2e28c185abcd"\n')  # fmt: skip
    agent = load(tmp_path, table).agents["a"]
    assert agent.takes_phone_calls and agent.takes_web_calls
