"""What every provider adapter shares: reading times and numbers from providers' answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from webapp.providers.base import optional_number, parse_time


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
