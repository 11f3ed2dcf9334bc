"""Catalogue pages cached at the edge, per tenant, locale and query, and never older than
a change a client was told about.

A page's key holds the **generations** of its tenant's catalogue and of the platform
catalogue: counters that move whenever either changes. A change moves them three ways:

- the edge that carried a curation or a new custom product moves its tenant's
  generation itself, *before* it answers: no client of that edge that saw the change
  acknowledged can be served the page from before it;
- the catalogue actor announces every change on core NATS (``CatalogueChanged`` on
  ``subjects.CATALOGUE_CHANGED``; the platform's, when its revision moves, with no
  tenant), and every edge moves the generation when it hears it;
- the generations live in the shared cache (Redis) when there is one, so every edge
  reads the same counters; each edge also counts in its own memory, used while Redis
  is away.

A change this edge knew of while Redis was away is **pending**: the tenant's pages are
not served from the cache at all until the shared generation has been moved too (so
Redis pages from before the change can never be read again). What no edge heard of —
a hint lost together with Redis — lives at most ``ttl_s``, the pages' time to live.
"""

from __future__ import annotations

import hashlib
import logging

import msgspec

from bus.messages.catalogue import CatalogueChanged, ListProducts
from edge.cache import Cache, ResilientCache
from edge.schemas import ProductPageOut

log = logging.getLogger(__name__)

#: The platform catalogue's generation (no tenant id is empty).
PLATFORM = ""

_pages = msgspec.msgpack.Decoder(ProductPageOut)
_changes = msgspec.msgpack.Decoder(CatalogueChanged)
_encoder = msgspec.msgpack.Encoder()


def _generation_key(tenant: str) -> str:
    return f"catgen:{tenant}"


def _count(raw: bytes | None) -> int:
    return int(raw) if raw else 0


class CataloguePages:
    def __init__(self, cache: ResilientCache, ttl_s: float) -> None:
        self.cache = cache
        self.ttl_s = ttl_s
        #: Generations this edge counted itself: used while the shared cache is away.
        self._local: dict[str, int] = {}
        #: Changes the shared generations do not have yet.
        self._pending: set[str] = set()

    async def slot(self, tenant: str, query: ListProducts) -> str | None:
        """The key the page for ``query`` is cached under, or None when it must not be
        cached (caching off, or a change the shared cache does not know of yet)."""
        if self.ttl_s <= 0:
            return None
        behind = bool(self._pending) and not await self._push_pending()
        if behind and (tenant in self._pending or PLATFORM in self._pending):
            return None
        generations = await self.cache.either(
            lambda shared: self._shared_generations(shared, tenant),
            lambda: self._local_generations(tenant),
        )
        digest = hashlib.sha256(_encoder.encode(query)).hexdigest()[:32]
        return f"cat:{tenant}:{generations}:{digest}"

    @staticmethod
    async def _shared_generations(shared: Cache, tenant: str) -> str:
        own, platform = await shared.get_many([_generation_key(tenant), _generation_key(PLATFORM)])
        return f"r{_count(own)}.{_count(platform)}"

    async def _local_generations(self, tenant: str) -> str:
        return f"l{self._local.get(tenant, 0)}.{self._local.get(PLATFORM, 0)}"

    async def get(self, slot: str) -> ProductPageOut | None:
        raw = await self.cache.get(slot)
        if raw is None:
            return None
        try:
            return _pages.decode(raw)
        except msgspec.DecodeError:  # written by another version of the edge
            return None

    async def put(self, slot: str, page: ProductPageOut) -> None:
        await self.cache.set(slot, _encoder.encode(page), self.ttl_s)

    async def changed(self, tenant: str) -> None:
        """The tenant's catalogue (``PLATFORM``: every tenant's) changed: move its
        generation here and in the shared cache, or remember that the shared one is
        behind."""
        self._local[tenant] = self._local.get(tenant, 0) + 1
        if self.cache.shared is None:
            return
        self._pending.add(tenant)
        await self._push_pending()

    async def _push_pending(self) -> bool:
        """Move the shared generations of the pending changes; True if none is left."""
        shared, fallback = self.cache.shared, self.cache.fallback
        if shared is None or not fallback.use_shared():
            return not self._pending
        for tenant in sorted(self._pending):
            try:
                await shared.incr(_generation_key(tenant))
            except Exception as e:  # the shared cache is away: stay pending
                fallback.failed(e)
                return False
            fallback.succeeded()
            self._pending.discard(tenant)
        return True

    async def heard(self, payload: bytes) -> None:
        """A ``CatalogueChanged`` hint from a catalogue actor."""
        try:
            change = _changes.decode(payload)
        except msgspec.DecodeError:
            log.warning("ignored a catalogue-changed hint that does not decode")
            return
        await self.changed(change.tenant)
