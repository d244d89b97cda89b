"""UnleashX: outbound phone calls only (``POST /api/v1/global/agents/call``); it has no web call."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from ..errors import ProviderError
from .base import HttpUrlText, ProviderSettings, ProviderSpec, base_url, credential, secret
from .hosted import HostedProvider

CALL_PATH = "/api/v1/global/agents/call"


class UnleashXSettings(ProviderSettings):
    """The API token (sent in a ``token`` header; it does not expire) and where the API lives."""

    api_token: SecretStr | None = credential("UNLEASHX_API_TOKEN")
    base_url: HttpUrlText = base_url("UNLEASHX_BASE_URL", "https://www.tryunleashx.com")


class UnleashXProvider(HostedProvider):
    """UnleashX places phone calls; it cannot back a browser call."""

    name = "unleashx"

    def __init__(self, settings: UnleashXSettings, context: Any) -> None:
        super().__init__(settings, context)
        self.headers = {"token": secret(settings.api_token)}

    def check_access(self) -> None:
        """A call request with no agent: UnleashX refuses it (400) once the token is accepted (401 if not).

        It documents no read endpoint; a body without ``agent_id`` can never place a call.
        """
        try:
            self.transport.post_json(
                self.base_url + CALL_PATH, headers=self.headers, body={}, operation="check"
            )
        except ProviderError as error:
            if error.upstream_status != 400:
                raise


PROVIDER = ProviderSpec(
    name="unleashx",
    title="UnleashX",
    settings=UnleashXSettings,
    adapter=UnleashXProvider,
    agent_id_pattern=r"[1-9][0-9]{0,17}",
    agent_id_hint="an UnleashX agent id is a whole number",
)
