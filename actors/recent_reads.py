"""Values read from actors and kept a little while: at most ``most`` of them (the least
recently used forgotten first), each for ``ttl_s``, with one read at a time per key (the
others wait for it). The mailer keeps tenants' settings, people and product names so;
a campaign's thousand emails ask once, not a thousand times."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RecentReads(Generic[K, V]):
    def __init__(self, ttl_s: float, most: int) -> None:
        self._ttl_s = ttl_s
        self._most = most
        #: key → (monotonic time read, value), least recently used first
        self._kept: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._reading: dict[K, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    async def get(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        known = self._kept.get(key)
        if known is not None and time.monotonic() - known[0] < self._ttl_s:
            self._kept.move_to_end(key)
            return known[1]
        reading = self._reading.get(key)
        if reading is not None:
            return await asyncio.shield(reading)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._reading[key] = future
        read_at = time.monotonic()
        try:
            value = await read()
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: no "never retrieved" warning
            raise
        finally:
            del self._reading[key]
        future.set_result(value)
        self._kept[key] = (read_at, value)
        self._kept.move_to_end(key)
        while len(self._kept) > self._most:
            self._kept.popitem(last=False)
        return value
