"""The health of a process that is not an actor host (the warehouse, the webhook relay):
its one store, pinged, which the edges' ``/readyz`` shows without depending on it."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from bus.messages.system import HostHealth, StoreHealth


async def store_health(process: str, store: str, ping: Callable[[], Awaitable[None]]) -> HostHealth:
    try:
        await ping()
        found = StoreHealth(store, True, essential=False)
    except Exception as e:
        found = StoreHealth(store, False, f"{type(e).__name__}: {e}", essential=False)
    return HostHealth(f"{process}-{os.getpid()}", (found,), 0, 0)
