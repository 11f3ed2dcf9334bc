"""Minor units follow ISO 4217: a price converted into or out of a currency without
cents, or with three or four decimals, keeps its value."""

from __future__ import annotations

import pytest

from bus.messages.common import convert_minor, minor_digits


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        ("EUR", 2), ("USD", 2), ("JPY", 0), ("XAF", 0), ("XPF", 0), ("PYG", 0), ("RWF", 0),
        ("VUV", 0), ("KWD", 3), ("TND", 3), ("CLF", 4), ("UYW", 4), ("PTS", 0),
    ],
)  # fmt: skip
def test_each_currency_has_its_iso_minor_digits(currency: str, digits: int) -> None:
    assert minor_digits(currency) == digits


def test_a_price_in_cfa_francs_converts_to_its_value_in_euros() -> None:
    """5,000 francs (no centimes) at 0.0015245 EUR each are EUR 7.6225: 763 cents. With
    francs taken to have cents, the same 5,000 came to 8 cents."""
    assert convert_minor(5_000, "XAF", "EUR", "0.0015245") == 763
    assert convert_minor(763, "EUR", "XAF", "655.957") == 5_005  # 5,004.95… rounded up
