"""The treasury's held codes: asked for ahead of need, each held once, a stale lease
(asked for before a reload) never added after it."""

from __future__ import annotations

from actors.leased_codes import LEASE_MAX, LEASE_MIN, LOW_WATER, REFILL, LeasedCodes

POOL = ("card-de", 2500)


def codes(*ids: str) -> list[tuple[str, int]]:
    return [(i, 0) for i in ids]


def test_a_batch_short_of_codes_asks_for_the_shortfall_and_a_refill() -> None:
    held = LeasedCodes()
    held.add(POOL, codes("a", "b"))
    assert held.to_lease(POOL, 2) == 0
    assert held.to_lease(POOL, 10) == 8 + REFILL * 10
    assert held.to_lease(POOL, 900) == LEASE_MAX


def test_orders_one_at_a_time_lease_at_least_the_minimum() -> None:
    held = LeasedCodes()
    assert REFILL < LEASE_MIN
    assert held.to_lease(POOL, 1) == 1 + LEASE_MIN
    held.add(POOL, codes("a", "b"))
    assert held.to_refill(POOL, 1) == LEASE_MIN  # one left: under two batches of one


def test_a_refill_is_asked_for_only_below_the_low_water_mark() -> None:
    held = LeasedCodes()
    held.add(POOL, codes(*(str(i) for i in range(10))))
    assert held.to_refill(POOL, 10 // (LOW_WATER + 1)) == 0  # enough left after it
    held.add(POOL, codes(*(str(i) for i in range(10, 30))))
    assert held.to_refill(POOL, 12) == REFILL * 12  # 18 left, under two batches of 12
    assert held.to_refill(POOL, 400) == LEASE_MAX


def test_a_code_is_held_once_however_often_it_is_added() -> None:
    held = LeasedCodes()
    held.add(POOL, codes("a", "b"))
    held.add(POOL, codes("b", "c"))
    assert held.held(POOL) == 3
    taken = held.take(POOL, now_ms=1)
    assert taken == ("a", 0)
    held.give_back(POOL, taken)
    held.give_back(POOL, taken)
    assert held.held(POOL) == 3
    assert [held.take(POOL, 1) for _ in range(4)] == [("a", 0), ("b", 0), ("c", 0), None]
    held.add(POOL, codes("a"))  # given and then leased again: held again
    assert held.held(POOL) == 1


def test_expired_codes_are_never_taken() -> None:
    held = LeasedCodes()
    held.add(POOL, [("old", 5), ("new", 50), ("forever", 0)])
    assert held.take(POOL, now_ms=10) == ("new", 50)
    assert held.take(POOL, now_ms=10) == ("forever", 0)
    assert held.take(POOL, now_ms=10) is None


def test_every_load_starts_a_new_generation() -> None:
    held = LeasedCodes()
    before = held.generation
    held.load([("card-de", 2500, "x", 0)])
    assert held.generation == before + 1
    assert held.held(POOL) == 1
    held.clear()
    assert held.generation == before + 2
    assert held.held(POOL) == 0
