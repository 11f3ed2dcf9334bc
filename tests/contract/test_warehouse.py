"""The Warehouse contract, over DuckDB (embedded, in tmp_path) and PostgreSQL (the
machine's server, a database of its own dropped afterwards)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path

import msgspec
import pytest

from bus.messages.common import Money
from bus.messages.reports import DaySummary, MovementTotal, OrderTotal, ProductSales, RewardTotal
from storage.config import WarehouseConfig
from storage.duckdb_warehouse import DuckdbWarehouse
from storage.factory import open_warehouse
from storage.postgres_warehouse import PostgresWarehouse
from storage.warehouse_ports import SequencedEvent, Warehouse
from tests.support import postgres_database
from tests.warehouse_events import (
    allocated,
    budget_created,
    budget_renamed,
    debited,
    deposited,
    numbered,
    on,
    order,
    person_created,
    reward,
)

Opener = Callable[[], Warehouse]
D1, D2, D3 = "2026-03-01", "2026-03-02", "2026-03-03"
FIRST, LAST = date(2026, 3, 1), date(2026, 3, 31)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens a new adapter on the same warehouse each call (as a restarted process would)."""
    if request.param == "duckdb":
        yield lambda: DuckdbWarehouse(tmp_path / "warehouse.duckdb")
        return
    async with postgres_database() as url:
        yield lambda: PostgresWarehouse(url)


@pytest.fixture
async def warehouse(opener: Opener) -> AsyncIterator[Warehouse]:
    adapter = opener()
    await adapter.migrate()
    await adapter.migrate()  # idempotent
    yield adapter
    await adapter.close()


def story() -> list[SequencedEvent]:
    """A month's start at acme (and one event of globex's, which acme never sees)."""
    eur = Money(5000, "EUR")
    return numbered(
        1,
        [
            deposited("acme", "main", 1_000_000, "EUR", on(D1, 8)),
            budget_created("acme", "b1", 100_000, "EUR", on(D1, 9)),
            allocated("acme", "main", "b1", 50_000, "EUR", on(D1, 10)),
            debited("acme", "b1", 2_500, "EUR", on(D1, 11)),
            reward("acme", "r1", "b1", 700, Money(7, "EUR"), on(D1, 12)),
            order("acme", "o1", "accepted", "amazon-de", eur, on(D1, 13)),
            debited("acme", "b1", 5000, "EUR", on(D1, 13)),
            order("acme", "o1", "fulfilled", "amazon-de", eur, on(D1, 13)),
            order("acme", "o2", "accepted", "zalando", Money(2000, "EUR"), on(D1, 23)),
            person_created("acme", on(D2, 1)),
            order("acme", "o2", "failed", "zalando", Money(2000, "EUR"), on(D2, 2)),
            order("acme", "o3", "fulfilled", "amazon-de", Money(1000, "EUR"), on(D2, 3)),
            order("globex", "g1", "fulfilled", "amazon-de", Money(9999, "EUR"), on(D2, 3)),
            budget_created("globex", "b1", 1, "USD", on(D2, 4)),
        ],
    )


async def test_a_new_warehouse_has_loaded_nothing(warehouse: Warehouse) -> None:
    assert await warehouse.last_sequence() == 0
    assert await warehouse.daily_summary("acme", FIRST, LAST) == []
    assert await warehouse.top_products("acme", FIRST, LAST, 10) == []
    await warehouse.ping()


async def test_a_batch_becomes_exact_daily_sums(warehouse: Warehouse) -> None:
    assert await warehouse.apply(story()) == 14
    assert await warehouse.last_sequence() == 14
    assert await warehouse.daily_summary("acme", FIRST, LAST) == [
        DaySummary(
            D1,
            orders=(OrderTotal("failed", "EUR", 1, 2000), OrderTotal("fulfilled", "EUR", 1, 5000)),
            rewards=(RewardTotal("EUR", 1, 700, 7),),
            movements=(
                MovementTotal("budget", "b1", "EUR", 2_500 + 7 + 5000, 100_000 + 50_000, 5),
                MovementTotal("funding", "main", "EUR", 50_000, 1_000_000, 2),
            ),
        ),
        DaySummary(D2, orders=(OrderTotal("fulfilled", "EUR", 1, 1000),)),
    ]


async def test_replayed_and_overlapping_batches_count_once(warehouse: Warehouse) -> None:
    events = story()
    await warehouse.apply(events[:6])
    once = await warehouse.daily_summary("acme", FIRST, LAST)
    assert await warehouse.apply(events[:6]) == 6  # the same batch again: nothing
    assert await warehouse.apply(events[2:4]) == 6  # a part of it: nothing
    assert await warehouse.daily_summary("acme", FIRST, LAST) == once
    assert await warehouse.apply(events[3:]) == 14  # overlapping: only 7.. applied
    whole = await warehouse.daily_summary("acme", FIRST, LAST)
    assert await warehouse.apply(story()) == 14
    assert await warehouse.daily_summary("acme", FIRST, LAST) == whole
    b1 = whole[0].movements[0]
    assert (b1.debit_minor, b1.credit_minor, b1.entries) == (7507, 150_000, 5)


async def test_batch_by_batch_equals_all_at_once(opener: Opener, warehouse: Warehouse) -> None:
    for event in story():
        await warehouse.apply([event])
    assert await warehouse.last_sequence() == 14
    one_by_one = await warehouse.daily_summary("acme", FIRST, LAST)
    assert one_by_one[0].orders == (
        OrderTotal("failed", "EUR", 1, 2000),  # placed on D1, failed on D2: counted on D1
        OrderTotal("fulfilled", "EUR", 1, 5000),
    )
    assert sum(m.debit_minor for m in one_by_one[0].movements) == 7507 + 50_000


async def test_events_it_does_not_use_only_advance_the_sequence(warehouse: Warehouse) -> None:
    await warehouse.apply(numbered(41, [person_created("acme", on(D1))]))
    assert await warehouse.last_sequence() == 41
    assert await warehouse.daily_summary("acme", FIRST, LAST) == []


async def test_an_event_it_cannot_read_is_skipped_not_retried(warehouse: Warehouse) -> None:
    good = debited("acme", "b1", 5, "EUR", on(D1))
    unreadable = msgspec.structs.replace(good, data=msgspec.Raw(b'{"budget_id": 7}'))
    undated = msgspec.structs.replace(good, time="yesterday")
    assert await warehouse.apply(numbered(1, [unreadable, undated, good])) == 3
    [day] = await warehouse.daily_summary("acme", FIRST, LAST)
    assert day.movements == (MovementTotal("budget", "b1", "EUR", 5, 0, 1),)


async def test_text_with_a_nul_is_stored_without_it(warehouse: Warehouse) -> None:
    """PostgreSQL refuses U+0000 in text: one such name or reason must not stop every
    later event of every tenant from loading (the loader would retry the batch forever)."""
    named = budget_renamed("acme", "b1", "night\x00shift", on(D1))
    failed = order("acme", "o1", "failed", "card", Money(500, "EUR"), on(D1))
    with_reason = msgspec.json.decode(failed.data)
    with_reason["reason"] = "out\x00of_stock"
    failed = msgspec.structs.replace(failed, data=msgspec.Raw(msgspec.json.encode(with_reason)))
    later = debited("globex", "g1", 5, "EUR", on(D1))
    events = [budget_created("acme", "b1", 100, "EUR", on(D1)), named, failed, later]
    assert await warehouse.apply(numbered(1, events)) == 4
    assert await warehouse.last_sequence() == 4
    [day] = await warehouse.daily_summary("acme", FIRST, LAST)
    assert day.orders == (OrderTotal("failed", "EUR", 1, 500),)


async def test_the_loaded_sequence_survives_a_restart(opener: Opener) -> None:
    first = opener()
    await first.migrate()
    await first.apply(story()[:5])
    await first.close()
    second = opener()
    try:
        await second.migrate()
        assert await second.last_sequence() == 5
        assert await second.apply(story()) == 14
        [day1, _] = await second.daily_summary("acme", FIRST, LAST)
        assert day1.rewards == (RewardTotal("EUR", 1, 700, 7),)
    finally:
        await second.close()


async def test_reports_are_one_tenants_and_within_the_range(warehouse: Warehouse) -> None:
    await warehouse.apply(story())
    assert await warehouse.daily_summary("globex", FIRST, LAST) == [
        DaySummary(
            D2,
            orders=(OrderTotal("fulfilled", "EUR", 1, 9999),),
            movements=(MovementTotal("budget", "b1", "USD", 0, 1, 1),),
        )
    ]
    only_d2 = await warehouse.daily_summary("acme", date(2026, 3, 2), date(2026, 3, 2))
    assert [d.day for d in only_d2] == [D2]
    assert await warehouse.daily_summary("initech", FIRST, LAST) == []
    assert await warehouse.daily_summary("acme", date(2026, 4, 1), date(2026, 4, 30)) == []


async def test_top_products_count_fulfilled_orders(warehouse: Warehouse) -> None:
    await warehouse.apply(story())
    assert await warehouse.top_products("acme", FIRST, LAST, 10) == [
        ProductSales("amazon-de", "EUR", 2, 6000)  # zalando's only order failed
    ]
    assert await warehouse.top_products("globex", FIRST, LAST, 10) == [
        ProductSales("amazon-de", "EUR", 1, 9999)
    ]
    assert await warehouse.top_products("acme", FIRST, FIRST, 10) == [
        ProductSales("amazon-de", "EUR", 1, 5000)
    ]


async def test_a_cancelled_order_refunds_its_budget(warehouse: Warehouse) -> None:
    face = Money(3000, "EUR")
    events = numbered(
        1,
        [
            budget_created("acme", "b1", 10_000, "EUR", on(D1)),
            order("acme", "o9", "fulfilled", "amazon-de", face, on(D1)),
            debited("acme", "b1", 3000, "EUR", on(D1)),
            order("acme", "o9", "cancelled", "amazon-de", face, on(D3)),
            budget_renamed("acme", "b1", "Renamed", on(D3)),
        ],
    )
    await warehouse.apply(events[:3])
    await warehouse.apply(events[3:])
    days = await warehouse.daily_summary("acme", FIRST, LAST)
    assert [d.day for d in days] == [D1, D3]
    assert days[0].orders == (OrderTotal("cancelled", "EUR", 1, 3000),)
    assert days[1].movements == (MovementTotal("budget", "b1", "EUR", 0, 3000, 1),)
    assert await warehouse.top_products("acme", FIRST, LAST, 10) == []


async def test_amounts_past_32_bits_stay_exact(warehouse: Warehouse) -> None:
    big = 2**53 + 1
    await warehouse.apply(
        numbered(
            1,
            [
                budget_created("acme", "b1", big, "INR", on(D1)),
                debited("acme", "b1", big - 2, "INR", on(D1)),
            ],
        )
    )
    [day] = await warehouse.daily_summary("acme", FIRST, LAST)
    assert day.movements == (MovementTotal("budget", "b1", "INR", big - 2, big, 2),)


def test_one_url_chooses_the_adapter(tmp_path: Path) -> None:
    embedded = open_warehouse(WarehouseConfig(path=str(tmp_path / "w.duckdb")))
    assert embedded.name == "warehouse:duckdb"
    production = open_warehouse(WarehouseConfig(url="postgresql://pb@127.0.0.1:5432/pb"))
    assert production.name == "warehouse:postgres"
