"""Rate-limit buckets in Redis, shared by every edge process (``edge.ratelimit``).

One Lua script per take, so that reading, refilling and taking are one atomic step;
Redis's own clock (``TIME``) is used, so edges with skewed clocks agree. A bucket's key
expires once it would be full again.
"""

from __future__ import annotations

from storage.redis_cache import open_redis
from storage.redis_wire import RedisWire

_TAKE = """
local now = redis.call('TIME')
local now_s = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, at = burst, now_s end
tokens = math.min(burst, tokens + (now_s - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now_s))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisLimiter:
    """Buckets on the process's Redis client (``storage.redis_cache.open_redis``), or
    on a client of its own when given a URL."""

    def __init__(self, redis_or_url: RedisWire | str, prefix: str = "pb:rl:") -> None:
        self._owns_client = isinstance(redis_or_url, str)
        self._client = open_redis(redis_or_url) if isinstance(redis_or_url, str) else redis_or_url
        self._prefix = prefix
        self._script = self._client.script(_TAKE)

    async def take(self, key: str, rate_per_s: float, burst: int) -> float:
        wait = await self._script([self._prefix + key], [rate_per_s, burst])
        return float(wait)

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
