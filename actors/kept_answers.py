"""Answers of one tenant's actor kept for another on the same host, until they change.

Two uses (both in :class:`~actors.runtime.actor.ActorContext`):

- **products**: every new order needs its product as the tenant sells it — enabled or
  not, its face values, its markup — and only the tenant's catalogue actor knows that
  (ADR 22). Asked once per batch, the answer costs the treasury a request and the
  catalogue actor a whole batch of its own; over a thousand tenants each batch holds
  about one order, so that was one catalogue batch per order. The catalogue actor calls
  :meth:`KeptAnswers.changed` whenever its products change (a curation, a custom product,
  new platform products), before it replies, and every other host hears of it by the
  ``catalogue.changed`` hint on core NATS (``ActorHost._on_catalogue_changed``); kept for
  thirty seconds, for a hint lost on the way.
- **programmes**: the treasury applies a tenant's order rules (its ``programme``
  document) and keeps the tenant config actor's answer; that actor calls ``changed``
  when the programme is replaced, before it replies; kept for thirty seconds.

For each: every answer of a changed tenant (``""``: of every tenant) is dropped, and an
answer asked for before the change and arriving after it is not kept (each tenant has a
generation); an answer lives at most ``ttl_s`` — a hint is sent at most once, and a host
cut off from NATS for a moment misses it (the platform's products changed in the store
reach a host within its own refresh interval,
:class:`storage.catalogue_cache.PlatformCatalogue`, anyway); only answers that are
``Ok`` are kept: a refusal is asked for again.

The time to live of products was two seconds until the hint reached the hosts: over a
thousand tenants, each ordering a couple of times a second, a third of the orders then
asked the catalogue actor again (ADR 21's amendment of 2026-11-27, afternoon).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from bus.messages import Ok, Reply

#: How long an answer is used without asking again (products; programmes: PROGRAMME_TTL_S).
TTL_S = 30.0
#: Views kept at most (the least recently stored go first).
MAX_VIEWS = 50_000
#: A programme's order rules change rarely, and on this host they are dropped at once.
PROGRAMME_TTL_S = 30.0


class KeptAnswers:
    def __init__(
        self,
        ttl_s: float = TTL_S,
        max_views: int = MAX_VIEWS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self._max = max_views
        self._clock = clock
        #: (tenant, key) → (the answer, its tenant generation, until when).
        self._views: OrderedDict[tuple[str, str], tuple[Reply, int, float]] = OrderedDict()
        self._generations: dict[str, int] = {}
        #: Bumped by a change of every tenant's answers (the platform's products).
        self._everyone = 0

    def generation(self, tenant: str) -> int:
        """Read before asking; given back to :meth:`keep`."""
        return self._everyone + self._generations.get(tenant, 0)

    def get(self, tenant: str, key: str) -> Reply | None:
        """The answer kept under ``key`` (a product id), if it is still good."""
        kept = self._views.get((tenant, key))
        if kept is None:
            return None
        reply, generation, until = kept
        if until <= self._clock() or generation != self.generation(tenant):
            del self._views[(tenant, key)]
            return None
        return reply

    def keep(self, tenant: str, key: str, reply: Reply, generation: int) -> None:
        """Keep ``reply`` unless it refuses, or the tenant's answers changed since
        ``generation`` was read."""
        if not isinstance(reply, Ok) or generation != self.generation(tenant):
            return
        kept = (tenant, key)
        self._views.pop(kept, None)
        self._views[kept] = (reply, generation, self._clock() + self.ttl_s)
        if len(self._views) > self._max:
            self._views.popitem(last=False)

    def changed(self, tenant: str) -> None:
        """``tenant``'s answers changed (``""``: every tenant's)."""
        if tenant:
            self._generations[tenant] = self._generations.get(tenant, 0) + 1
        else:
            self._everyone += 1
            self._views.clear()
