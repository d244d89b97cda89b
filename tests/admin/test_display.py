"""How the admin pages write a call's values (the Jinja filters of ``webapp.admin.display``)."""

from __future__ import annotations

import pytest

from webapp.admin.display import amount


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
