"""One suite over every rate limiter: in-process buckets and Redis (real, on 6379)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from edge.ratelimit import LocalLimiter, RateLimiter, ResilientLimiter
from storage.redis_limiter import RedisLimiter
from tests.support import unavailable

REDIS_URL = os.environ.get("PERKBUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "local":
        yield LocalLimiter()
        return
    prefix = f"pb:test:{uuid.uuid4().hex[:8]}:"
    store = RedisLimiter(REDIS_URL, prefix=prefix)
    try:
        await store.take("ping", 1, 1)
    except Exception as e:
        await store.close()
        unavailable(f"Redis at {REDIS_URL} is not reachable: {e}")
    yield store
    client = redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    await store.close()


async def test_a_bucket_allows_its_burst_then_says_how_long_to_wait(limiter: RateLimiter) -> None:
    waits = [await limiter.take("acme:ann", rate_per_s=10, burst=5) for _ in range(7)]
    assert waits[:5] == [0.0] * 5
    assert 0 < waits[5] <= 0.1  # one token every 100 ms
    assert await limiter.take("acme:bob", rate_per_s=10, burst=5) == 0.0  # a bucket each
    await asyncio.sleep(0.25)  # refilled by two tokens or so
    assert await limiter.take("acme:ann", rate_per_s=10, burst=5) == 0.0


async def test_refused_takes_take_nothing(limiter: RateLimiter) -> None:
    assert await limiter.take("k", rate_per_s=2, burst=1) == 0.0
    for _ in range(20):  # hammering an empty bucket does not push the wait further out
        wait = await limiter.take("k", rate_per_s=2, burst=1)
    assert 0 < wait <= 0.5


async def test_a_failing_shared_store_falls_back_to_local_buckets() -> None:
    broken = RedisLimiter("redis://127.0.0.1:1/0")  # nothing listens there
    limiter = ResilientLimiter(broken)
    waits = [await limiter.take("acme:ann", rate_per_s=1, burst=2) for _ in range(3)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2] > 0  # still limited, by this process
    await broken.close()
