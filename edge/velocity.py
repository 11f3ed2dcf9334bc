"""Fraud velocity: how many orders one principal of a tenant placed in the last hour,
and a refusal (429 ``velocity_limited``, with ``Retry-After``) past the configured
limit (``EdgeConfig.velocity_orders_per_hour``).

The count is a sliding window made of two fixed ones — this hour's counter and the
last hour's, weighted by how much of it still lies within the window — so it costs one
increment and one read, and no list of timestamps. The order is counted *before* it is
sent (so concurrent orders cannot all slip under the limit) and given back if it was
not accepted as a new order: refused, failed to reach an actor, or a replay of an
earlier order under the same Idempotency-Key (each key whose order was counted is
marked, and its retries are not counted again).

Counting, reading the last hour's counter and looking for the key's mark are one step
of the cache (``Cache.tally``: one round trip to Redis, where they were three one after
the other). A replay is therefore counted for that round trip and given back at once: an
order of the same principal placed in between, with the limit reached exactly, may be
refused although the replay does not count.

The counters live in the shared cache (every edge counts together); while Redis is
away, each edge counts on its own — looser, never refusing because of the outage.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from bus.errors import ErrorCode
from edge.cache import ResilientCache
from edge.problems import Throttled


@dataclass(frozen=True)
class Counted:
    """An order counted in a window's counter (to give back if it does not count)."""

    key: str


class Replayed:
    """A keyed order's retry, whose order was counted before: not counted again."""


REPLAYED = Replayed()


def _mark(slot: str) -> str:
    return f"velk:{slot}"


class Velocity:
    def __init__(self, cache: ResilientCache, per_window: int, window_s: float = 3600.0) -> None:
        self.cache = cache
        self.per_window = per_window
        self.window_s = window_s

    async def count(
        self, tenant: str, subject: str, slot: str | None = None
    ) -> Counted | Throttled | Replayed | None:
        """Count one order of ``subject``; None when velocity checks are off, and
        :data:`REPLAYED` (nothing counted) if ``slot`` (``KeyedOrders.slot``) names a key
        whose order was counted before: its retries are not new orders."""
        if self.per_window <= 0:
            return None
        now, window = time.time(), self.window_s
        index, into = divmod(now, window)
        base = f"vel:{tenant}:{subject}:"
        key = f"{base}{int(index)}"
        also = [f"{base}{int(index) - 1}"]
        if slot is not None:
            also.append(_mark(slot))
        current, (previous, *marked) = await self.cache.tally(key, 2 * window, also)
        if marked and marked[0] is not None:
            await self.cache.incr(key, by=-1, ttl_s=2 * window)
            return REPLAYED
        elapsed = into / window
        if int(previous or 0) * (1 - elapsed) + current <= self.per_window:
            return Counted(key)
        await self.cache.incr(key, by=-1, ttl_s=2 * window)
        wait = self._wait(current - 1, int(previous or 0), elapsed)
        return Throttled(
            code=ErrorCode.VELOCITY_LIMITED,
            message=(
                f"more than {self.per_window} orders in {window / 3600:g} h by this "
                "principal; retry later"
            ),
            retryable=True,
            retry_after_s=max(1, math.ceil(wait)),
        )

    def _wait(self, current: int, previous: int, elapsed: float) -> float:
        """Seconds until one more order fits in the window, with no other order."""
        room = self.per_window - current - 1
        if room >= 0 and previous > 0:  # this window's counter has room: wait for the
            needed = 1 - room / previous  # last window's weight to fade enough
            return max(0.0, needed - elapsed) * self.window_s
        # This window is full by itself: wait for it to become the last one and fade.
        needed = 1 - (self.per_window - 1) / current if current else 0.0
        return (1 - elapsed + max(0.0, needed)) * self.window_s

    async def mark(self, slot: str) -> bool:
        """Mark the key's order as counted (for as long as it could count); False if a
        concurrent request under the key marked it first."""
        return await self.cache.lock(_mark(slot), "1", 2 * self.window_s)

    async def give_back(self, counted: Counted) -> None:
        await self.cache.incr(counted.key, by=-1, ttl_s=2 * self.window_s)
