"""The edge's cache and counters in Redis (``edge.cache.Cache``), shared by every edge.

One client per process (:func:`open_redis`), shared with the rate limiter
(``storage.redis_limiter``), with short socket timeouts: a Redis that stops answering
must cost a request half a second at most, after which the edge falls back on its own
memory (``edge.cache.ResilientCache``). Every key carries ``prefix``, so tests (and
several systems on one Redis) keep to their own keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

#: INCRBY, and an expiry on a counter that has none yet (a fixed window from its first
#: increment), in one step.
_INCR = """
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 and redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return n
"""

#: Delete the lock only if the caller's token still holds it.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def open_redis(url: str, timeout_s: float = 0.5, connections: int = 64) -> Any:
    """The process's Redis client for ``redis://host:port/db``.

    Its pool holds ``connections`` and a command waits (``timeout_s`` at most) for one
    to be free: under a burst of thousands of requests a pool that refused instead (the
    default one refuses past 100) would send the edge to its fallback while Redis is
    fine. No command is retried: a retried ``INCRBY`` whose first attempt did arrive
    would count twice; a failure goes to the in-process fallback instead."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
    return redis.Redis.from_pool(pool)


class RedisCache:
    name = "cache:redis"

    def __init__(self, client: Any, prefix: str = "pb:c:", owns_client: bool = False) -> None:
        self._client = client
        self._prefix = prefix
        self._owns_client = owns_client
        self._incr = client.register_script(_INCR)
        self._unlock = client.register_script(_UNLOCK)

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._client.get(self._prefix + key)
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        values: list[bytes | None] = await self._client.mget([self._prefix + k for k in keys])
        return values

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._client.set(self._prefix + key, value, px=max(1, int(ttl_s * 1000)))

    async def delete(self, key: str) -> None:
        await self._client.delete(self._prefix + key)

    async def incr(self, key: str, by: int = 1, ttl_s: float | None = None) -> int:
        ttl_ms = 0 if ttl_s is None else max(1, int(ttl_s * 1000))
        return int(await self._incr(keys=[self._prefix + key], args=[by, ttl_ms]))

    async def lock(self, key: str, token: str, ttl_s: float) -> bool:
        taken = await self._client.set(
            self._prefix + key, token, px=max(1, int(ttl_s * 1000)), nx=True
        )
        return bool(taken)

    async def unlock(self, key: str, token: str) -> bool:
        return bool(await self._unlock(keys=[self._prefix + key], args=[token]))

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
