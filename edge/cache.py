"""The edge's cache and counters: bytes with a time to live, counters that expire, and
short locks that only their owner releases.

What the edge keeps here is never the truth, only a way to answer sooner: catalogue
pages (:mod:`edge.catalogue_pages`), fraud velocity counters (:mod:`edge.velocity`),
locks and replies of keyed orders in flight (:mod:`edge.keyed_orders`). The ledger and
the actors' durable idempotency records stay the truth, so losing any of it — a Redis
restart, an eviction — costs a trip to an actor, never a wrong answer.

Two adapters: :class:`LocalCache` (this process, a bounded LRU with monotonic expiry;
the embedded default) and ``storage.redis_cache.RedisCache`` (shared by every edge,
given by the composition root). :class:`ResilientCache` puts them together: Redis while
it answers, this process's own while it does not (:mod:`edge.fallback`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from edge.fallback import Fallback

T = TypeVar("T")
#: A value to keep when settling a lock: its key, the value and its time to live (s).
Keep = tuple[str, bytes, float]


class Cache(Protocol):
    """One keyspace of bytes, counters and locks; every entry may expire."""

    name: str

    async def get(self, key: str) -> bytes | None:
        """The value, or None if absent or expired (a counter reads as its decimal)."""
        ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, by: int = 1, ttl_s: float | None = None) -> int:
        """Add ``by`` atomically and return the new count; a new counter starts at 0 and
        expires ``ttl_s`` after it was made (a fixed window), or never if None."""
        ...

    async def tally(
        self, key: str, ttl_s: float, also: Sequence[str]
    ) -> tuple[int, list[bytes | None]]:
        """In one step: add 1 to the counter ``key`` (as :meth:`incr` with ``ttl_s``)
        and read the values of ``also`` (as :meth:`get_many`)."""
        ...

    async def lock(self, key: str, token: str, ttl_s: float) -> bool:
        """Take ``key`` for ``token`` if nobody holds it; it frees itself after ``ttl_s``."""
        ...

    async def unlock(self, key: str, token: str) -> bool:
        """Free ``key`` if ``token`` still holds it (a lock that expired and was taken by
        someone else stays theirs)."""
        ...

    async def claim(
        self, key: str, lock_key: str, token: str, ttl_s: float
    ) -> tuple[bytes | None, bool]:
        """In one step: ``key``'s value if it has one (and nothing is locked), else
        whether ``lock_key`` was taken for ``token`` (as :meth:`lock`)."""
        ...

    async def settle(self, lock_key: str, token: str, keep: Keep | None = None) -> bool:
        """In one step: set ``keep``'s key to its value for its time to live (if given),
        and free ``lock_key`` if ``token`` still holds it (whether it did)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


_NEVER = float("inf")


class LocalCache:
    """This process's cache: at most ``capacity`` entries and ``max_bytes`` of values;
    the least recently used go first. Expiry is by the monotonic clock."""

    name = "cache:in-process"

    def __init__(self, capacity: int = 100_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._entries: OrderedDict[str, tuple[bytes | int, float]] = OrderedDict()
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._bytes = 0

    def _live(self, key: str) -> bytes | int | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    def _drop(self, key: str) -> None:
        value, _ = self._entries.pop(key)
        if isinstance(value, bytes):
            self._bytes -= len(value)

    def _put(self, key: str, value: bytes | int, expires: float) -> None:
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (value, expires)
        if isinstance(value, bytes):
            self._bytes += len(value)
        while self._entries and (
            len(self._entries) > self._capacity or self._bytes > self._max_bytes
        ):
            self._drop(next(iter(self._entries)))

    async def get(self, key: str) -> bytes | None:
        value = self._live(key)
        return str(value).encode() if isinstance(value, int) else value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [await self.get(k) for k in keys]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self._put(key, value, time.monotonic() + ttl_s)

    async def delete(self, key: str) -> None:
        if key in self._entries:
            self._drop(key)

    async def incr(self, key: str, by: int = 1, ttl_s: float | None = None) -> int:
        value = self._live(key)
        if value is None:
            expires = _NEVER if ttl_s is None else time.monotonic() + ttl_s
            self._put(key, by, expires)
            return by
        count = (value if isinstance(value, int) else int(value)) + by
        self._entries[key] = (count, self._entries[key][1])
        if isinstance(value, bytes):
            self._bytes -= len(value)
        return count

    async def tally(
        self, key: str, ttl_s: float, also: Sequence[str]
    ) -> tuple[int, list[bytes | None]]:
        return await self.incr(key, 1, ttl_s), await self.get_many(also)

    async def lock(self, key: str, token: str, ttl_s: float) -> bool:
        if self._live(key) is not None:
            return False
        self._put(key, token.encode(), time.monotonic() + ttl_s)
        return True

    async def unlock(self, key: str, token: str) -> bool:
        if self._live(key) != token.encode():
            return False
        self._drop(key)
        return True

    async def claim(
        self, key: str, lock_key: str, token: str, ttl_s: float
    ) -> tuple[bytes | None, bool]:
        value = await self.get(key)
        if value is not None:
            return value, False
        return None, await self.lock(lock_key, token, ttl_s)

    async def settle(self, lock_key: str, token: str, keep: Keep | None = None) -> bool:
        if keep is not None:
            await self.set(*keep)
        return await self.unlock(lock_key, token)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self._bytes = 0


class ResilientCache:
    """The shared cache (Redis) while it answers, this process's own while it does not.

    With no shared cache (embedded), every operation is the local one and costs a few
    dictionary operations."""

    def __init__(self, shared: Cache | None, local: LocalCache | None = None) -> None:
        self.shared = shared
        self.local = local or LocalCache()
        self.fallback = Fallback(f"shared cache ({shared.name})" if shared else "cache")

    @property
    def status(self) -> str:
        """For ``/readyz``: where the cache is, and whether it is degraded."""
        if self.shared is None:
            return "in-process"
        if self.fallback.degraded:
            return f"degraded: {self.fallback.reason}; using the in-process cache"
        return f"{self.shared.name.removeprefix('cache:')} ok"

    async def either(
        self, on_shared: Callable[[Cache], Awaitable[T]], on_local: Callable[[], Awaitable[T]]
    ) -> T:
        """``on_shared`` on the shared cache if it is in use, else (or if it fails)
        ``on_local``."""
        shared = self.shared
        if shared is not None and self.fallback.use_shared():
            try:
                result = await on_shared(shared)
            except Exception as e:  # any failure of the shared store: degrade, do not fail
                self.fallback.failed(e)
            else:
                self.fallback.succeeded()
                return result
        return await on_local()

    async def get(self, key: str) -> bytes | None:
        if self.shared is None:
            return await self.local.get(key)
        return await self.either(lambda c: c.get(key), lambda: self.local.get(key))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if self.shared is None:
            return await self.local.get_many(keys)
        return await self.either(lambda c: c.get_many(keys), lambda: self.local.get_many(keys))

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if self.shared is None:
            return await self.local.set(key, value, ttl_s)
        return await self.either(
            lambda c: c.set(key, value, ttl_s), lambda: self.local.set(key, value, ttl_s)
        )

    async def delete(self, key: str) -> None:
        if self.shared is None:
            return await self.local.delete(key)
        return await self.either(lambda c: c.delete(key), lambda: self.local.delete(key))

    async def incr(self, key: str, by: int = 1, ttl_s: float | None = None) -> int:
        if self.shared is None:
            return await self.local.incr(key, by, ttl_s)
        return await self.either(
            lambda c: c.incr(key, by, ttl_s), lambda: self.local.incr(key, by, ttl_s)
        )

    async def tally(
        self, key: str, ttl_s: float, also: Sequence[str]
    ) -> tuple[int, list[bytes | None]]:
        if self.shared is None:
            return await self.local.tally(key, ttl_s, also)
        return await self.either(
            lambda c: c.tally(key, ttl_s, also), lambda: self.local.tally(key, ttl_s, also)
        )

    async def lock(self, key: str, token: str, ttl_s: float) -> bool:
        if self.shared is None:
            return await self.local.lock(key, token, ttl_s)
        return await self.either(
            lambda c: c.lock(key, token, ttl_s), lambda: self.local.lock(key, token, ttl_s)
        )

    async def unlock(self, key: str, token: str) -> bool:
        if self.shared is None:
            return await self.local.unlock(key, token)
        # A lock taken before an outage (or during one) may be in either store.
        freed = await self.either(lambda c: c.unlock(key, token), lambda: self._false())
        return await self.local.unlock(key, token) or freed

    async def claim(
        self, key: str, lock_key: str, token: str, ttl_s: float
    ) -> tuple[bytes | None, bool]:
        if self.shared is None:
            return await self.local.claim(key, lock_key, token, ttl_s)
        return await self.either(
            lambda c: c.claim(key, lock_key, token, ttl_s),
            lambda: self.local.claim(key, lock_key, token, ttl_s),
        )

    async def settle(self, lock_key: str, token: str, keep: Keep | None = None) -> bool:
        local = self.local
        if self.shared is None:
            return await local.settle(lock_key, token, keep)
        freed = await self.either(
            lambda c: c.settle(lock_key, token, keep), lambda: local.settle(lock_key, token, keep)
        )
        # A lock taken before an outage (or during one) may be in this process's store.
        return await local.unlock(lock_key, token) or freed

    @staticmethod
    async def _false() -> bool:
        return False

    async def ping(self) -> None:
        if self.shared is not None:
            await self.shared.ping()

    async def close(self) -> None:
        """Forget this process's entries; the shared cache's client belongs to the
        composition root, which closes it."""
        await self.local.close()
