"""Two actor hosts on one MariaDB ledger, each serving half the tenant partitions, as
production runs them (ADR 4). A burst of orders over tenants of both commits every order
without a deadlock, the books add up, and the outbox ends empty although each host's relay
clears rows the other may sweep. Until ADR 33's evening amendment their group commits
deadlocked on the outbox and whole groups were answered 503."""

from __future__ import annotations

import asyncio

import pytest

from actors.config import ActorsConfig
from bus import subjects
from bus.client import Bus
from bus.messages import Ok, Principal
from bus.messages.budget import CreateBudget
from bus.messages.common import Money
from bus.messages.orders import OrderView, PlaceOrder
from bus.messages.vouchers import CodeRow, ImportCodes
from storage.mysql import MysqlLedger
from storage.ports import CatalogueStore
from tests.conftest import PARTITIONS, start_host
from tests.support import gift_card, mysql_database, until

pytestmark = pytest.mark.mysql

ADMIN = Principal("admin", roles=("admin",))
ORDERS = 30  # per tenant
BUDGET = 10**9
HALF = PARTITIONS // 2


def tenants_of_both_halves(each: int) -> list[str]:
    """``each`` tenants served by the first host and ``each`` by the second."""
    halves: tuple[list[str], list[str]] = ([], [])
    n = 0
    while min(len(h) for h in halves) < each:
        tenant = f"t{n}"
        half = halves[subjects.partition_of(tenant, PARTITIONS) >= HALF]
        if len(half) < each:
            half.append(tenant)
        n += 1
    return [*halves[0], *halves[1]]


async def prepare(bus: Bus, tenant: str) -> None:
    opened = await bus.request(
        tenant, "treasury", CreateBudget("b1", "B1", Money(BUDGET, "EUR")), ADMIN, 10
    )
    assert isinstance(opened, Ok), opened
    rows = tuple(CodeRow(f"{tenant}-{i:04d}") for i in range(ORDERS))
    stocked = await bus.request(
        tenant, "vouchers", ImportCodes("card-de", 2500, "EUR", rows), ADMIN, 10
    )
    assert isinstance(stocked, Ok), stocked


async def place(bus: Bus, tenant: str, n: int) -> OrderView:
    order = PlaceOrder(f"ord-{tenant}-{n}", "card-de", 2500, f"person-{n}", "b1")
    reply = await bus.request(
        tenant, "treasury", order, ADMIN, timeout_s=30, idempotency_key=f"{tenant}-{n}"
    )
    assert isinstance(reply, Ok), (tenant, n, reply)
    assert isinstance(reply.value, OrderView)
    return reply.value


async def test_two_hosts_on_one_mariadb_commit_every_order_of_a_burst(
    bus: Bus, catalogue: CatalogueStore
) -> None:
    tenants = tenants_of_both_halves(8)
    await catalogue.put_products([gift_card()])
    async with mysql_database() as url:
        ledgers = [MysqlLedger(url), MysqlLedger(url)]
        await ledgers[0].migrate()
        hosts = [
            await start_host(
                bus, ledger, catalogue, config=ActorsConfig(partitions=tuple(partitions))
            )
            for ledger, partitions in zip(
                ledgers, (range(HALF), range(HALF, PARTITIONS)), strict=True
            )
        ]
        try:
            await asyncio.gather(*(prepare(bus, t) for t in tenants))
            orders = await asyncio.gather(
                *(place(bus, t, n) for t in tenants for n in range(ORDERS))
            )
            assert {o.status for o in orders} == {"fulfilled"}
            assert len({o.code_id for o in orders}) == len(tenants) * ORDERS  # no code twice

            async def outbox_cleared() -> bool:
                return await ledgers[0].pending_events(10) == []

            await until(outbox_cleared, "both relays to clear the outbox")
            for tenant in tenants:
                assert await ledgers[0].entries_total(tenant) == 0
                assert await ledgers[0].account_balance(tenant, "budget:b1") == (
                    BUDGET - ORDERS * 2500
                )
            assert [ledger.stats.retries for ledger in ledgers] == [0, 0]  # no deadlock
            assert min(ledger.stats.transactions for ledger in ledgers) > 0  # both wrote
        finally:
            for host in hosts:
                await host.stop()
            for ledger in ledgers:
                await ledger.close()
