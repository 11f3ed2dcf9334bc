"""The edge's cache and counters in Redis (``edge.cache.Cache``), shared by every edge.

One client per process (:func:`open_redis`: one connection carrying every command, ADR
34), shared with the rate limiter (``storage.redis_limiter``), with a short timeout: a
Redis that stops answering must cost a request half a second at most, after which the
edge falls back on its own memory (``edge.cache.ResilientCache``). Every key carries
``prefix``, so tests (and several systems on one Redis) keep to their own keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.redis_wire import RedisReplyError, RedisWire, unknown_script

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


#: A value to keep when settling a lock (``edge.cache.Keep``): key, value, seconds.
Keep = tuple[str, bytes, float]


def open_redis(url: str, timeout_s: float = 0.5) -> RedisWire:
    """The process's Redis client for ``redis://host:port/db``: one connection that
    carries every command (ADR 34). A command not answered within ``timeout_s`` fails,
    with every other command in flight, and the edge falls back on its own memory. No
    command is retried: a retried ``INCRBY`` whose first attempt did arrive would count
    twice."""
    return RedisWire(url, timeout_s)


class RedisCache:
    name = "cache:redis"

    def __init__(self, client: RedisWire, prefix: str = "pb:c:", owns_client: bool = False) -> None:
        self._client = client
        self._prefix = prefix
        self._owns_client = owns_client
        self._incr = client.script(_INCR)
        self._unlock = client.script(_UNLOCK)

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._client.call("GET", self._prefix + key)
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        prefix = self._prefix
        values: list[bytes | None] = await self._client.call("MGET", *[prefix + k for k in keys])
        return values

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._client.call("SET", self._prefix + key, value, "PX", _ms(ttl_s))

    async def delete(self, key: str) -> None:
        await self._client.call("DEL", self._prefix + key)

    async def incr(self, key: str, by: int = 1, ttl_s: float | None = None) -> int:
        ttl_ms = 0 if ttl_s is None else _ms(ttl_s)
        return int(await self._incr([self._prefix + key], [by, ttl_ms]))

    async def tally(
        self, key: str, ttl_s: float, also: Sequence[str]
    ) -> tuple[int, list[bytes | None]]:
        if not also:
            return await self.incr(key, 1, ttl_s), []
        prefix = self._prefix
        try:
            count, values = await self._client.call_many(
                self._incr.command([prefix + key], [1, _ms(ttl_s)]),
                ("MGET", *[prefix + k for k in also]),
            )
        except RedisReplyError as e:  # nothing was counted: the script failed
            if not unknown_script(e):
                raise
            return await self.incr(key, 1, ttl_s), await self.get_many(also)
        return int(count), values

    async def lock(self, key: str, token: str, ttl_s: float) -> bool:
        taken = await self._client.call("SET", self._prefix + key, token, "PX", _ms(ttl_s), "NX")
        return taken is not None

    async def unlock(self, key: str, token: str) -> bool:
        return bool(await self._unlock([self._prefix + key], [token]))

    async def claim(
        self, key: str, lock_key: str, token: str, ttl_s: float
    ) -> tuple[bytes | None, bool]:
        # GET and SET NX in one round trip (plain commands cost Redis less than a script).
        # Not atomic: a reply kept between the two is missed, and the order goes to the
        # actor, which answers it from its own record.
        prefix = self._prefix
        value, taken = await self._client.call_many(
            ("GET", prefix + key), ("SET", prefix + lock_key, token, "PX", _ms(ttl_s), "NX")
        )
        if value is not None and taken is not None:  # a kept reply needs no lock
            await self.unlock(lock_key, token)
        return value, value is None and taken is not None

    async def settle(self, lock_key: str, token: str, keep: Keep | None = None) -> bool:
        if keep is None:
            return await self.unlock(lock_key, token)
        prefix, (key, value, ttl_s) = self._prefix, keep
        try:
            _, freed = await self._client.call_many(
                ("SET", prefix + key, value, "PX", _ms(ttl_s)),
                self._unlock.command([prefix + lock_key], [token]),
            )
        except RedisReplyError as e:  # the value was set (its reply came first)
            if not unknown_script(e):
                raise
            return await self.unlock(lock_key, token)
        return bool(freed)

    async def ping(self) -> None:
        await self._client.call("PING")

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _ms(ttl_s: float) -> int:
    return max(1, int(ttl_s * 1000))
