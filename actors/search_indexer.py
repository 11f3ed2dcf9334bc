"""The search indexer: keeps the search index (ADR 24) in step with the catalogue store
and the ledger's audit log.

It follows three sources, every ``poll_s``:

* the platform's catalogue: when the store's ``revision()`` moves, the platform's
  products are compared with the index (by digest) and what changed is re-indexed;
* ``perkbus.catalogue.product_changed`` events on ``PB_EVENTS`` (a tenant added or
  curated a product): the tenant's own products are compared and re-indexed alike;
* each tenant's audit log, after the last entry indexed — except during a redemption
  burst (events arriving faster than ``burst_events_per_s``), when it waits, for at most
  ``burst_lag_s`` after it last caught up (:mod:`actors.runtime.bursts`): every order is
  audited, and indexing its entry cost the burst about a twentieth of its processor. A
  round that is under way when a burst begins stops at the next tenant.

Everything it has done is recorded in the index itself (:meth:`SearchIndex.set_meta`):
the stream sequence of the last event handled and each tenant's last audit entry, written
only after what they cover is indexed. So a restart resumes where it stopped, and an index
that was lost (a server restarted empty) has lost those marks too: the indexer notices
the missing epoch mark, creates the indices again and rebuilds everything from the
store, the stream and the ledger. While the index cannot be reached it retries, backing
off, and nothing moves its marks: no change is skipped.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import msgspec
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from actors.runtime.background import Background
from actors.runtime.bursts import BurstWatch
from bus import subjects
from storage.ports import CatalogueStore, Ledger
from storage.search_ports import SearchIndex, digest

log = logging.getLogger(__name__)

EPOCH = "epoch"
EVENTS = "events"


def audit_mark(tenant: str) -> str:
    return f"audit:{tenant}"


class _Tenant(msgspec.Struct):
    tenant: str


_tenant_of = msgspec.json.Decoder(_Tenant)


class SearchIndexer(Background):
    name = "search-indexer"

    def __init__(
        self,
        index: SearchIndex,
        catalogue: CatalogueStore,
        ledger: Ledger,
        js: JetStreamContext | None,
        poll_s: float = 0.2,
        audit_every_s: float = 0.5,
        page: int = 500,
        on_indexed: Callable[[str], Awaitable[None]] | None = None,
        burst_events_per_s: int = 0,
        burst_lag_s: float = 0.0,
        probe_s: float = 0.5,
    ) -> None:
        super().__init__()
        self.index = index
        self._catalogue = catalogue
        self._ledger = ledger
        self._js = js
        self._poll_s = poll_s
        self._audit_every_s = audit_every_s
        self._page = page
        #: Told the tenant (``""``: the platform) whose products the index changed.
        self._on_indexed = on_indexed
        self._migrated = False
        self._epoch: str | None = None
        self._revision: int | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._audit: dict[str, int] = {}
        self._audit_due = 0.0
        self._bursts = (
            None if js is None else BurstWatch(js, burst_events_per_s, burst_lag_s, probe_s)
        )
        #: Loop time when the audit log was last indexed to its end.
        self._audit_caught_up_at = 0.0
        #: Rounds of the audit log put off or stopped because a burst was under way.
        self.audit_deferrals = 0
        #: The last tenant a round stopped by a burst indexed ("": none was stopped).
        self._audit_stopped_after = ""
        #: Whether the last cycle reached the index (for logs and tests).
        self.healthy = False
        self.rebuilds = 0

    async def _run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            try:
                await self.cycle()
            except Exception as e:
                if self.healthy or backoff >= 5.0:
                    log.warning("search indexer: %r; retrying in %.2f s", e, backoff)
                self.healthy = False
                self._migrated = False
                await self._unsubscribe()
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self.healthy = True
            backoff = 0.05
            if self._js is None:  # a fetch from the stream waits otherwise
                await self._sleep(self._poll_s)
        await self._unsubscribe()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        self._wakeup.clear()

    async def cycle(self) -> None:
        """One round over the three sources (the loop runs it; tests may too)."""
        await self._check_epoch()
        revision = await self._catalogue.revision()
        if revision != self._revision:
            await self.sync_products("")
            self._revision = revision
        if self._js is not None:
            await self._follow_events(self._js)
        if time.monotonic() >= self._audit_due:
            if await self._burst_under_way() or not await self._audit_round():
                self.audit_deferrals += 1
            else:
                self._audit_caught_up_at = asyncio.get_running_loop().time()
            self._audit_due = time.monotonic() + self._audit_every_s

    async def _burst_under_way(self) -> bool:
        return self._bursts is not None and await self._bursts.under_way(
            self._audit_caught_up_at, self._sleep
        )

    async def _audit_round(self) -> bool:
        """Index each audited tenant's new entries; False if a burst began first.

        A round over many tenants takes seconds (2.8 s for 1,000 tenants as a burst
        began, measured), so it looks at the stream again every ``probe_s`` and stops
        when a burst is under way, as a round not yet begun would have waited. The next
        round begins after the last tenant indexed, so the tenants a stopped round did
        not reach come first."""
        tenants = sorted(await self._ledger.audited_tenants())
        start = bisect.bisect_right(tenants, self._audit_stopped_after)
        loop = asyncio.get_running_loop()
        looked = loop.time()
        for tenant in tenants[start:] + tenants[:start]:
            if self._bursts is not None and loop.time() - looked >= self._bursts.probe_s:
                if await self._burst_under_way():
                    return False
                looked = loop.time()
            await self._index_audit(tenant)
            self._audit_stopped_after = tenant
        self._audit_stopped_after = ""
        return True

    async def _check_epoch(self) -> None:
        if not self._migrated:
            await self.index.migrate()
            self._migrated = True
        epoch = await self.index.get_meta(EPOCH)
        if epoch is not None and epoch == self._epoch:
            return
        if epoch is None:
            # A new or lost index: everything is indexed again from the sources.
            if self._epoch is not None:
                log.warning("search index was lost; rebuilding it")
            await self.index.migrate()
            epoch = uuid.uuid4().hex
            await self.index.set_meta(EPOCH, epoch)
            self.rebuilds += 1
        self._epoch = epoch
        self._revision = None
        self._audit.clear()
        self._audit_due = 0.0
        await self._unsubscribe()

    async def sync_products(self, tenant: str) -> None:
        """Make the index hold exactly the products the store has for ``tenant``."""
        products = await self._catalogue.products(tenant)
        indexed = await self.index.product_digests(tenant)
        changed = [p for p in products if indexed.get(p.id) != digest(p)]
        for start in range(0, len(changed), self._page):
            await self.index.put_products(changed[start : start + self._page])
        kept = {p.id for p in products}
        gone = [pid for pid in indexed if pid not in kept]
        if gone:
            await self.index.remove_products(tenant, gone)
        if (changed or gone) and self._on_indexed is not None:
            await self._on_indexed(tenant)

    async def _follow_events(self, js: JetStreamContext) -> None:
        if self._subscription is None:
            after = int(await self.index.get_meta(EVENTS) or 0)
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=after + 1,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=60.0,
            )
            self._subscription = await js.pull_subscribe(
                subjects.event_of_every_tenant("catalogue", "product_changed"),
                stream=subjects.EVENTS_STREAM,
                config=config,
            )
        try:
            messages = await self._subscription.fetch(100, timeout=self._poll_s)
        except TimeoutError:
            return
        if not messages:
            return
        tenants = {_tenant_of.decode(m.data).tenant for m in messages}
        for tenant in sorted(tenants):
            await self.sync_products(tenant)
        await self.index.set_meta(EVENTS, str(messages[-1].metadata.sequence.stream))

    async def _unsubscribe(self) -> None:
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            try:
                await subscription.unsubscribe()
            except Exception as e:  # the connection may be what failed
                log.debug("search indexer: unsubscribe: %r", e)

    async def _index_audit(self, tenant: str) -> None:
        after = self._audit.get(tenant)
        if after is None:
            after = int(await self.index.get_meta(audit_mark(tenant)) or 0)
            self._audit[tenant] = after
        while True:
            records = await self._ledger.audit_log(tenant, after, self._page)
            if not records:
                return
            await self.index.put_audit(records)
            after = records[-1].seq
            await self.index.set_meta(audit_mark(tenant), str(after))
            self._audit[tenant] = after
            if len(records) < self._page:
                return
