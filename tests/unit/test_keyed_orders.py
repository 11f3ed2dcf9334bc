"""Keyed orders at the edge: a duplicate waiting for the key's holder takes its reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bus.messages.common import Money
from bus.messages.orders import OrderView
from edge.cache import LocalCache, ResilientCache
from edge.keyed_orders import Busy, KeyedOrders, fingerprint
from edge.schemas import PlaceOrderIn

BODY = PlaceOrderIn(product_id="card-de", face_value_minor=2500, recipient="p1")
VIEW = OrderView(
    order_id="ord_1",
    status="fulfilled",
    recipient="p1",
    payer="budget:b",
    product_id="card-de",
    face_value=Money(2500, "EUR"),
    price=Money(2500, "EUR"),
    code_id="vch_1",
    reason="",
    external_id="",
    created_ms=1,
    updated_ms=2,
)


class FinishesWhileLooked(LocalCache):
    """A cache where ``then`` runs right after a waiter's look for a kept reply finds
    none: the holder of the key finishes between that look and the waiter's next try.
    (The look inside ``claim`` is not one: there it and the lock are one step.)"""

    def __init__(self) -> None:
        super().__init__()
        self.then: Callable[[], Awaitable[None]] | None = None

    async def claim(
        self, key: str, lock_key: str, token: str, ttl_s: float
    ) -> tuple[bytes | None, bool]:
        then, self.then = self.then, None
        try:
            return await super().claim(key, lock_key, token, ttl_s)
        finally:
            self.then = then

    async def get(self, key: str) -> bytes | None:
        value = await super().get(key)
        if key.startswith("ordr:") and value is None and self.then is not None:
            then, self.then = self.then, None
            await then()
        return value


def keyed(cache: LocalCache) -> KeyedOrders:
    return KeyedOrders(ResilientCache(None, cache), lock_ttl_s=10, wait_s=0.3, reply_ttl_s=60)


async def test_a_duplicate_that_finds_the_key_free_takes_the_reply_its_holder_kept() -> None:
    cache = FinishesWhileLooked()
    orders = keyed(cache)
    slot, print_ = orders.slot("acme", "user", "k1"), fingerprint(BODY)
    holder = await orders.begin(slot, print_)
    assert isinstance(holder, str)  # the first request holds the key

    async def holder_finishes() -> None:
        await orders.finish(slot, holder, print_, VIEW)

    cache.then = holder_finishes  # after the waiter's first look, before its next try
    waited = await orders.begin(slot, print_)
    assert waited == VIEW  # answered with the kept reply: no second request
    again = await orders.begin(slot, print_)
    assert again == VIEW
    # and the key is free: a request under it with another body may lock it
    other = await orders.begin(slot, fingerprint(PlaceOrderIn("card-fr", 2500, "p1")))
    assert isinstance(other, str)


async def test_a_duplicate_gets_the_key_when_its_holder_kept_no_reply() -> None:
    cache = FinishesWhileLooked()
    orders = keyed(cache)
    slot, print_ = orders.slot("acme", "user", "k2"), fingerprint(BODY)
    holder = await orders.begin(slot, print_)
    assert isinstance(holder, str)

    async def holder_fails() -> None:  # a retryable failure: nothing kept
        await orders.finish(slot, holder, print_, None)

    cache.then = holder_fails
    waited = await orders.begin(slot, print_)
    assert isinstance(waited, str)  # the waiter now holds the key
    assert waited != holder
    assert isinstance(await orders.begin(slot, print_), Busy)  # it is held again


async def test_busy_after_the_wait() -> None:
    orders = KeyedOrders(ResilientCache(None, LocalCache()), 10, wait_s=0.05, reply_ttl_s=60)
    slot, print_ = orders.slot("acme", "user", "k3"), fingerprint(BODY)
    assert isinstance(await orders.begin(slot, print_), str)
    assert isinstance(await orders.begin(slot, print_), Busy)
