"""The points rate's rounding: the points pool never pays out more than it was given."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from bus.messages.common import minor_digits
from bus.messages.treasury import cost_of_points, points_for, value_of_points

rates = st.builds(
    lambda whole, frac: f"{whole}.{frac}" if frac else str(whole or 1),
    st.integers(0, 100_000),
    st.sampled_from(["", "5", "25", "333", "125", "000001"]),
).filter(lambda r: Fraction(r) > 0)
currencies = st.sampled_from(["EUR", "JPY", "KWD"])


@given(
    rates,
    currencies,
    st.lists(st.integers(1, 10**7), min_size=1, max_size=20),
    st.lists(st.integers(1, 10**6), max_size=20),
)
def test_the_pool_always_covers_the_points_outstanding(
    rate: str, currency: str, issues: list[int], prices: list[int]
) -> None:
    point_value = Fraction(10 ** minor_digits(currency)) / Fraction(rate)  # minor units
    pool = sum(cost_of_points(n, currency, rate) for n in issues)
    points = sum(issues)
    for price in prices:  # each redemption the wallet can afford
        spent = points_for(price, currency, rate)
        if spent > points:
            continue
        assert spent * point_value >= price  # a price is never paid with fewer points
        assert (spent - 1) * point_value < price  # …nor with more than needed
        pool -= value_of_points(spent, currency, rate)
        points -= spent
        assert pool >= points * point_value >= 0


@given(rates, currencies, st.integers(1, 10**9))
def test_issue_cost_and_value_bracket_the_exact_value(rate: str, currency: str, n: int) -> None:
    exact = n * Fraction(10 ** minor_digits(currency)) / Fraction(rate)
    assert value_of_points(n, currency, rate) <= exact <= cost_of_points(n, currency, rate)
    assert cost_of_points(n, currency, rate) - value_of_points(n, currency, rate) <= 1
