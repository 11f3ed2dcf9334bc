"""The search indexer puts off indexing the audit log while a redemption burst is under
way (events arriving on ``PB_EVENTS`` faster than its rate), within its lag bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from actors.search_indexer import SearchIndexer
from bus.client import Bus
from bus.events import EventPublisher, ensure_streams
from bus.time import now_ms
from storage.ports import AuditEntry, AuditRecord, ChangeSet, Ledger
from storage.search_ports import AuditQuery, SearchIndex
from storage.sqlite import SqliteLedger
from storage.sqlite_catalogue import SqliteCatalogue
from storage.sqlite_search import SqliteSearch
from tests.support import publish_burst, until


class Stores:
    def __init__(self, tmp_path: Path) -> None:
        self.ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
        self.catalogue = SqliteCatalogue(tmp_path / "catalogue.sqlite3")
        self.index = SqliteSearch(tmp_path / "search.sqlite3")

    def indexer(self, bus: Bus, lag_s: float) -> SearchIndexer:
        return SearchIndexer(
            self.index,
            self.catalogue,
            self.ledger,
            bus.js,
            poll_s=0.05,
            audit_every_s=0.05,
            burst_events_per_s=200,
            burst_lag_s=lag_s,
            probe_s=0.2,
        )


@pytest.fixture
async def stores(bus: Bus, tmp_path: Path) -> AsyncIterator[Stores]:
    await ensure_streams(bus.js, duplicate_window_s=120)
    s = Stores(tmp_path)
    await s.ledger.migrate()
    await s.catalogue.migrate()
    # (the indexer migrates it too, on its writer thread; searches read on another, and
    # would otherwise race that migration)
    await s.index.migrate()
    yield s
    await s.ledger.close()
    await s.catalogue.close()
    await s.index.close()


async def audit(ledger: Ledger, target: str) -> None:
    entry = AuditEntry(now_ms(), "ann", "orders.place", target, "ok", "{}")
    await ledger.apply([ChangeSet("acme", audit=(entry,))])


async def indexed(index: SearchIndex) -> list[str]:
    hits = await index.search_audit(AuditQuery("acme"))
    return sorted(r.target for r in hits.records)


async def test_audit_entries_wait_out_a_burst_then_are_indexed(bus: Bus, stores: Stores) -> None:
    indexer = stores.indexer(bus, lag_s=30)
    indexer.start()
    try:
        await audit(stores.ledger, "before")
        await until(lambda: has(stores.index, "before"), "the entry written before the burst")
        burst = asyncio.create_task(publish_burst(EventPublisher(bus.nc), 2.5))
        await until(lambda: deferred(indexer), "the burst to be seen")
        await audit(stores.ledger, "during")
        await asyncio.sleep(1.0)  # twenty rounds of the indexer
        assert await indexed(stores.index) == ["before"]
        assert not burst.done()
        await burst
        await until(lambda: has(stores.index, "during"), "the entry, once the burst passed")
    finally:
        await indexer.stop()


async def test_a_burst_longer_than_the_lag_bound_is_indexed_during_it(
    bus: Bus, stores: Stores
) -> None:
    indexer = stores.indexer(bus, lag_s=0.8)
    indexer.start()
    try:
        burst = asyncio.create_task(publish_burst(EventPublisher(bus.nc), 3.0))
        await until(lambda: deferred(indexer), "the burst to be seen")
        await audit(stores.ledger, "during")
        await until(lambda: has(stores.index, "during"), "the entry, within the lag bound")
        assert not burst.done()  # indexed while the burst went on
        await burst
    finally:
        await indexer.stop()


async def has(index: SearchIndex, target: str) -> bool:
    return target in await indexed(index)


async def deferred(indexer: SearchIndexer) -> bool:
    return indexer.audit_deferrals > 0


class SlowIndex(SqliteSearch):
    """An index that takes a while over each tenant's entries, and says whose it was given."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.tenants: list[str] = []

    async def put_audit(self, records: Sequence[AuditRecord]) -> None:
        await asyncio.sleep(0.04)
        await super().put_audit(records)
        self.tenants.append(records[0].tenant)


async def test_a_round_under_way_stops_when_a_burst_begins_and_the_next_goes_on_after_it(
    bus: Bus, stores: Stores, tmp_path: Path
) -> None:
    await stores.index.close()
    index = stores.index = SlowIndex(tmp_path / "slow-search.sqlite3")
    await index.migrate()  # (before the indexer: searches read on another thread)
    tenants = [f"t{n:02}" for n in range(60)]  # a round of about 2.4 s
    indexer = stores.indexer(bus, lag_s=30)
    indexer.start()
    try:
        await audit(stores.ledger, "before")
        await until(lambda: has(index, "before"), "the first round")  # caught up once
        await audit_of(stores.ledger, *tenants)  # one commit: a round sees all or none
        await until(lambda: is_true(bool(index.tenants[1:])), "a round over the tenants")
        burst = asyncio.create_task(publish_burst(EventPublisher(bus.nc), 4.0))
        await until(lambda: deferred(indexer), "the burst to be seen")
        reached = list(index.tenants[1:])
        assert 0 < len(reached) < len(tenants)  # stopped within the round
        await asyncio.sleep(0.5)
        assert index.tenants[1:] == reached  # and nothing more while the burst lasts
        await audit_of(stores.ledger, tenants[0])  # a tenant reached has more
        assert not burst.done()
        await burst
        every = 1 + len(tenants) + 1
        await until(lambda: is_true(len(index.tenants) == every), "every tenant's entries")
        # the next round began with the first tenant the stopped one had not reached,
        # and came back to the first tenant after the last
        assert index.tenants[1 + len(reached)] == tenants[len(reached)]
        assert index.tenants[-1] == tenants[0]
    finally:
        await indexer.stop()


async def audit_of(ledger: Ledger, *tenants: str) -> None:
    entry = AuditEntry(now_ms(), "ann", "orders.place", "t", "ok", "{}")
    await ledger.apply([ChangeSet(tenant, audit=(entry,)) for tenant in tenants])


async def is_true(value: bool) -> bool:
    return value
