"""Fraud velocity over the in-process cache: the limit, the refusal's wait, what is
given back, and keyed orders counted once."""

from __future__ import annotations

from edge.cache import ResilientCache
from edge.problems import Throttled
from edge.velocity import REPLAYED, Counted, Velocity


async def test_orders_past_the_limit_are_refused_without_being_counted() -> None:
    velocity = Velocity(ResilientCache(None), per_window=2, window_s=3600)
    first = await velocity.count("acme", "ann")
    assert isinstance(first, Counted)
    assert isinstance(await velocity.count("acme", "ann"), Counted)
    refused = await velocity.count("acme", "ann")
    assert isinstance(refused, Throttled)
    assert refused.code == "velocity_limited"
    assert refused.retryable
    # A full hour by itself: the wait ends in the next hour, once enough of this one
    # has faded (a third of it here: 2 of 2 orders must weigh at most 1).
    assert 1 <= refused.retry_after_s <= 2 * 3600
    assert isinstance(await velocity.count("acme", "bob"), Counted)  # a count each
    assert isinstance(await velocity.count("globex", "ann"), Counted)
    await velocity.give_back(first)  # not accepted after all: room for one more
    assert isinstance(await velocity.count("acme", "ann"), Counted)
    assert isinstance(await velocity.count("acme", "ann"), Throttled)


async def test_a_keyed_order_is_counted_once_and_its_replays_never_refused() -> None:
    cache = ResilientCache(None)
    velocity = Velocity(cache, per_window=2)
    assert isinstance(await velocity.count("acme", "ann", "slot-1"), Counted)
    assert await velocity.mark("slot-1")
    assert not await velocity.mark("slot-1")  # a concurrent duplicate counted it first
    for _ in range(3):  # retries of slot-1: not counted, and nothing left counted
        assert await velocity.count("acme", "ann", "slot-1") is REPLAYED
    assert isinstance(await velocity.count("acme", "ann", "slot-2"), Counted)  # 2 of 2
    await velocity.mark("slot-2")
    assert await velocity.count("acme", "ann", "slot-1") is REPLAYED  # at the limit too
    assert isinstance(await velocity.count("acme", "ann", "slot-3"), Throttled)
    assert isinstance(await velocity.count("acme", "bob", "slot-4"), Counted)  # a count each


async def test_no_limit_counts_nothing() -> None:
    velocity = Velocity(ResilientCache(None), per_window=0)
    assert await velocity.count("acme", "ann") is None
    assert await velocity.count("acme", "ann", "slot") is None
