"""The provider registry: what each provider declares, and that a new module is all it takes."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from webapp.providers import discover, provider_names, registry


def test_every_provider_declares_its_variables_and_capabilities() -> None:
    specs = registry()
    assert set(specs) == {"convoi", "elevenlabs", "livekit", "ravan", "retell", "unleashx", "zudu"}
    credentials = {name: sorted(spec.settings().credential_vars().values()) for name, spec in specs.items()}
    assert credentials == {
        "convoi": ["CONVOI_API_KEY"],
        "elevenlabs": ["ELEVENLABS_API_KEY"],
        "livekit": ["LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "LIVEKIT_URL"],
        "ravan": ["RAVAN_API_KEY"],
        "retell": ["RETELL_API_KEY"],
        "unleashx": ["UNLEASHX_API_TOKEN"],
        "zudu": ["ZUDU_API_KEY", "ZUDU_API_SECRET"],
    }
    assert provider_names("web_call") == ["convoi", "elevenlabs", "livekit", "ravan", "retell", "zudu"]
    assert specs["elevenlabs"].regions == ("eu", "in") and specs["retell"].regions == ()
    assert "web_call" not in specs["unleashx"].capabilities  # phone calls only
    # Call history: Ravan, Convoi, Retell and ElevenLabs list their calls; Zudu only looks one up.
    # Phone callbacks: Ravan, Convoi and UnleashX (its only kind of call).
    full = {"web_call", "phone_call", "list_calls", "get_call"}
    history = {"web_call", "list_calls", "get_call"}
    assert specs["ravan"].capabilities == full  # Ravan documents no way to end a call
    assert specs["convoi"].capabilities == full | {"end_call"}  # its DELETE ends a live one
    assert specs["unleashx"].capabilities == {"phone_call"}
    assert provider_names("phone_call") == ["convoi", "ravan", "unleashx"]
    assert specs["zudu"].capabilities == {"web_call", "get_call"}
    assert specs["livekit"].capabilities == {"web_call", "end_call"}  # RoomService's DeleteRoom
    assert specs["retell"].capabilities == specs["elevenlabs"].capabilities == history
    assert provider_names("get_call") == ["convoi", "elevenlabs", "ravan", "retell", "zudu"]
    defaults = {name: spec.settings.model_fields["base_url"].default for name, spec in specs.items()}
    assert (
        defaults["ravan"] == "https://api.ravan.ai" and defaults["convoi"] == "https://go.convoi.ai/backend"
    )


@pytest.mark.parametrize(
    ("provider", "agent_id", "fits"),
    [
        ("convoi", "agt_b88d642dd68747f28305c428b209abcd", True),
        ("convoi", "sqd_3fa85f6457174562b3fc2c963f66afa6", False),  # a workforce: phone calls only
        ("unleashx", "101", True),
        ("unleashx", "agent-101", False),
        ("livekit", "webcall-demo", True),
        ("livekit", "has space", False),
        ("ravan", "3b1f6a2e-7c1d-4e5f-9a0b-1c2d3e4f5a6b", True),
    ],
)
def test_agent_id_rules(provider: str, agent_id: str, fits: bool) -> None:
    assert (registry()[provider].check_agent_id(agent_id) is None) is fits


def test_a_new_provider_is_one_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropping a module with a PROVIDER spec into the package is all the registry needs."""
    package = tmp_path / "more_providers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("NOT_A_PROVIDER = True\n")
    (package / "acme.py").write_text(
        textwrap.dedent(
            """
            from pydantic import SecretStr
            from webapp.providers.base import ProviderSettings, ProviderSpec, base_url, credential
            from webapp.providers.hosted import HostedProvider

            class AcmeSettings(ProviderSettings):
                api_key: SecretStr | None = credential("ACME_API_KEY")
                base_url: str = base_url("ACME_BASE_URL", "https://api.acme.example")

            class AcmeProvider(HostedProvider):
                name = "acme"

                def create_web_call(self, request):
                    raise NotImplementedError

                def get_call(self, call_id):
                    raise NotImplementedError

            PROVIDER = ProviderSpec(name="acme", title="Acme", settings=AcmeSettings, adapter=AcmeProvider,
                                    agent_id_pattern=r"ac_[0-9]+", agent_id_hint="Acme ids start with ac_")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = discover("more_providers", [str(package)])
    assert list(found) == ["acme"]
    assert found["acme"].capabilities == {"web_call", "get_call"}
    settings = found["acme"].settings.model_validate({"ACME_API_KEY": "k"})
    assert settings.is_configured() and settings.secret_values() == ["k"]
    assert found["acme"].settings.model_validate({}).missing() == ["ACME_API_KEY"]
    sys.modules.pop("more_providers", None)
