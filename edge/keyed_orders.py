"""Short-term idempotency of orders at the edge: one request per key in flight, and a
retry within minutes answered without a bus hop.

The actor runtime keeps every keyed reply durably and is the truth (ADR 8); this is
only a way to spare it work in a burst of retries:

- while an order under (tenant, principal, Idempotency-Key) is in flight, the key is
  **locked** in the cache (with a time to live a little past the request timeout, so a
  crashed edge's lock frees itself); a concurrent duplicate **waits** for the first's
  reply, and gets 409 ``idempotency_key_in_use`` (retry shortly) if it waits longer than
  ``wait_s``;
- a **final** reply (a fulfilled or failed order — one the runtime keeps as well) is
  kept for ``reply_ttl_s`` with a fingerprint of the request body, and a retry with the
  same body is answered from it. A different body under the same key is not answered
  here: it goes to the actor, which refuses it (``idempotency_key_reused``).

When the cache cannot be reached or has forgotten, the request goes to the actor, which
answers it from its record: slower, never wrong.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import time

import msgspec

from bus.messages.orders import OrderView
from edge.cache import ResilientCache
from edge.schemas import PlaceOrderIn

_view = msgspec.msgpack.Decoder(OrderView)
_encoder = msgspec.msgpack.Encoder()
_FINGERPRINT = 32  # bytes of SHA-256 before the reply
#: Lock tokens: unique across processes (a random prefix) and cheap (a counter).
_PROCESS = os.urandom(8).hex()
_TOKENS = itertools.count()


def fingerprint(body: PlaceOrderIn) -> bytes:
    return hashlib.sha256(_encoder.encode(body)).digest()


class Busy:
    """The key stayed locked by another request for longer than the wait."""


class KeyedOrders:
    def __init__(
        self, cache: ResilientCache, lock_ttl_s: float, wait_s: float, reply_ttl_s: float
    ) -> None:
        self.cache = cache
        self.lock_ttl_s = lock_ttl_s
        self.wait_s = wait_s
        self.reply_ttl_s = reply_ttl_s

    @staticmethod
    def slot(tenant: str, subject: str, key: str) -> str:
        """The cache key of a caller's Idempotency-Key (hashed: keys are the caller's
        own strings, and callers never share them)."""
        return hashlib.sha256(f"{tenant}\n{subject}\n{key}".encode()).hexdigest()[:40]

    async def replay(self, slot: str, fingerprint: bytes) -> OrderView | None:
        """The kept reply to this same request, if there is one."""
        raw = await self.cache.get(f"ordr:{slot}")
        if raw is None or raw[:_FINGERPRINT] != fingerprint:
            return None
        try:
            return _view.decode(raw[_FINGERPRINT:])
        except msgspec.DecodeError:  # kept by another version of the edge
            return None

    async def hold(self, slot: str, fingerprint: bytes) -> str | OrderView | Busy:
        """Lock the key (the token to release it with), or the reply of the request
        that held it, or :class:`Busy` after ``wait_s``."""
        token = f"{_PROCESS}.{next(_TOKENS)}"
        deadline = time.monotonic() + self.wait_s
        pause = 0.005
        while not await self.cache.lock(f"ordl:{slot}", token, self.lock_ttl_s):
            if time.monotonic() >= deadline:
                return Busy()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
            if (view := await self.replay(slot, fingerprint)) is not None:
                return view
        return token

    async def keep(self, slot: str, fingerprint: bytes, view: OrderView) -> None:
        if view.final:
            await self.cache.set(
                f"ordr:{slot}", fingerprint + _encoder.encode(view), self.reply_ttl_s
            )

    async def release(self, slot: str, token: str) -> None:
        await self.cache.unlock(f"ordl:{slot}", token)
