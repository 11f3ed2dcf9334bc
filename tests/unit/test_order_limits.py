"""The programme's order limits as counted: UTC days, weeks from Monday, and who pays."""

from __future__ import annotations

from datetime import UTC, datetime

from actors.order_limits import DAY_MS, reached, redeemer, week_start
from bus.messages.orders import PlaceOrder
from bus.messages.tenant_config import OrderRules
from bus.messages.treasury import FulfilOrder


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_a_week_starts_on_monday_at_midnight_utc() -> None:
    assert week_start(ms("2026-11-27T15:30:00")) == ms("2026-11-23T00:00:00")  # a Friday
    assert week_start(ms("2026-11-23T00:00:00")) == ms("2026-11-23T00:00:00")
    assert week_start(ms("2026-11-22T23:59:59.999")) == ms("2026-11-16T00:00:00")
    assert week_start(0) == ms("1969-12-29T00:00:00")


def test_a_day_limit_counts_today_only() -> None:
    limits = OrderRules(per_day=2)
    now = ms("2026-11-27T10:00:00")
    yesterday = [ms("2026-11-26T23:59:59.999")] * 5
    assert not reached(limits, yesterday, now)
    assert not reached(limits, [*yesterday, ms("2026-11-27T00:00:00")], now)
    assert reached(limits, [ms("2026-11-27T00:00:00"), ms("2026-11-27T09:59:00")], now)
    assert not reached(limits, [now - 1] * 2, now + DAY_MS)  # the next day starts afresh


def test_a_week_limit_counts_since_monday() -> None:
    limits = OrderRules(per_day=3, per_week=4)
    friday = ms("2026-11-27T10:00:00")
    last_week = [ms("2026-11-22T12:00:00")] * 10
    this_week = [ms("2026-11-23T08:00:00"), ms("2026-11-24T08:00:00"), ms("2026-11-25T08:00:00")]
    assert not reached(limits, [*last_week, *this_week], friday)
    assert reached(limits, [*this_week, ms("2026-11-26T08:00:00")], friday)
    next_monday = ms("2026-11-30T00:00:00")
    assert not reached(limits, [*this_week, ms("2026-11-26T08:00:00")], next_monday)
    assert not reached(OrderRules(), [friday] * 100, friday)  # no limits


def test_only_orders_paid_with_a_persons_points_are_limited() -> None:
    redemption = PlaceOrder("o1", "card-de", 2500, "ann")
    gift = PlaceOrder("o2", "card-de", 2500, "ann", budget_id="b1")
    assert (redeemer(redemption), redeemer(gift)) == ("ann", None)
    fulfil = FulfilOrder("o3", "ann", "wallet:ann", "card-de", 2500, "EUR", 2500, "PTS", "", 1)
    assert redeemer(fulfil) == "ann"
    assert (
        redeemer(FulfilOrder("o4", "ann", "budget:b1", "card-de", 2500, "EUR", 2500, "EUR", "", 1))
        is None
    )
