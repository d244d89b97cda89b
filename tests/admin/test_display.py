"""How the admin pages write a call's values (the Jinja filters of ``webapp.admin.display``)."""

from __future__ import annotations

import pytest

from webapp.admin.display import amount, number, talk_time


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        (0.35, "0.35"), (12345.0, "12345"), (1234.56, "1234.56"), (0.00001234, "0.00001234"),
        (1e20, "100000000000000000000"), (0.1 + 0.2, "0.30000000000000004"), (0.0, "0"), (10.0, "10"),
    ],
)  # fmt: skip
def test_a_cost_is_written_as_stored_in_plain_digits(stored: float, shown: str) -> None:
    """Never rounded and never in scientific notation (``%.4g`` did both); no ``.0`` on whole amounts."""
    assert amount(stored) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0, "0 s"), (95.4, "1 min 35 s"), (3599.4, "59 min 59 s"), (3599.6, "1 h"), (7530, "2 h 6 min"),
        (7500, "2 h 5 min"), (36_000, "10 h"), (4_000_000, "1,111 h 7 min"),
    ],
)  # fmt: skip
def test_talk_time_is_in_hours_and_minutes_once_it_is_an_hour(seconds: float, shown: str) -> None:
    assert talk_time(seconds) == shown


def test_a_count_has_its_thousands_apart() -> None:
    assert [number(n) for n in (0, 999, 1000, 1234567)] == ["0", "999", "1,000", "1,234,567"]
