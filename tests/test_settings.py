"""Settings: environment and .env, the agent catalogue, and one message naming every problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from tests.support.processes import ROOT
from webapp import create_app
from webapp.errors import ConfigError
from webapp.providers import registry
from webapp.settings import Settings

LIVEKIT = {"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "s" * 32}


def write(tmp_path: Path, text: str) -> str:
    """Write an agents file and return its path."""
    path = tmp_path / "agents.toml"
    path.write_text(text)
    return str(path)


def test_quick_start_defines_one_default_agent() -> None:
    settings = Settings.from_mapping(
        {"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "my-agent", **LIVEKIT}
    )
    assert list(settings.agents) == ["default"]
    assert settings.agents["default"].agent_id == "my-agent"
    assert settings.providers["livekit"].http_url == "http://127.0.0.1:7880"


def test_catalogue_file_with_every_setting(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [agents.sales]
        provider = "convoi"
        agent_id = "agt_123"
        title = "Sales"
        greeting = "Hi!"
        variables = { company = "Acme" }
        allowed_variables = ["name"]
        allowed_origins = ["https://Example.com/"]
        max_call_s = 300
        """,
    )
    settings = Settings.from_mapping({"WEBCALL_AGENTS_FILE": path, "CONVOI_API_KEY": "sk_live_x"})
    agent = settings.agents["sales"]
    assert (agent.greeting, dict(agent.variables), agent.max_call_s) == ("Hi!", {"company": "Acme"}, 300)
    assert agent.allowed_variables == {"name"} and agent.allowed_origins == ("https://example.com",)
    assert settings.providers["convoi"].base_url == "https://go.convoi.ai/backend"


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [agents.a]
        provider = "ravan"
        agent_id = "r1"
        colour = "red"
        [agents.b]
        provider = "convoi"
        agent_id = "sqd_123"
        [agents.c]
        provider = "nope"
        agent_id = "x"
        max_call_s = 5
        """,
    )
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({"WEBCALL_AGENTS_FILE": path, "WEBCALL_READ_TIMEOUT_S": "soon"})
    text = str(caught.value)
    for expected in ("unknown setting 'colour'", "RAVAN_API_KEY", "'agt_'", "provider must be one of",
                     "max_call_s", "WEBCALL_READ_TIMEOUT_S"):  # fmt: skip
        assert expected in text
    assert len(caught.value.problems) >= 6


def test_settings_beside_the_agents_tables_are_refused_not_dropped(tmp_path: Path) -> None:
    """A limit above every table, a typo'd table name, a [defaults] table: the app started without
    a word, and none of them applied (the phone table's callbacks never offered)."""
    path = write(
        tmp_path,
        """
        max_call_s = 300
        [agents.demo]
        provider = "livekit"
        agent_id = "webcall-demo"
        [agent.demo.phone]
        enabled = true
        [defaults]
        bot_check = false
        """,
    )
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({"WEBCALL_AGENTS_FILE": path, **LIVEKIT})
    assert [problem.split(": ", 1)[1] for problem in caught.value.problems] == [
        f"{name!r} is not a setting here: every setting goes in an [agents.<slug>] table"
        for name in ("max_call_s", "agent", "defaults")
    ]


def test_checks_that_wait_for_valid_fields_are_named_with_them(tmp_path: Path) -> None:
    """A model's own checks wait for its fields: the agent id's rule and the Turnstile pair were
    only told on the next start, once the other problems were fixed."""
    path = write(tmp_path, '[agents.a]\nprovider = "convoi"\nagent_id = "not-an-agt-id"\nmax_call_s = 5\n')
    env = {"WEBCALL_AGENTS_FILE": path, "CONVOI_API_KEY": "sk_live_x", "WEBCALL_MAX_BODY_BYTES": "-1",
           "WEBCALL_TURNSTILE_SITE_KEY": "site-key"}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(env)
    text = str(caught.value)
    for expected in ("max_call_s", "agent_id: a Convoi agent id is 'agt_'", "WEBCALL_MAX_BODY_BYTES",
                     "set both WEBCALL_TURNSTILE_SITE_KEY and WEBCALL_TURNSTILE_SECRET_KEY"):  # fmt: skip
        assert expected in text, text
    # Alone, each is still refused once.
    with pytest.raises(ConfigError) as alone:
        Settings.from_mapping({**LIVEKIT, "WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "demo",
                               "WEBCALL_TURNSTILE_SECRET_KEY": "secret"})  # fmt: skip
    assert alone.value.problems == [
        "set both WEBCALL_TURNSTILE_SITE_KEY and WEBCALL_TURNSTILE_SECRET_KEY, or neither"
    ]


def test_a_provider_with_a_refused_variable_still_names_its_unset_key() -> None:
    """RAVAN_BASE_URL refused hid RAVAN_API_KEY's absence until the next start."""
    quick = {"WEBCALL_PROVIDER": "ravan", "WEBCALL_AGENT_ID": "a", "RAVAN_BASE_URL": "ftp://x"}
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(quick)
    assert caught.value.problems == [
        "RAVAN_BASE_URL: must be an http(s) URL",
        "RAVAN_API_KEY must be set: an agent uses provider 'ravan'",
    ]
    with pytest.raises(ConfigError) as keyed:
        Settings.from_mapping({**quick, "RAVAN_API_KEY": "k"})
    assert keyed.value.problems == ["RAVAN_BASE_URL: must be an http(s) URL"]


@pytest.mark.parametrize("agent_id", ["agt_b88d642dd68747f28305c428b2090001", "agt_my_agent", "agt_sales-1"])
def test_a_convoi_agent_id_is_its_prefix_and_one_word(tmp_path: Path, agent_id: str) -> None:
    """An id like agt_my_agent stopped the start with "starts with 'agt_'", which it does."""
    path = write(tmp_path, f'[agents.a]\nprovider = "convoi"\nagent_id = "{agent_id}"\n')
    settings = Settings.from_mapping({"WEBCALL_AGENTS_FILE": path, "CONVOI_API_KEY": "sk_live_x"})
    assert settings.agents["a"].agent_id == agent_id
    with pytest.raises(ConfigError, match="'agt_'"):
        Settings.from_mapping({"WEBCALL_AGENTS_FILE": write(tmp_path, '[agents.a]\nprovider = "convoi"\n'
                                                        'agent_id = "agt_two words"\n'),
                               "CONVOI_API_KEY": "sk_live_x"})  # fmt: skip


def test_unleashx_is_refused_for_web_calls(tmp_path: Path) -> None:
    path = write(tmp_path, '[agents.phone]\nprovider = "unleashx"\nagent_id = "42"\n')
    with pytest.raises(ConfigError, match="phone calls only and has no web call"):
        Settings.from_mapping({"WEBCALL_AGENTS_FILE": path, "UNLEASHX_API_TOKEN": "t"})


def test_missing_catalogue_says_how_to_fix_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="WEBCALL_PROVIDER and WEBCALL_AGENT_ID"):
        Settings.from_mapping({})


def test_dotenv_is_read_and_the_real_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("WEBCALL_", "LIVEKIT_")):
            monkeypatch.delenv(name)
    dotenv = tmp_path / ".env"
    dotenv.write_text("WEBCALL_PROVIDER=livekit\nWEBCALL_AGENT_ID=from-dotenv\nLIVEKIT_URL=ws://x:1\n"
                      "LIVEKIT_API_KEY=k\nLIVEKIT_API_SECRET=from-dotenv-secret\n")  # fmt: skip
    monkeypatch.setenv("WEBCALL_AGENT_ID", "from-env")
    settings = Settings.from_env(dotenv_path=dotenv)
    assert settings.agents["default"].agent_id == "from-env"
    livekit = settings.providers["livekit"]
    assert livekit.api_secret.get_secret_value() == "from-dotenv-secret"  # type: ignore[attr-defined]


def test_a_dotenv_that_is_not_utf8_is_one_clear_problem(tmp_path: Path) -> None:
    """A .env saved in Latin-1 raised UnicodeDecodeError with a traceback (`flask agents` too)."""
    dotenv = tmp_path / ".env"
    dotenv.write_bytes("WEBCALL_AGENT_TITLE=Caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(dotenv_path=dotenv)
    assert refused.value.problems == [f"{dotenv} is not UTF-8 text (byte 23): save it as UTF-8"]


def test_secrets_never_show_in_repr() -> None:
    flask_secret = "flask-secret-value-0123456789abcdef0123"
    settings = Settings.from_mapping(
        {
            "WEBCALL_PROVIDER": "livekit",
            "WEBCALL_AGENT_ID": "a",
            **LIVEKIT,
            "WEBCALL_SECRET_KEY": flask_secret,
        }
    )
    text = repr(settings) + repr(settings.providers) + str(settings.providers["livekit"]) + str(settings)
    assert "s" * 32 not in text and flask_secret not in text


def test_gunicorn_stops_with_one_message_on_bad_configuration(tmp_path: Path) -> None:
    """The production entry point names every problem and exits; no traceback, no restart loop."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBCALL_", "LIVEKIT_"))}
    env.update({"WEBCALL_PROVIDER": "unleashx", "WEBCALL_AGENT_ID": "42", "WEBCALL_BIND": "127.0.0.1:0"})
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "webapp:create_app()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "places phone calls only and has no web call" in done.stderr
    assert "UNLEASHX_API_TOKEN must be set" in done.stderr
    assert "Traceback" not in done.stderr


def test_create_app_refuses_bad_configuration_as_a_config_error_and_an_exit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Built in process, ``create_app()`` raises the ConfigError with every problem (catchable as
    any Exception); uncaught, it is the exit status 3 that stops gunicorn, its words on stderr."""
    for name in [k for k in os.environ if k.startswith(("WEBCALL_", "LIVEKIT_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WEBCALL_PROVIDER", "unleashx")
    monkeypatch.setenv("WEBCALL_AGENT_ID", "42")
    monkeypatch.setenv("WEBCALL_AGENTS_FILE", "/nonexistent/agents.toml")
    with pytest.raises(ConfigError) as caught:
        create_app()
    assert isinstance(caught.value, Exception) and isinstance(caught.value, SystemExit)
    assert caught.value.code == 3
    assert any("UNLEASHX_API_TOKEN must be set" in p for p in caught.value.problems)
    assert "places phone calls only" in str(caught.value)
    assert "UNLEASHX_API_TOKEN must be set" in capsys.readouterr().err


def test_the_example_catalogue_is_valid() -> None:
    """agents.example.toml is documentation people copy: it must load."""
    settings = Settings.from_mapping({"WEBCALL_AGENTS_FILE": str(ROOT / "agents.example.toml"), **LIVEKIT})
    assert settings.agents["demo"].agent_id == "webcall-demo"


def test_every_variable_is_in_the_example_env_file() -> None:
    """.env.example is where operators look: every setting and every provider variable is named."""
    text = (ROOT / ".env.example").read_text()
    names = [str(info.validation_alias) for info in Settings.model_fields.values()]
    for spec in registry().values():
        names += [str(info.validation_alias) for info in spec.settings.model_fields.values()]
    missing = [name for name in names if name not in text]
    assert not missing, f".env.example does not mention {missing}"


def test_an_empty_variable_is_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``NAME=`` as .env.example writes it: every variable of the file left empty, in .env or in
    the real environment, starts with the defaults (as unset ones do), nothing refused."""
    names = [line.split("=", 1)[0].lstrip("# ") for line in (ROOT / ".env.example").read_text().splitlines()]
    empty = {name: "" for name in names if name.isupper() and name.replace("_", "").isalnum()}
    assert {"WEBCALL_PUBLIC_URL", "RAVAN_ORG_ID", "LIVEKIT_BASE_URL", "ELEVENLABS_BASE_URL"} <= empty.keys()
    quick = {**empty, "WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT}
    unset = Settings.from_mapping({name: value for name, value in quick.items() if value})
    assert Settings.from_mapping(quick).model_dump() == unset.model_dump()
    for name in list(os.environ):
        if name in empty or name.startswith(("WEBCALL_", "LIVEKIT_")):
            monkeypatch.delenv(name)
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"{name}={value}\n" for name, value in quick.items()))
    monkeypatch.setenv("WEBCALL_PUBLIC_URL", "")
    from_env = Settings.from_env(dotenv_path=dotenv)
    assert from_env.public_url is None and list(from_env.agents) == ["default"]


def test_the_example_env_file_with_its_quick_start_taken_up_warns_of_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copied to .env with its quick start's lines uncommented, as its comment says: it also set
    WEBCALL_AGENTS_FILE, and start-up warned of a catalogue file that was not there."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    quick = ("# WEBCALL_PROVIDER=", "# WEBCALL_AGENT_ID=")
    taken = [line.removeprefix("# ") if line.startswith(quick) else line for line in lines]
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("WEBCALL_", "LIVEKIT_")):
            monkeypatch.delenv(name)
    dotenv = tmp_path / ".env"
    livekit = "".join(f"{name}={value}\n" for name, value in LIVEKIT.items())
    dotenv.write_text("\n".join(taken) + "\n" + livekit)
    settings = Settings.from_env(dotenv_path=dotenv)
    assert list(settings.agents) == ["default"]
    assert not any("WEBCALL_AGENTS_FILE" in warning for warning in settings.warnings())


@pytest.mark.parametrize(
    "value",
    [
        "calls.example.com",
        "https://calls.example.com/app",
        "ftp://x",
        "https://user:pw@calls.example.com",  # no browser sends such an Origin: every call refused
        "https://calls.example.com:99999",
        "https://:443",
        "https://calls.example.com  WEBCALL_TRUSTED_PROXIES=1",  # two settings on one line of .env
    ],
)
def test_public_url_is_an_origin(value: str) -> None:
    with pytest.raises(ConfigError, match="WEBCALL_PUBLIC_URL"):
        Settings.from_mapping({"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT,
                               "WEBCALL_PUBLIC_URL": value})  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://webcall:Xy7@SecretPW1@db.internal/webcall",  # host 'SecretPW1@db.internal' was printed
        "postgresql://webcall:Xy7@Secret:PW1@127.0.0.1/webcall",  # port 'PW1@127.0.0.1': a traceback
        "postgresql://webcall:pw@db:port/webcall",
    ],
)
def test_a_database_url_that_cannot_be_read_is_refused_without_its_password(url: str) -> None:
    """A password's unencoded @ made the rest of it the host, which the driver's error printed at
    start-up (or a port, and a traceback); now a ConfigError that shows no part of the URL."""
    with pytest.raises(ConfigError) as refused:
        Settings.from_mapping({"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT,
                               "WEBCALL_DATABASE_URL": url})  # fmt: skip
    words = str(refused.value)
    assert "WEBCALL_DATABASE_URL: cannot be read: write an @" in words
    assert not any(part in words for part in ("Xy7", "Secret", "PW1", "pw@", "port/"))
    for good in (
        "postgresql://webcall:Xy7%40SecretPW1@db.internal:5432/webcall",
        "postgresql://u:p/w@[::1]/db",
    ):
        assert Settings.from_mapping({"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT,
                                      "WEBCALL_DATABASE_URL": good}).database_url is not None  # fmt: skip


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"WEBCALL_DATABASE_URL": "mysql://db/calls"}, "WEBCALL_DATABASE_URL: must be sqlite:///<file>"),
        ({"WEBCALL_DATABASE_URL": "sqlite:///:memory:"}, "an SQLite call log needs a file"),
        (
            {"WEBCALL_HISTORY_SYNC_INTERVAL_S": "5"},
            "WEBCALL_HISTORY_SYNC_INTERVAL_S: must be 0 (off) or at least 60",
        ),
        ({"WEBCALL_HISTORY_SYNC_INTERVAL_S": "-1"}, "WEBCALL_HISTORY_SYNC_INTERVAL_S"),
        ({"WEBCALL_WEBHOOK_TOKEN": "a/b" + "c" * 40}, "WEBCALL_WEBHOOK_TOKEN: may hold only letters"),
        # Sent as UTF-8 in a header, read back as Latin-1: such a token never matched.
        ({"WEBCALL_METRICS_TOKEN": "tokén-long-enough-xx"}, "WEBCALL_METRICS_TOKEN: may hold only ASCII"),
        ({"WEBCALL_ADMIN_TOKEN": "ü" * 40}, "WEBCALL_ADMIN_TOKEN: may hold only ASCII"),
    ],
)
def test_call_log_and_admin_settings_are_checked(env: dict[str, str], problem: str) -> None:
    quick = {"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT}
    with pytest.raises(ConfigError) as refused:
        Settings.from_mapping({**quick, **env})
    assert problem in str(refused.value)
    for value in env.values():  # a token or a database URL may hold a secret: never echoed
        if len(value) > 8:
            assert value not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBCALL_CLIENT_TIMEOUT_S", "1e10"),  # a socket timeout past time_t: every request a 500
        ("WEBCALL_CLIENT_TIMEOUT_S", "inf"),
        ("WEBCALL_READ_TIMEOUT_S", "inf"),
        ("WEBCALL_CONNECT_TIMEOUT_S", "1e300"),
        ("WEBCALL_TOKEN_TTL_S", "99999999999999"),  # a token expiry past year 9999: every call a 500
        ("WEBCALL_HISTORY_SYNC_INTERVAL_S", "99999999999999"),  # the sync thread died on its sleep
        ("WEBCALL_IDEMPOTENCY_WINDOW_S", "99999999999999"),
        ("WEBCALL_RATELIMIT_STORAGE_URI", "redis://:abc"),  # a traceback at start-up
        ("WEBCALL_RATELIMIT_STORAGE_URI", "redis://localhost:99999"),
        # Two settings on one .env line (the second lost), and a database by name: accepted, then
        # every call refused (limits_unavailable).
        ("WEBCALL_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0 WEBCALL_TOKEN_TTL_S=60"),
        ("WEBCALL_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/limits"),
        ("WEBCALL_CONNECT_TIMEOUT_S", "nan"),  # refused as "a finite number" (it said "<= 300")
        # A page's script and a server-side request: without a scheme, every call was refused
        # (bot_check_unavailable) and the CSP read "script-src 'self' ://".
        ("WEBCALL_TURNSTILE_SCRIPT_URL", "challenges.cloudflare.com/turnstile/v0/api.js"),
        ("WEBCALL_TURNSTILE_VERIFY_URL", "ftp://challenges.cloudflare.com/siteverify"),
        # Accepted, then every call refused: 429 for good, 413, or the provider unreachable.
        ("WEBCALL_RATE_LIMITS", "0/minute"),
        ("WEBCALL_GLOBAL_RATE_LIMIT", "100/second;0/day"),
        ("WEBCALL_MAX_BODY_BYTES", "10"),
        ("WEBCALL_MAX_BODY_BYTES", str(64 * 1024 * 1024)),
        ("RAVAN_BASE_URL", "https://"),
        ("RAVAN_BASE_URL", "https://api.ravan.ai:99999"),
    ],
)
def test_a_value_no_clock_or_socket_can_hold_is_refused_at_start_up(name: str, value: str) -> None:
    quick = {"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT}
    with pytest.raises(
        ConfigError, match=name if value != "nan" else f"{name}: Input should be a finite number"
    ):
        Settings.from_mapping({**quick, name: value})


@pytest.mark.parametrize(
    "uri",
    ["memory://", "redis://localhost", "redis://localhost:6379/0", "rediss://u:p@redis.example:6380/12/"],
)
def test_a_limits_storage_url_with_or_without_a_database_number_is_taken(uri: str) -> None:
    quick = {"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT}
    assert Settings.from_mapping({**quick, "WEBCALL_RATELIMIT_STORAGE_URI": uri}).ratelimit_storage_uri == uri


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("WEBCALL_THREADS", "abc", "must be a whole number of at least 1, got 'abc'"),
        ("WEBCALL_WORKER_CONNECTIONS", "0", "must be a whole number of at least 1, got '0'"),
        # a typo here stopped gunicorn with an ImportError's traceback
        ("WEBCALL_WORKER_CLASS", "gthreads", "must be gevent or gthread, got 'gthreads'"),
    ],
)
def test_gunicorn_names_a_bad_setting_of_its_own_in_one_line(name: str, value: str, said: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBCALL_", "LIVEKIT_"))}
    env.update({name: value, "WEBCALL_BIND": "127.0.0.1:0"})
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--check-config",
         "webapp:create_app()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"{name} {said}" in done.stderr
    assert "Traceback" not in done.stderr


def test_gunicorn_takes_an_empty_size_as_its_default() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBCALL_", "LIVEKIT_"))}
    env.update({"WEBCALL_THREADS": "", "WEBCALL_WORKER_CONNECTIONS": " "})
    done = subprocess.run(
        [sys.executable, "-c", "import runpy; c = runpy.run_path('gunicorn.conf.py'); "
         "print(c['threads'], c['worker_connections'])"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.split() == ["64", "1000"], done.stderr


def test_short_secrets_start_with_a_warning_naming_them() -> None:
    """A short password or token works (a test, a first try) and is named at start-up."""
    kinds = ("ADMIN_PASSWORD", "ADMIN_TOKEN", "WEBHOOK_TOKEN", "METRICS_TOKEN")
    names = tuple(f"WEBCALL_{kind}" for kind in kinds)
    short = dict(zip(names, ("short", "admin-token", "hook-token", "m"), strict=True))
    env = {"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT, **short, "RAVAN_API_KEY": "k"}
    settings = Settings.from_mapping(env)
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == "admin-token"
    warnings = "\n".join(settings.warnings())
    for name in names:
        assert f"{name} is shorter than" in warnings
    assert "without RAVAN_ORG_ID" in warnings  # its webhooks are refused (wrong_org) until it is set
    assert "admin-token" not in warnings and "hook-token" not in warnings  # never the secret itself
    assert "WEBCALL_ADMIN_PASSWORD is set without WEBCALL_SECRET_KEY" in warnings  # sign-ins per process
    strong = dict(zip(names, ("p" * 12, "t" * 32, "w" * 32, "m" * 16), strict=True))
    strong["WEBCALL_SECRET_KEY"] = "k" * 32
    assert Settings.from_mapping({**env, **strong, "RAVAN_ORG_ID": "org"}).warnings() == []


def test_a_catalogue_file_the_quick_start_hides_is_named_at_start_up(tmp_path: Path) -> None:
    """WEBCALL_PROVIDER's one agent wins over WEBCALL_AGENTS_FILE: an operator who set both saw
    their catalogue's agents missing without a word."""
    quick = {"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT}
    hidden = Settings.from_mapping({**quick, "WEBCALL_AGENTS_FILE": str(tmp_path / "agents.toml")})
    assert list(hidden.agents) == ["default"]
    # Set, though no such file is there (yet): named as set, not as there.
    named = f"WEBCALL_AGENTS_FILE ({tmp_path / 'agents.toml'}) is set, and WEBCALL_PROVIDER's one agent"
    assert any(warning.startswith(named) for warning in hidden.warnings())
    assert not any("WEBCALL_AGENTS_FILE" in warning for warning in Settings.from_mapping(quick).warnings())


def test_an_agents_toml_made_after_a_quick_start_is_named_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's next step after a quick start is agents.toml, the default catalogue: with
    WEBCALL_PROVIDER still set, the file's agents were ignored without a word."""
    quick = {"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT}
    monkeypatch.chdir(tmp_path)
    assert not any("WEBCALL_AGENTS_FILE" in warning for warning in Settings.from_mapping(quick).warnings())
    (tmp_path / "agents.toml").write_text('[agents.sales]\nprovider = "livekit"\nagent_id = "a"\n')
    warned = [w for w in Settings.from_mapping(quick).warnings() if "WEBCALL_AGENTS_FILE" in w]
    assert warned == [
        "WEBCALL_AGENTS_FILE (agents.toml) is there, and WEBCALL_PROVIDER's one agent is used instead: "
        "the catalogue file is not read"
    ]


def test_an_https_public_url_without_trusted_proxies_is_named_at_start_up() -> None:
    """Behind a TLS proxy with only WEBCALL_PUBLIC_URL set, calls work and every visitor shares the
    proxy's allowance: said at start-up, not found at the first busy hour's 429s."""
    quick = {"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT}
    public = {**quick, "WEBCALL_PUBLIC_URL": "https://calls.example.com"}
    assert any("WEBCALL_TRUSTED_PROXIES is 0" in w for w in Settings.from_mapping(public).warnings())
    trusted = Settings.from_mapping({**public, "WEBCALL_TRUSTED_PROXIES": "1"})
    plain = Settings.from_mapping({**quick, "WEBCALL_PUBLIC_URL": "http://127.0.0.1:8000"})
    assert not any("TRUSTED_PROXIES" in w for w in trusted.warnings() + plain.warnings())


def test_call_log_defaults_to_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    quick = {"WEBCALL_PROVIDER": "livekit", "WEBCALL_AGENT_ID": "a", **LIVEKIT}
    settings = Settings.from_mapping(quick)
    assert settings.database_url_in(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'webcall.db'}"
    assert settings.history_sync_interval_s == 0 and settings.admin_password is None
    postgres = "postgresql://webcall:pw-1234@db.internal/webcall"
    configured = Settings.from_mapping(
        {
            **quick,
            "WEBCALL_DATABASE_URL": postgres,
            "WEBCALL_WEBHOOK_TOKEN": "w" * 40,
            "WEBCALL_ADMIN_TOKEN": "",
        }
    )
    assert configured.database_url_in(tmp_path) == postgres and configured.admin_token is None
    assert "pw-1234" not in repr(configured)  # the URL may carry a password


def test_a_url_setting_with_a_space_inside_names_the_line_it_came_from(tmp_path: Path) -> None:
    """Two settings on one line of .env make one value of the rest of the line: the app took
    'https://calls.example.com  webcall_trusted_proxies=1' as its public URL and refused every
    call from that origin, without a word."""
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "WEBCALL_PROVIDER=ravan\nWEBCALL_AGENT_ID=a\nRAVAN_API_KEY=k-123\n"
        "RAVAN_BASE_URL=https://api.example.com  RAVAN_ORG_ID=org\n"
        "WEBCALL_PUBLIC_URL=https://calls.example.com  WEBCALL_TRUSTED_PROXIES=1\n"
    )
    with pytest.raises(ConfigError) as refused:
        Settings.from_mapping(dotenv_values(dotenv))
    space = "has a space inside it: no URL has one (one setting a line in .env)"
    assert f"RAVAN_BASE_URL: {space}" in refused.value.problems
    assert f"WEBCALL_PUBLIC_URL: {space}" in refused.value.problems
