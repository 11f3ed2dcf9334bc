"""The platform's catalogue, read once per host and shared by every tenant's actor."""

from __future__ import annotations

import time

from bus.messages.catalogue import Product
from storage.ports import CatalogueStore


class PlatformCatalogue:
    """The platform's products, shared by all catalogue actors of a host."""

    def __init__(self, store: CatalogueStore, refresh_s: float = 5.0) -> None:
        self.store = store
        self._refresh_s = refresh_s
        self._products: dict[str, Product] = {}
        self._revision = -1
        self._checked = 0.0
        self._unannounced = False

    async def products(self) -> dict[str, Product]:
        now = time.monotonic()
        if now - self._checked >= self._refresh_s:
            revision = await self.store.revision()
            if revision != self._revision:
                self._products = {p.id: p for p in await self.store.products("")}
                # The first load is no news: pages older than a host's start live their
                # time to live at most.
                self._unannounced = self._revision != -1
                self._revision = revision
            self._checked = now
        return self._products

    def news(self) -> int | None:
        """The revision loaded since the last call, once (to tell the edges that every
        tenant's catalogue pages are stale); None if nothing changed."""
        if not self._unannounced:
            return None
        self._unannounced = False
        return self._revision
