"""The tenants' products as their catalogue actors last showed them, kept for the treasury.

Every new order needs its product as the tenant sells it — enabled or not, its face
values, its markup — and only the tenant's catalogue actor knows that (ADR 22). Asked once
per batch, the answer costs the treasury a request and the catalogue actor a whole batch
of its own; over a thousand tenants each batch holds about one order, so that was one
catalogue batch per order. :class:`ProductViews` keeps the answers for a short while,
shared by the actors of one host:

- a tenant's catalogue actor calls :meth:`ProductViews.changed` whenever its products
  change (a curation, a custom product, new platform products), before it replies; every
  view of that tenant (``""``: of every tenant) is dropped, and an answer asked for before
  the change and arriving after it is not kept (each tenant has a generation);
- a view lives at most ``ttl_s`` (two seconds): a catalogue actor on another host, after
  its tenant's partition moved there and back, changes nothing this host hears of, and
  platform products changed in the store reach a host within its own refresh interval
  (:class:`storage.catalogue_cache.PlatformCatalogue`) anyway;
- only answers that sell something are kept: a refusal is asked for again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from bus.messages import Ok, Reply

#: How long a view is used without asking again.
TTL_S = 2.0
#: Views kept at most (the least recently stored go first).
MAX_VIEWS = 50_000


class ProductViews:
    def __init__(
        self,
        ttl_s: float = TTL_S,
        max_views: int = MAX_VIEWS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self._max = max_views
        self._clock = clock
        #: (tenant, product id) → (the answer, its tenant generation, until when).
        self._views: OrderedDict[tuple[str, str], tuple[Reply, int, float]] = OrderedDict()
        self._generations: dict[str, int] = {}
        #: Bumped by a change of every tenant's products (the platform's).
        self._everyone = 0

    def generation(self, tenant: str) -> int:
        """Read before asking the catalogue actor; given back to :meth:`keep`."""
        return self._everyone + self._generations.get(tenant, 0)

    def get(self, tenant: str, product_id: str) -> Reply | None:
        """The answer kept for this product, if it is still good."""
        kept = self._views.get((tenant, product_id))
        if kept is None:
            return None
        reply, generation, until = kept
        if until <= self._clock() or generation != self.generation(tenant):
            del self._views[(tenant, product_id)]
            return None
        return reply

    def keep(self, tenant: str, product_id: str, reply: Reply, generation: int) -> None:
        """Keep ``reply`` unless it refuses, or the tenant's products changed since
        ``generation`` was read."""
        if not isinstance(reply, Ok) or generation != self.generation(tenant):
            return
        key = (tenant, product_id)
        self._views.pop(key, None)
        self._views[key] = (reply, generation, self._clock() + self.ttl_s)
        if len(self._views) > self._max:
            self._views.popitem(last=False)

    def changed(self, tenant: str) -> None:
        """``tenant``'s products changed (``""``: every tenant's)."""
        if tenant:
            self._generations[tenant] = self._generations.get(tenant, 0) + 1
        else:
            self._everyone += 1
            self._views.clear()
