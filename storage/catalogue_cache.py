"""The platform's catalogue, read once per host and shared by every tenant's actor.

Catalogue reads happen on every order, so the hot path is a dictionary handed back from
memory. Two things keep it fresh:

- a watcher (:meth:`PlatformCatalogue.start`, run by the actor host) that follows the
  store's :meth:`~storage.ports.CatalogueStore.watch` and reloads the products as soon
  as the platform's revision moves: a MongoDB change stream, or SQLite's short poll, so
  a change reaches every actor of the host well within a second;
- a backstop: every ``refresh_s`` a read asks the store for its revision, so a lost
  notification (or a cache whose watcher is not running, as in small tests) costs
  staleness of at most ``refresh_s``, never a stale catalogue for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bus import tasks
from bus.messages.catalogue import Product
from storage.ports import CatalogueStore

log = logging.getLogger(__name__)


class PlatformCatalogue:
    """The platform's products, shared by all catalogue actors of a host."""

    def __init__(self, store: CatalogueStore, refresh_s: float = 5.0, retry_s: float = 1.0) -> None:
        self.store = store
        self._refresh_s = refresh_s
        self._retry_s = retry_s
        self._products: dict[str, Product] = {}
        self._revision = -1
        self._checked = float("-inf")  # the first read loads
        self._unannounced = False
        self._watcher: asyncio.Task[None] | None = None
        #: True while the watcher follows the store's changes.
        self.live = False

    async def products(self) -> dict[str, Product]:
        now = time.monotonic()
        if now - self._checked >= self._refresh_s:
            revision = await self.store.revision()
            if revision != self._revision:
                await self._load(revision)
            self._checked = now
        return self._products

    def news(self) -> int | None:
        """The revision loaded since the last call, once (to tell the edges that every
        tenant's catalogue pages are stale); None if nothing changed."""
        if not self._unannounced:
            return None
        self._unannounced = False
        return self._revision

    def start(self, on_news: Callable[[int], Awaitable[None]] | None = None) -> None:
        """Follow the store's changes in the background until :meth:`stop`; each
        revision loaded after the first is given to ``on_news`` at once (the host tells
        the edges that every tenant's cached pages are stale)."""
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(on_news), name="platform-catalogue")

    async def stop(self) -> None:
        task, self._watcher = self._watcher, None
        self.live = False
        await tasks.stop(task)  # for sure, see bus.tasks

    async def _load(self, revision: int) -> None:
        # Read after the revision: products at least as new as it (a later change comes
        # with a later revision, and is loaded again).
        self._products = {p.id: p for p in await self.store.products("")}
        # The first load is no news: pages older than a host's start live their time
        # to live at most.
        self._unannounced = self._revision != -1
        self._revision = revision

    async def _watch(self, on_news: Callable[[int], Awaitable[None]] | None) -> None:
        pause = self._retry_s
        while True:
            try:
                async with contextlib.aclosing(self.store.watch()) as changes:
                    async for revision in changes:
                        if revision != self._revision:
                            await self._load(revision)
                        if on_news is not None and (news := self.news()) is not None:
                            await on_news(news)
                        self._checked = time.monotonic()
                        self.live = True
                        pause = self._retry_s
            except Exception as e:
                log.warning("lost the catalogue's changes (%r); watching again in %gs", e, pause)
            self.live = False
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)  # a store that stays down is not hammered
