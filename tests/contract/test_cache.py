"""One suite over every cache: in-process and Redis (real, on 6379, keys under a unique
prefix removed afterwards); then the resilient cache over a Redis this test starts,
kills and starts again."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from edge.cache import Cache, LocalCache, ResilientCache
from storage.redis_cache import RedisCache, open_redis
from tests.servers import ServerFailed, free_port
from tests.servers.redis import redis_server
from tests.support import unavailable

REDIS_URL = os.environ.get("PERKBUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def _drop_prefix(url: str, prefix: str) -> None:
    client = redis.from_url(url)
    keys = [k async for k in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "local":
        yield LocalCache()
        return
    prefix = f"pb:test:{uuid.uuid4().hex[:8]}:"
    store = RedisCache(open_redis(REDIS_URL), prefix=prefix, owns_client=True)
    try:
        await store.ping()
    except Exception as e:
        await store.close()
        unavailable(f"Redis at {REDIS_URL} is not reachable: {e}")
    yield store
    await _drop_prefix(REDIS_URL, prefix)
    await store.close()


async def test_values_are_kept_until_they_expire_or_are_deleted(cache: Cache) -> None:
    assert await cache.get("page") is None
    await cache.set("page", b"\x00first", ttl_s=60)
    await cache.set("short", b"gone soon", ttl_s=0.2)
    assert await cache.get("page") == b"\x00first"
    assert await cache.get_many(["page", "short", "none"]) == [b"\x00first", b"gone soon", None]
    await cache.set("page", b"second", ttl_s=60)  # replaced
    assert await cache.get("page") == b"second"
    await asyncio.sleep(0.3)
    assert await cache.get("short") is None
    await cache.delete("page")
    await cache.delete("page")  # deleting what is gone is fine
    assert await cache.get("page") is None
    assert await cache.get_many([]) == []


async def test_counters_count_atomically_within_their_window(cache: Cache) -> None:
    counts = await asyncio.gather(*(cache.incr("orders:ann", ttl_s=60) for _ in range(20)))
    assert sorted(counts) == list(range(1, 21))  # each increment saw its own count
    assert await cache.incr("orders:ann", by=-1, ttl_s=60) == 19
    assert await cache.get("orders:ann") == b"19"
    assert await cache.incr("orders:bob", by=5) == 5  # a counter each
    await cache.incr("window", ttl_s=0.2)
    assert await cache.incr("window", ttl_s=60) == 2  # a later ttl does not extend it
    await asyncio.sleep(0.3)
    assert await cache.incr("window", ttl_s=60) == 1  # a new window
    assert await cache.incr("orders:bob") == 6  # no ttl: it stays


async def test_a_tally_counts_and_reads_in_one_step(cache: Cache) -> None:
    await cache.set("mark", b"1", ttl_s=60)
    assert await cache.tally("votes", 60, ["mark", "absent"]) == (1, [b"1", None])
    assert await cache.tally("votes", 60, ["votes"]) == (2, [b"2"])  # read after counting
    assert await cache.tally("votes", 60, []) == (3, [])
    assert await cache.incr("votes", by=-1) == 2  # the same counter as incr's
    tallies = await asyncio.gather(*(cache.tally("burst", 60, ["mark"]) for _ in range(10)))
    assert sorted(count for count, _ in tallies) == list(range(1, 11))
    assert {tuple(values) for _, values in tallies} == {(b"1",)}
    await cache.tally("window", 0.2, [])
    assert (await cache.tally("window", 60, []))[0] == 2  # a later ttl does not extend it
    await asyncio.sleep(0.3)
    assert (await cache.tally("window", 60, []))[0] == 1  # a new window


@pytest.mark.redis
async def test_a_tally_counts_once_when_redis_forgot_its_script() -> None:
    prefix = f"pb:test:{uuid.uuid4().hex[:8]}:"
    store = RedisCache(open_redis(REDIS_URL), prefix=prefix, owns_client=True)
    direct = redis.from_url(REDIS_URL)
    try:
        try:
            await store.ping()
        except Exception as e:
            unavailable(f"Redis at {REDIS_URL} is not reachable: {e}")
        await store.set("seen", b"yes", ttl_s=60)
        assert await store.tally("n", 60, ["seen"]) == (1, [b"yes"])
        await direct.script_flush()  # as a restarted server would have
        assert await store.tally("n", 60, ["seen"]) == (2, [b"yes"])  # sent whole, once
        assert await store.get("n") == b"2"
    finally:
        await direct.aclose()
        await _drop_prefix(REDIS_URL, prefix)
        await store.close()


async def test_a_lock_is_held_by_one_token_until_released_or_expired(cache: Cache) -> None:
    assert await cache.lock("order:k1", "first", ttl_s=60)
    assert not await cache.lock("order:k1", "second", ttl_s=60)
    assert not await cache.unlock("order:k1", "second")  # not the owner: nothing happens
    assert not await cache.lock("order:k1", "second", ttl_s=60)
    assert await cache.unlock("order:k1", "first")
    assert not await cache.unlock("order:k1", "first")  # released once
    assert await cache.lock("order:k1", "second", ttl_s=0.2)
    await asyncio.sleep(0.3)
    assert await cache.lock("order:k1", "third", ttl_s=60)  # the expired lock freed itself
    assert not await cache.unlock("order:k1", "second")  # and stays the new owner's
    assert await cache.get("order:k1") == b"third"


async def test_a_claim_gives_the_value_or_takes_the_lock_in_one_step(cache: Cache) -> None:
    assert await cache.claim("reply:k1", "lock:k1", "first", ttl_s=60) == (None, True)
    assert await cache.claim("reply:k1", "lock:k1", "second", ttl_s=60) == (None, False)
    assert await cache.settle("lock:k1", "second") is False  # not the owner: stays locked
    assert await cache.get("lock:k1") == b"first"
    # The owner keeps its reply and frees the key together.
    assert await cache.settle("lock:k1", "first", ("reply:k1", b"\x00reply", 60)) is True
    assert await cache.get("lock:k1") is None
    assert await cache.claim("reply:k1", "lock:k1", "third", ttl_s=60) == (b"\x00reply", False)
    assert await cache.get("lock:k1") is None  # a kept reply takes no lock
    # A claim's lock expires like any lock; a late settle still keeps its reply.
    assert await cache.claim("reply:k2", "lock:k2", "slow", ttl_s=0.2) == (None, True)
    await asyncio.sleep(0.3)
    assert await cache.claim("reply:k2", "lock:k2", "next", ttl_s=60) == (None, True)
    assert await cache.settle("lock:k2", "slow", ("reply:k2", b"late", 60)) is False
    assert await cache.get("lock:k2") == b"next"  # still the new owner's
    assert await cache.get("reply:k2") == b"late"
    won = await asyncio.gather(
        *(cache.claim("reply:k3", "lock:k3", f"t{i}", 60) for i in range(10))
    )
    assert [taken for _, taken in won].count(True) == 1


async def test_concurrent_lockers_get_one_winner(cache: Cache) -> None:
    won = await asyncio.gather(*(cache.lock("k", f"t{i}", ttl_s=60) for i in range(10)))
    assert won.count(True) == 1


async def test_the_local_cache_forgets_the_least_recently_used_past_its_bounds() -> None:
    cache = LocalCache(capacity=3, max_bytes=10)
    for key in "abc":
        await cache.set(key, b"x", ttl_s=60)
    assert await cache.get("a") == b"x"  # a is now the most recently used
    await cache.set("d", b"x", ttl_s=60)
    assert await cache.get_many(["a", "b", "c", "d"]) == [b"x", None, b"x", b"x"]
    await cache.set("big", b"0123456789", ttl_s=60)  # alone fills the byte budget
    assert await cache.get_many(["a", "c", "d", "big"]) == [None, None, None, b"0123456789"]


async def test_a_cache_whose_redis_is_unreachable_answers_from_memory() -> None:
    broken = RedisCache(open_redis("redis://127.0.0.1:1/0"), owns_client=True)
    cache = ResilientCache(broken)
    await cache.set("page", b"p", ttl_s=60)
    assert await cache.get("page") == b"p"
    assert await cache.incr("n", ttl_s=60) == 1
    assert await cache.lock("l", "me", ttl_s=60)
    assert not await cache.lock("l", "you", ttl_s=60)
    assert await cache.unlock("l", "me")
    assert cache.status.startswith("degraded: ")
    await broken.close()


async def test_without_a_shared_cache_it_is_in_process() -> None:
    cache = ResilientCache(None)
    await cache.set("page", b"p", ttl_s=60)
    assert await cache.get("page") == b"p"
    assert cache.status == "in-process"


@pytest.mark.redis
async def test_a_redis_restart_degrades_the_cache_and_it_comes_back(tmp_path: Path) -> None:
    redis_port = free_port()
    url = f"redis://127.0.0.1:{redis_port}/0"
    try:
        server = redis_server(redis_port, tmp_path / "redis")
        server.__enter__()
    except (ServerFailed, FileNotFoundError) as e:
        unavailable(f"cannot start redis-server: {e}")
    shared = RedisCache(open_redis(url), owns_client=True)
    cache = ResilientCache(shared)
    cache.fallback.retry_s = 0.05
    direct = redis.from_url(url)
    try:
        await cache.set("page", b"before", ttl_s=60)
        assert await direct.get("pb:c:page") == b"before"  # it is in Redis
        assert cache.status == "redis ok"

        server.__exit__(None, None, None)  # Redis is gone (and its memory with it)
        assert await cache.get("page") is None  # answered, from memory: a miss
        await cache.set("page", b"during", ttl_s=60)
        assert await cache.get("page") == b"during"
        assert await cache.incr("orders", ttl_s=60) == 1
        assert await cache.lock("order:k", "me", ttl_s=60)
        assert cache.status.startswith("degraded: ")

        server = redis_server(redis_port, tmp_path / "redis")  # back, on the same port
        server.__enter__()
        await direct.aclose()
        direct = redis.from_url(url)
        for _ in range(100):  # the first operation after the retry pause goes to Redis
            await asyncio.sleep(0.06)
            await cache.set("page", b"after", ttl_s=60)
            if not cache.fallback.degraded:
                break
        assert cache.status == "redis ok"
        assert await direct.get("pb:c:page") == b"after"  # Redis is used again
        assert await cache.incr("orders", ttl_s=60) == 1  # Redis's counter, new
        assert await cache.unlock("order:k", "me")  # the lock taken in memory is freed
    finally:
        await direct.aclose()
        await shared.close()
        server.__exit__(None, None, None)
