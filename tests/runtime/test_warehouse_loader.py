"""The warehouse loader on a real nats-server: events published to ``PB_EVENTS`` reach
the warehouse once each, across stops, restarts and a warehouse that is down."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from actors.runtime.warehouse_loader import WarehouseLoader
from bus.client import Bus
from bus.events import EventPublisher, OutboxEvent, ensure_streams, make_event
from bus.messages.budget import BudgetCreated, BudgetDebited
from bus.messages.common import Money
from bus.messages.people import PersonChanged
from bus.messages.reports import MovementTotal
from storage.duckdb_warehouse import DuckdbWarehouse
from storage.postgres_warehouse import PostgresWarehouse
from storage.warehouse_ports import Warehouse
from tests.support import POSTGRES_ADMIN_URL, postgres_database, publish_burst, until


def opened(tenant: str, minor: int) -> OutboxEvent:
    return make_event(
        tenant, "budget", "created", "b1", BudgetCreated("b1", "B1", Money(minor, "EUR"))
    )


def debit(tenant: str, n: int) -> OutboxEvent:
    data = BudgetDebited("b1", f"dbt_{n}", Money(n, "EUR"), Money(0, "EUR"))
    return make_event(tenant, "budget", "debited", "b1", data)


def someone(tenant: str, n: int) -> OutboxEvent:
    data = PersonChanged(f"p{n}@example.com", f"p{n}@example.com", ("end_user",), (), "active")
    return make_event(tenant, "people", "person_created", f"p{n}", data)


async def budget_b1(warehouse: Warehouse, tenant: str) -> MovementTotal:
    today = datetime.now(UTC).date()
    days = await warehouse.daily_summary(tenant, today.replace(day=1), today)
    [movement] = [m for d in days for m in d.movements]  # events of one day, one budget
    return movement


@pytest.fixture
async def publisher(bus: Bus) -> EventPublisher:
    await ensure_streams(bus.js, duplicate_window_s=120)
    return EventPublisher(bus.nc)


async def test_stopped_and_restarted_it_loads_every_event_once(
    bus: Bus, publisher: EventPublisher, tmp_path: Path
) -> None:
    path = tmp_path / "warehouse.duckdb"
    first_part = [opened("acme", 10_000), *(debit("acme", n) for n in range(1, 31))]
    await publisher.publish(first_part)
    await publisher.publish([someone("acme", n) for n in range(5)])

    warehouse = DuckdbWarehouse(path)
    await warehouse.migrate()
    loader = WarehouseLoader(bus.js, warehouse, batch_max=4)
    loader.start()

    async def some_loaded() -> bool:
        return await warehouse.last_sequence() >= 12

    await until(some_loaded, "the first loader loads some events")
    await loader.stop()
    await warehouse.close()
    await publisher.publish([debit("acme", n) for n in range(31, 41)])
    # the same events again, as an outbox relay does after a crash: JetStream drops them
    await publisher.publish(first_part[:3])

    again = DuckdbWarehouse(path)
    restarted = WarehouseLoader(bus.js, again, batch_max=7)
    restarted.start()
    try:

        async def all_loaded() -> bool:
            return await again.last_sequence() == 46

        await until(all_loaded, "the restarted loader loads the rest")
        b1 = await budget_b1(again, "acme")
        assert (b1.credit_minor, b1.debit_minor, b1.entries) == (10_000, sum(range(1, 41)), 41)
        assert loader.loaded + restarted.loaded >= 46
    finally:
        await restarted.stop()
        await again.close()


async def test_while_the_warehouse_is_down_it_waits_and_loses_nothing(
    bus: Bus, publisher: EventPublisher
) -> None:
    async with postgres_database() as url:
        # a database that does not exist yet stands for a warehouse that is down
        missing = f"{url}_later"
        warehouse = PostgresWarehouse(missing)
        loader = WarehouseLoader(bus.js, warehouse, batch_max=5, max_backoff_s=0.2)
        loader.start()
        try:
            await publisher.publish(
                [opened("acme", 500), *(debit("acme", n) for n in range(1, 11))]
            )

            async def failing() -> bool:
                return loader.failures >= 2

            await until(failing, "the loader notices the warehouse is down")
            admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
            try:
                await admin.execute(f'CREATE DATABASE "{missing.rsplit("/", 1)[1]}"')

                async def loaded() -> bool:
                    try:
                        return await warehouse.last_sequence() == 11
                    except Exception:
                        return False

                await until(loaded, "the loader catches up once the warehouse is back")
                b1 = await budget_b1(warehouse, "acme")
                assert (b1.credit_minor, b1.debit_minor, b1.entries) == (500, 55, 11)
            finally:
                await loader.stop()
                await warehouse.close()
                name = missing.rsplit("/", 1)[1]
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()
        finally:
            await loader.stop()


test_while_the_warehouse_is_down_it_waits_and_loses_nothing = pytest.mark.postgres(
    test_while_the_warehouse_is_down_it_waits_and_loses_nothing
)


async def test_events_that_trickle_in_are_gathered_into_few_batches(
    bus: Bus, publisher: EventPublisher, tmp_path: Path
) -> None:
    warehouse = DuckdbWarehouse(tmp_path / "warehouse.duckdb")
    await warehouse.migrate()
    await publisher.publish([opened("acme", 10_000)])
    loader = WarehouseLoader(bus.js, warehouse, batch_interval_s=1.0)
    loader.start()
    try:
        await until(lambda: has_loaded(warehouse, 1), "the first event")
        for group in range(5):  # five trickles within the interval
            await publisher.publish([debit("acme", 4 * group + n) for n in range(1, 5)])
            await asyncio.sleep(0.05)
        await until(lambda: has_loaded(warehouse, 21), "every event")
        assert loader.loaded == 21
        assert loader.batches <= 3  # one per trickle without the interval
        b1 = await budget_b1(warehouse, "acme")
        assert (b1.debit_minor, b1.entries) == (sum(range(1, 21)), 21)
    finally:
        await loader.stop()
        await warehouse.close()


async def has_loaded(warehouse: Warehouse, sequence: int) -> bool:
    return await warehouse.last_sequence() >= sequence


async def publish_for(publisher: EventPublisher, seconds: float) -> int:
    """Debits 1, 2, 3 … at about 1,000 a second for ``seconds``; how many were sent."""
    return await publish_burst(publisher, seconds, lambda n: debit("acme", n))


async def test_it_waits_out_a_burst_then_loads_all_of_it(
    bus: Bus, publisher: EventPublisher, tmp_path: Path
) -> None:
    warehouse = DuckdbWarehouse(tmp_path / "warehouse.duckdb")
    await warehouse.migrate()
    await publisher.publish([opened("acme", 10_000)])
    loader = WarehouseLoader(bus.js, warehouse, burst_events_per_s=200, burst_lag_s=30, probe_s=0.2)
    loader.start()
    try:
        await until(lambda: has_loaded(warehouse, 1), "the first event")
        sent = await publish_for(publisher, 2.0)
        assert loader.deferrals > 0
        assert loader.loaded <= 1 + 100  # at most what came before the burst was seen
        await until(lambda: has_loaded(warehouse, 1 + sent), "the burst, once it passed")
        b1 = await budget_b1(warehouse, "acme")
        assert (b1.debit_minor, b1.entries) == (sum(range(1, sent + 1)), sent + 1)  # and opened
    finally:
        await loader.stop()
        await warehouse.close()


async def test_a_burst_longer_than_the_lag_bound_is_loaded_during_it(
    bus: Bus, publisher: EventPublisher, tmp_path: Path
) -> None:
    warehouse = DuckdbWarehouse(tmp_path / "warehouse.duckdb")
    await warehouse.migrate()
    loader = WarehouseLoader(
        bus.js, warehouse, burst_events_per_s=200, burst_lag_s=0.8, probe_s=0.2
    )
    loader.start()
    try:
        sent = await publish_for(publisher, 2.5)
        assert loader.deferrals > 0
        assert loader.loaded > 0  # behind for longer than 0.8 s: it loaded anyway
        await until(lambda: has_loaded(warehouse, sent), "every event")
    finally:
        await loader.stop()
        await warehouse.close()


@pytest.mark.postgres
async def test_an_event_the_warehouse_cannot_store_is_skipped_not_retried_forever(
    bus: Bus, publisher: EventPublisher
) -> None:
    """Two debits of 2**62 on one budget and day sum past PostgreSQL's bigint: the second
    cannot be stored. It is skipped (and logged), and every later event of every tenant
    loads; before, the loader retried that batch forever and reports went stale."""
    huge = 2**62

    def huge_debit(n: int) -> OutboxEvent:
        data = BudgetDebited("b1", f"dbt_huge_{n}", Money(huge, "EUR"), Money(0, "EUR"))
        return make_event("acme", "budget", "debited", "b1", data)

    async with postgres_database() as url:
        warehouse = PostgresWarehouse(url)
        await warehouse.migrate()
        loader = WarehouseLoader(bus.js, warehouse, batch_max=50, max_backoff_s=0.2)
        try:
            await publisher.publish([opened("acme", 500), huge_debit(1), huge_debit(2)])
            await publisher.publish([opened("globex", 700), debit("globex", 7)])
            loader.start()

            async def loaded() -> bool:
                return await warehouse.last_sequence() == 5

            await until(loaded, "the loader gets past the event it cannot store")
            assert loader.skipped == 1
            acme = await budget_b1(warehouse, "acme")
            assert (acme.credit_minor, acme.debit_minor) == (500, huge)  # the first, alone
            globex = await budget_b1(warehouse, "globex")
            assert (globex.credit_minor, globex.debit_minor, globex.entries) == (700, 7, 2)
        finally:
            await loader.stop()
            await warehouse.close()
