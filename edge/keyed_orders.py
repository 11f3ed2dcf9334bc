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

    async def begin(self, slot: str, fingerprint: bytes) -> str | OrderView | Busy:
        """The kept reply to this same request; else the key locked (the token to
        :meth:`finish` with), or the reply of the request that held it, or :class:`Busy`
        after ``wait_s``. The usual case — no reply kept, the key free — is one step."""
        token = f"{_PROCESS}.{next(_TOKENS)}"
        raw, taken = await self.cache.claim(f"ordr:{slot}", f"ordl:{slot}", token, self.lock_ttl_s)
        if raw is not None and (view := _matching(raw, fingerprint)) is not None:
            return view
        return token if taken else await self._hold(slot, fingerprint, token)

    async def finish(
        self, slot: str, token: str, fingerprint: bytes, view: OrderView | None
    ) -> None:
        """Free the key, keeping ``view`` for retries if it is final."""
        if view is not None and view.final and self.reply_ttl_s > 0:
            kept = (f"ordr:{slot}", fingerprint + _encoder.encode(view), self.reply_ttl_s)
            await self.cache.settle(f"ordl:{slot}", token, kept)
        else:
            await self.cache.settle(f"ordl:{slot}", token)

    async def replay(self, slot: str, fingerprint: bytes) -> OrderView | None:
        """The kept reply to this same request, if there is one."""
        raw = await self.cache.get(f"ordr:{slot}")
        return None if raw is None else _matching(raw, fingerprint)

    async def _hold(self, slot: str, fingerprint: bytes, token: str) -> str | OrderView | Busy:
        """Wait for the key held by another request (its reply, or the key), or lock it
        past a kept reply to another body (which the actor will refuse)."""
        deadline = time.monotonic() + self.wait_s
        pause = 0.005
        while not await self.cache.lock(f"ordl:{slot}", token, self.lock_ttl_s):
            if time.monotonic() >= deadline:
                return Busy()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
            if (view := await self.replay(slot, fingerprint)) is not None:
                return view
        # Free now: its holder may have finished since the last look, keeping its reply.
        if (view := await self.replay(slot, fingerprint)) is not None:
            await self.cache.settle(f"ordl:{slot}", token)
            return view
        return token


def _matching(raw: bytes, fingerprint: bytes) -> OrderView | None:
    """The reply kept in ``raw`` if it was kept for this same request body."""
    if raw[:_FINGERPRINT] != fingerprint:
        return None
    try:
        return _view.decode(raw[_FINGERPRINT:])
    except msgspec.DecodeError:  # kept by another version of the edge
        return None
