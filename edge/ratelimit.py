"""Rate limits: a token bucket per principal (and per client address on the token
endpoint), answered with 429 and ``Retry-After``.

Buckets live in Redis when one is configured — shared by every edge process — and in
this process otherwise. The Redis limiter is given to the app by the composition root
(``storage.redis_limiter``); if Redis fails, the edge falls back to its own buckets:
looser (per process) for a while, never refusing because of the outage.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

from edge.fallback import Fallback


class RateLimiter(Protocol):
    async def take(self, key: str, rate_per_s: float, burst: int) -> float:
        """Take one token from ``key``'s bucket: 0.0 if there was one, otherwise the
        seconds until there will be (nothing taken)."""
        ...


class LocalLimiter:
    """Token buckets in this process; the least recently used are forgotten past
    ``capacity`` (a forgotten bucket is full again: generous, never wrong)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._capacity = capacity

    async def take(self, key: str, rate_per_s: float, burst: int) -> float:
        now = time.monotonic()
        tokens, last = self._buckets.pop(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate_per_s)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / rate_per_s
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._capacity:
            self._buckets.popitem(last=False)
        return wait


class ResilientLimiter:
    """A shared limiter (Redis) with this process's buckets to fall back on
    (:mod:`edge.fallback`)."""

    def __init__(self, shared: RateLimiter | None) -> None:
        self.shared = shared
        self.local = LocalLimiter()
        self.fallback = Fallback("shared rate limits")

    @property
    def status(self) -> str:
        """For ``/readyz``: where the buckets are, and whether that is degraded."""
        if self.shared is None:
            return "in-process"
        if self.fallback.degraded:
            return f"degraded: {self.fallback.reason}; using in-process buckets"
        return "redis ok"

    async def take(self, key: str, rate_per_s: float, burst: int) -> float:
        if self.shared is not None and self.fallback.use_shared():
            try:
                wait = await self.shared.take(key, rate_per_s, burst)
            except Exception as e:  # any failure of the shared store: degrade, do not fail
                self.fallback.failed(e)
            else:
                self.fallback.succeeded()
                return wait
        return await self.local.take(key, rate_per_s, burst)
