"""An order's price: face value plus markup, converted and rounded up once, in integers
and fractions only (ADR 10)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from actors.orders import final_price, price
from bus.errors import ErrorCode
from bus.messages import Err
from bus.messages.catalogue import ProductView
from bus.messages.orders import PlaceOrder


def product(currency: str, markup_bps: int) -> ProductView:
    return ProductView(
        "p", "Brand", "gift_card", "shopping", "P", "", "", "", ("US",), currency, (100,),
        None, markup_bps, True, False, ("en",),
    )  # fmt: skip


def order(face_value_minor: int) -> PlaceOrder:
    return PlaceOrder("ord_1", "p", face_value_minor, "ann@example.com", "b1")


@given(st.integers(1, 2**53), st.integers(0, 10_000))
def test_the_price_is_the_exact_ceiling_at_any_size(face_value: int, markup_bps: int) -> None:
    exact = Fraction(face_value * (10_000 + markup_bps), 10_000)
    assert price(face_value, markup_bps) == -(-exact.numerator // exact.denominator)


def test_a_large_face_value_loses_no_unit() -> None:
    # face * 1.7814 as a float quotient came out one unit short
    assert price(16_317_918_216_258, 7_814) == 29_068_739_510_443


def test_a_converted_price_is_rounded_up_once_not_twice() -> None:
    """USD 1.00 with 1 bps markup is USD 1.0001; at 150 JPY per USD that is 150.015 yen,
    151 rounded up. Rounding the markup up to a whole cent first charged 152."""
    priced = final_price(product("USD", 1), order(100), "JPY", "JPY", "", {("USD", "JPY"): "150"})
    assert priced == (151, "JPY", "150", "")


def test_points_are_priced_from_the_exact_amount() -> None:
    """EUR 1.00 with 1 bps markup at 1,000 points per euro: 1,000.1 points, so 1,001."""
    priced = final_price(product("EUR", 1), order(100), "EUR", "PTS", "1000", {})
    assert priced == (1001, "PTS", "", "1000")


def test_a_price_beyond_any_balance_is_refused() -> None:
    """At a fine enough points rate a large face value costs more points than any wallet
    can hold (2**62): the order is refused as invalid, not written with that price."""
    priced = final_price(product("EUR", 0), order(2**53), "EUR", "PTS", "999999999", {})
    assert isinstance(priced, Err)
    assert priced.code == ErrorCode.INVALID_REQUEST.value
    assert final_price(product("EUR", 0), order(2**40), "EUR", "PTS", "1000", {}) == (
        2**40 * 10,
        "PTS",
        "",
        "1000",
    )
