"""What every provider adapter shares: reading times, numbers and tokens from providers' answers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from webapp.providers.base import WebCall, complete_from_token, optional_number, parse_time, shifted


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
    fine = complete_from_token(WebCall("c1", "wss://lk.example", token({"exp": 1772366400})))
    assert fine.expires_at == datetime(2026, 3, 1, 12, tzinfo=UTC)
