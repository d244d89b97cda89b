"""The catalogue's media settings: defaults, what contradicts what, and what the page learns."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from webapp.catalogue import Agent, describe, parse_agent


def agent(**fields: Any) -> Agent:
    """A valid livekit agent with ``fields``."""
    return Agent.model_validate(
        {"slug": "a", "title": "A", "provider": "livekit", "agent_id": "webcall-demo", **fields}
    )


def problems(**fields: Any) -> list[str]:
    """What an operator is told about an agent table with ``fields``."""
    found: list[str] = []
    table = {"provider": "livekit", "agent_id": "webcall-demo", **fields}
    assert parse_agent("a", table, found, where="[agents.a]") is None
    return found


def test_voice_only_with_agent_video_by_default() -> None:
    plain = agent()
    assert plain.media() == {
        "agent_video": True,
        "camera": "off",
        "screen_share": False,
        "text_only": "off",
        "push_to_talk": False,
    }
    assert plain.modes == ("voice",)
    assert plain.publish_sources("voice") == ["microphone"]
    assert plain.avatar is False


@pytest.mark.parametrize(
    ("text_only", "modes"),
    [("off", ("voice",)), ("allowed", ("voice", "text")), ("only", ("text",))],
)
def test_text_only_decides_the_kinds_of_call(text_only: str, modes: tuple[str, ...]) -> None:
    assert agent(text_only=text_only).modes == modes


def test_a_text_call_publishes_no_microphone() -> None:
    seeing = agent(camera="optional", screen_share=True, text_only="allowed")
    assert seeing.publish_sources("voice") == ["microphone", "camera", "screen_share"]
    assert seeing.publish_sources("text") == ["camera", "screen_share"]
    assert agent(text_only="only").publish_sources("text") == []


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"camera": "always"}, "camera: Input should be 'off', 'optional' or 'on'"),
        ({"text_only": True}, "text_only: Input should be 'off', 'allowed' or 'only'"),
        ({"screen_share": "yes please"}, "screen_share: Input should be a valid boolean"),
        ({"push_to_talk": True, "text_only": "only"}, "push_to_talk needs the microphone"),
        ({"avatar": True, "agent_video": False}, "agent_video = false would not show"),
        ({"cameras": "on"}, "unknown setting 'cameras'"),
    ],
)
def test_bad_media_settings_are_named(fields: dict[str, Any], words: str) -> None:
    found = problems(**fields)
    assert len(found) == 1 and words in found[0], found


def test_avatar_is_for_livekit_agents_only() -> None:
    with pytest.raises(ValidationError) as caught:
        Agent.model_validate(
            {"slug": "a", "title": "A", "provider": "ravan",
             "agent_id": "3b1f6a2e-7c1d-4e5f-9a0b-1c2d3e4f5a6b", "avatar": True}
        )  # fmt: skip
    assert describe(caught.value) == [
        "avatar is sent in LiveKit's agent dispatch: only the livekit provider has one"
    ]


def test_hosted_agents_may_offer_every_page_side_mode() -> None:
    hosted = Agent.model_validate(
        {"slug": "a", "title": "A", "provider": "zudu", "agent_id": "agent-1", "camera": "on",
         "screen_share": True, "text_only": "allowed", "push_to_talk": True}
    )  # fmt: skip
    assert hosted.media()["camera"] == "on" and hosted.modes == ("voice", "text")


def test_media_switches_are_true_or_false_not_words() -> None:
    """``screen_share = "yes"`` is a mistake to point at, not a switch turned on."""
    for name in ("agent_video", "avatar", "screen_share", "push_to_talk"):
        with pytest.raises(ValidationError, match=name):
            Agent.model_validate({"slug": "a", "provider": "livekit", "agent_id": "x", "title": "A", name: 1})


def test_every_problem_of_one_agent_is_named_at_once() -> None:
    """The provider's rules, the media settings and the region are checked together: fixing one
    mistake must not reveal the next only at the following start."""
    with pytest.raises(ValidationError) as caught:
        Agent.model_validate(
            {"slug": "a", "title": "A", "provider": "convoi", "agent_id": "bad", "avatar": True,
             "push_to_talk": True, "text_only": "only", "region": "mars"}
        )  # fmt: skip
    (described,) = describe(caught.value)
    for words in ("agent_id: a Convoi agent id", "avatar is sent in", "push_to_talk needs", "region:"):
        assert words in described, described


def test_an_origin_is_kept_as_browsers_send_it() -> None:
    """A default port listed would never match: no browser sends it in Origin."""
    listed = ["https://Shop.example.com:443/", "http://shop.example.com:80", "https://shop.example.com:4430",
              "http://127.0.0.1:8080"]  # fmt: skip
    assert agent(allowed_origins=listed).allowed_origins == (
        "https://shop.example.com",
        "http://shop.example.com",
        "https://shop.example.com:4430",
        "http://127.0.0.1:8080",
    )


def test_a_caller_id_needs_e164_form_not_a_number_libphonenumber_calls_valid() -> None:
    """Ravan's ``from_number`` is our own number: a provider's test number (+1 555 …, which
    libphonenumber does not count as valid) is taken, spaces dropped; a number without its +
    or too long is not. Destinations are still judged by libphonenumber (tests/phone)."""

    def phone(**fields: Any) -> dict[str, Any]:
        return {"enabled": True, "allowed_countries": ["US"], **fields}

    ravan = {"provider": "ravan", "agent_id": "ag_1"}
    taken = Agent.model_validate(
        {"slug": "a", "title": "A", **ravan, "phone": phone(from_number="+1 555 123 4567")}
    )
    assert taken.phone is not None and taken.phone.from_number == "+15551234567"
    for number in ("15551234567", "+1555123456789012", "+0123456789", "call me"):
        with pytest.raises(ValidationError, match="E.164"):
            Agent.model_validate({"slug": "a", "title": "A", **ravan, "phone": phone(from_number=number)})


def test_convoi_phone_number_ids_and_slugs_may_hold_underscores() -> None:
    convoi = {"provider": "convoi", "agent_id": "agt_1", "web": False}
    numbered = Agent.model_validate(
        {"slug": "sales_bot", "title": "A", **convoi, "phone": {"enabled": True, "allowed_countries": ["US"],
                                                               "phone_number_id": "phn_test_number-1"}}
    )  # fmt: skip
    assert numbered.slug == "sales_bot" and numbered.phone is not None
    assert numbered.phone.phone_number_id == "phn_test_number-1"
    for slug in ("_a", "a_", "Sales", "a b"):
        with pytest.raises(ValidationError, match="slug"):
            agent(slug=slug)


def test_first_message_is_the_greeting_by_another_name() -> None:
    assert agent(first_message="Hi there!").greeting == "Hi there!"
    assert agent(greeting="Hello!").greeting == "Hello!"
    assert any("first_message" in problem for problem in problems(greeting="Hello!", first_message="Hi!"))


@pytest.mark.parametrize(
    ("table", "told"),
    [
        (
            {"provider": "convoi", "agent_id": "sqd_1"},
            "Convoi web calls need an agent id starting with 'agt_'",
        ),
        ({"push_to_talk": True, "text_only": "only"}, "push_to_talk needs the microphone"),
        ({"provider": "elevenlabs", "agent_id": "agent_1", "region": "us"}, "region: provider 'elevenlabs'"),
    ],
)
def test_a_broken_setting_does_not_hide_what_the_table_contradicts(table: dict[str, Any], told: str) -> None:
    """Issue 9: every problem at once. The checks of settings against the provider and each other
    ran only once every field was valid, so a table with a bad ``theme`` as well was told only
    that, and the operator met the rest on the next start."""
    found = problems(**table, theme="x", max_call_s=-5)
    assert any("theme:" in problem for problem in found) and any(
        "max_call_s:" in problem for problem in found
    )
    assert any(told in problem for problem in found), found


def test_no_table_checks_when_the_provider_or_its_agent_id_is_what_is_broken() -> None:
    found = problems(provider="nope", theme="x", push_to_talk=True, text_only="only")
    assert [problem.split(":")[1].strip() for problem in found] == ["provider", "theme"], found


@pytest.mark.parametrize(
    "logo", ["//cdn.example/logo.png", "/\\cdn.example/logo.png", "http://x.example/l.png"]
)
def test_a_logo_elsewhere_than_https_or_this_site_is_refused(logo: str) -> None:
    """ "A path on this site" took ``//host/…`` and ``/\\host/…``, which browsers load from another
    host (and over the page's own scheme)."""
    found = problems(logo_url=logo)
    assert found == ["[agents.a]: logo_url: must be an https:// URL or a path on this site"]
    assert agent(logo_url="/static/logo.png").logo_url == "/static/logo.png"
    assert agent(logo_url="https://cdn.example/logo.png").logo_url == "https://cdn.example/logo.png"
