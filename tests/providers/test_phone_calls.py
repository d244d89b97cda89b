"""The phone-call builders and parsers of Ravan, Convoi and UnleashX, for every documented shape."""

from __future__ import annotations

from typing import Any

import pytest

from tests.providers.conftest import make_agent
from webapp.errors import ProviderBadResponse
from webapp.providers import PhoneCallRequest, convoi, ravan, unleashx

NUMBER = "+12137774445"


def request(provider: str, agent_id: str, phone: dict[str, Any], **fields: Any) -> PhoneCallRequest:
    """A callback request for a phone-enabled agent."""
    settings = {"enabled": True, "allowed_countries": ["US"], "bot_check": False, **phone}
    agent = make_agent(provider, agent_id, web=provider != "unleashx", phone=settings)
    return PhoneCallRequest(agent=agent, to_number=NUMBER, masked_number="+1 213 ***-**45", **fields)


def test_ravan_outbound_call() -> None:
    sent = ravan.build_phone_call(
        request(
            "ravan",
            "rv-1",
            {"from_number": "+14157774444"},
            name="Ann",
            variables={"plan": "pro"},
            metadata={"webcall_agent": "a"},
        )  # fmt: skip
    )
    assert sent == {
        "type": "outbound_call", "agent_id": "rv-1", "from_phone_number": "+14157774444",
        "to_phone_number": NUMBER, "metadata": {"webcall_agent": "a"},
        "prompt_dynamic_variables": {"plan": "pro", "name": "Ann"},
    }  # fmt: skip
    flat = {"success": True, "message": "call created successfully", "session_id": "s-1",
            "room_id": "call_s-1", "url": "wss://x", "access_token": "t"}  # fmt: skip
    assert ravan.parse_phone_call(flat).call_id == "s-1"
    assert ravan.parse_phone_call({"success": True, "data": {"session_id": "s-2"}}).call_id == "s-2"
    with pytest.raises(ProviderBadResponse):
        ravan.parse_phone_call({"success": False, "message": "no credit", "session_id": "s-3"})


@pytest.mark.parametrize(
    ("agent_id", "phone", "runner"),
    [
        ("agt_1", {}, {"agent_id": "agt_1"}),
        ("agt_1", {"agent_id": "sqd_9"}, {"squad_id": "sqd_9"}),  # a workforce for phone calls
    ],
)
def test_convoi_outbound_phone(agent_id: str, phone: dict[str, Any], runner: dict[str, str]) -> None:
    body = convoi.build_phone_call(
        request("convoi", agent_id, {"phone_number_id": "phn_1", **phone}, name="Ahmed", variables={"v": "1"})
    )
    assert body == {"type": "outbound_phone", **runner, "phone_number_id": "phn_1",
                    "customer": {"number": NUMBER, "name": "Ahmed"}, "metadata": {"v": "1"}}  # fmt: skip
    answer = {"id": "call_8a7d", "object": "call", "type": "outbound_phone", "status": "initiated",
              "livekit": None, "room_id": None, "customer": {"number": NUMBER}}  # fmt: skip
    call = convoi.parse_phone_call(answer)
    assert (call.call_id, call.status, call.provider_status) == ("call_8a7d", "created", "initiated")


@pytest.mark.parametrize("nested", [True, False], ids=["documented-example", "documented-table"])
def test_unleashx_make_call(nested: bool) -> None:
    body = unleashx.build_phone_call(request("unleashx", "101", {}, name="Jo", variables={"lead": "L-1"}))
    assert body == {"agent_id": 101, "phone_number": NUMBER, "metadata": {"lead": "L-1", "name": "Jo"}}
    data = {"execution_id": "ex-1", "agent_id": 101, "phone_number": NUMBER, "call_status": "initiated"}
    answer = {
        "success": True,
        "message": "Call initiated successfully",
        **({"data": data} if nested else data),
    }
    call = unleashx.parse_phone_call(answer)
    assert (call.call_id, call.provider_status) == ("ex-1", "initiated")
    for broken in (
        {"error": True, "message": "Agent not found or not active"},
        {"success": True, "data": {}},
    ):
        with pytest.raises(ProviderBadResponse):
            unleashx.parse_phone_call(broken)
