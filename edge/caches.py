"""What the edge keeps to answer sooner, and the order path that uses it.

One :class:`~edge.cache.ResilientCache` (Redis shared by every edge when configured,
this process's memory otherwise or while Redis is away) holds the catalogue pages
(:mod:`edge.catalogue_pages`), the fraud velocity counters (:mod:`edge.velocity`) and
the locks and replies of keyed orders (:mod:`edge.keyed_orders`). None of it is the
truth: the actors are (ADR 23).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bus.errors import ErrorCode
from bus.messages import Err, ReplyValue
from bus.messages.orders import OrderView
from edge.cache import Cache, ResilientCache
from edge.catalogue_pages import CataloguePages
from edge.config import EdgeConfig
from edge.keyed_orders import Busy, KeyedOrders, fingerprint
from edge.schemas import PlaceOrderIn
from edge.velocity import REPLAYED, Counted, Velocity


@dataclass(frozen=True)
class EdgeCaches:
    cache: ResilientCache
    pages: CataloguePages
    velocity: Velocity
    orders: KeyedOrders

    @classmethod
    def build(cls, config: EdgeConfig, shared: Cache | None) -> EdgeCaches:
        cache = ResilientCache(shared)
        return cls(
            cache,
            CataloguePages(cache, config.catalogue_cache_ttl_s),
            Velocity(cache, config.velocity_orders_per_hour),
            KeyedOrders(
                cache,
                lock_ttl_s=config.request_timeout_s + 1.0,
                wait_s=config.idempotency_wait_s,
                reply_ttl_s=config.idempotency_reply_ttl_s,
            ),
        )

    async def place_order(
        self,
        tenant: str,
        subject: str,
        key: str | None,
        body: PlaceOrderIn,
        send: Callable[[], Awaitable[ReplyValue | Err]],
    ) -> ReplyValue | Err:
        """``send`` the order unless a kept reply answers it; at most one in flight per
        key; counted for velocity if the actor took it as a new order."""
        if not key:
            return await self._counted(tenant, subject, None, send)
        orders = self.orders
        slot, print_ = orders.slot(tenant, subject, key), fingerprint(body)
        held = await orders.begin(slot, print_)
        if isinstance(held, OrderView):
            return held
        if isinstance(held, Busy):
            return Err.of(
                ErrorCode.IDEMPOTENCY_KEY_IN_USE,
                f"a request with the Idempotency-Key {key!r} is still in progress",
            )
        value: ReplyValue | Err | None = None
        try:
            value = await self._counted(tenant, subject, slot, send)
            return value
        finally:
            await orders.finish(slot, held, print_, value if isinstance(value, OrderView) else None)

    async def _counted(
        self,
        tenant: str,
        subject: str,
        slot: str | None,
        send: Callable[[], Awaitable[ReplyValue | Err]],
    ) -> ReplyValue | Err:
        """Send the order, counted for velocity unless it is a replay of a keyed order
        counted before (``slot`` names the key)."""
        velocity = self.velocity
        counted = await velocity.count(tenant, subject, slot)
        if isinstance(counted, Err):
            return counted
        if counted is REPLAYED:
            return await send()  # the actor answers with the order it has
        value = await send()
        if isinstance(counted, Counted) and not (
            isinstance(value, OrderView) and (slot is None or await velocity.mark(slot))
        ):  # refused, lost, or counted by a concurrent duplicate
            await velocity.give_back(counted)
        return value
