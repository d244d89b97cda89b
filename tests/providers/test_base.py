"""What every provider adapter shares: reading times, numbers and tokens from providers' answers."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from webapp.errors import ProviderBadResponse
from webapp.providers.base import (
    MAX_TOKEN_CHARS,
    WebCall,
    complete_from_token,
    livekit_url_problem,
    optional_number,
    parse_time,
    require_livekit_url,
    require_str,
    require_token,
    shifted,
)
from webapp.providers.retell import RetellSettings


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T14:00:00+02:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),  # no zone: UTC
        (1772366400000, datetime(2026, 3, 1, 12, tzinfo=UTC)),  # epoch milliseconds
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),  # Go's zero time
        ("0001-01-01T00:00:00+05:30", None),  # before year 1 in UTC: it raised OverflowError
        ("9999-12-31T23:59:59-05:00", None),  # after year 9999 in UTC: the same
        (10**20, None),
        ("yesterday", None),
        ("", None),
        (True, None),
        (None, None),
    ],
)
def test_a_time_is_aware_utc_or_none(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.35, 0.35), ("0.35", 0.35), (" 2 ", 2.0), (7, 7.0), ("NaN", None), (float("inf"), None), ("x", None),
     (True, None), (None, None)],
)  # fmt: skip
def test_a_number_is_finite_or_none(value: object, expected: float | None) -> None:
    assert optional_number(value) == expected


@pytest.mark.parametrize(
    ("moment", "seconds", "expected"),
    [
        (datetime(2026, 3, 1, tzinfo=UTC), 90.5, datetime(2026, 3, 1, 0, 1, 30, 500000, tzinfo=UTC)),
        (datetime(2026, 3, 1, tzinfo=UTC), -60, datetime(2026, 2, 28, 23, 59, tzinfo=UTC)),
        (datetime(2026, 3, 1, tzinfo=UTC), 1e300, None),  # it raised OverflowError
        (datetime(9999, 12, 31, tzinfo=UTC), 86_400, None),  # past year 9999: the same
        (None, 5, None),
        (datetime(2026, 3, 1, tzinfo=UTC), None, None),
    ],
)
def test_a_moment_shifted_is_on_the_calendar_or_none(
    moment: datetime | None, seconds: float | None, expected: datetime | None
) -> None:
    assert shifted(moment, seconds) == expected


def test_a_token_whose_expiry_is_off_the_calendar_leaves_the_expiry_unknown() -> None:
    """A provider's token with an absurd exp raised OverflowError: the caller's call was a 500."""

    def token(claims: dict[str, object]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"e30.{payload}.sig"

    absurd = complete_from_token(WebCall("c1", "wss://lk.example", token({"exp": 1e20, "sub": "user_1"})))
    assert (absurd.identity, absurd.expires_at) == ("user_1", None)
    before = datetime(2026, 3, 1, 11, tzinfo=UTC)
    fine = complete_from_token(WebCall("c1", "wss://lk.example", token({"exp": 1772366400})), now=before)
    assert fine.expires_at == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_token_expired_beyond_the_clock_skew_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def token(exp: int) -> str:
        payload = base64.urlsafe_b64encode(json.dumps({"exp": exp}).encode()).decode().rstrip("=")
        return f"e30.{payload}.sig"

    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="webapp.providers.base"):
        late = complete_from_token(WebCall("c1", "wss://lk.example", token(1772366400 - 29)), now=now)
        assert late.expires_at is not None and not caplog.records  # 29 s: our clock may be behind
        later = complete_from_token(WebCall("c1", "wss://lk.example", token(1772366400 - 31)), now=now)
    assert later.expires_at == datetime(2026, 3, 1, 11, 59, 29, tzinfo=UTC)
    assert [record.getMessage() for record in caplog.records] == [
        "provider answered a token that expired 31 s ago: the page may not join"
    ]


@pytest.mark.parametrize(
    "url", ["wss://lk.example", "ws://127.0.0.1:7880", "https://lk.example/rtc", "http://[::1]:7880"]
)
def test_a_livekit_url_with_a_host_passes(url: str) -> None:
    assert livekit_url_problem(url) is None and require_livekit_url(f" {url} ") == url


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "ftp://x", "notaurl", "wss://", "wss:lk.example", "WSS://lk.example",
     "wss://lk.example:99999", "wss://lk\texample", "wss://lk.example/" + "a" * 2048, 7, None],
)  # fmt: skip
def test_a_livekit_url_the_browser_must_not_get_is_a_bad_response(url: object) -> None:
    with pytest.raises(ProviderBadResponse):
        require_livekit_url(url)


def test_our_settings_follow_the_same_livekit_url_rule() -> None:
    with pytest.raises(ValidationError, match="with a host"):
        RetellSettings.model_validate({"RETELL_LIVEKIT_URL": "wss://"})


def test_ids_and_tokens_are_bounded_text() -> None:
    assert require_str(" " + "i" * 255 + " ") == "i" * 255
    assert require_token("t" * MAX_TOKEN_CHARS) == "t" * MAX_TOKEN_CHARS
    for bad in ("i" * 256, 12345, {"a": 1}, "  "):
        with pytest.raises(ProviderBadResponse):
            require_str(bad)
    with pytest.raises(ProviderBadResponse):
        require_token("t" * (MAX_TOKEN_CHARS + 1))
