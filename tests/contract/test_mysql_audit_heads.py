"""Two MariaDB groups in flight (ADR 33) that both carry a tenant's first audit entries
chain them one after the other. Under READ COMMITTED a ``SELECT … FOR UPDATE`` that finds
no head row locks nothing, so both groups once chained from genesis and the second failed
on the first's entry 1 (``StaleWrite``), which a group of one change set cannot retry."""

from __future__ import annotations

import asyncio

import pytest

from storage import sql
from storage.audit_chain import GENESIS, verify
from storage.mysql import MysqlLedger
from storage.mysql_writes import locked_heads
from storage.ports import AuditEntry, ChangeSet
from tests.support import mysql_database, mysql_session

pytestmark = pytest.mark.mysql

TENANTS = 40


def audited(tenant: str, action: str) -> ChangeSet:
    return ChangeSet(tenant, audit=(AuditEntry(1, "admin", action, "config", "ok", "{}"),))


async def test_groups_in_flight_chain_a_new_tenants_first_entries_in_turn() -> None:
    async with mysql_database() as url:
        ledger = MysqlLedger(url, pool_size=4)
        await ledger.migrate()
        try:
            tenants = [f"t{n}" for n in range(TENANTS)]
            for tenant in tenants:  # each tenant's first entries, in two groups at once
                outcomes = await asyncio.gather(
                    ledger.apply([audited(tenant, "first")]),
                    ledger.apply([audited(tenant, "second")]),
                    return_exceptions=True,
                )
                assert list(outcomes) == [None, None], (tenant, outcomes)
            for tenant in tenants:
                assert await verify(ledger, tenant) is None
                entries = await ledger.audit_log(tenant, 0, 10)
                assert sorted(e.action for e in entries) == ["first", "second"]
                assert await ledger.audit_head(tenant) == (2, entries[-1].hash)
        finally:
            await ledger.close()


async def test_a_group_locking_its_heads_does_not_wait_for_another_groups_heads() -> None:
    """Two hosts' groups each hold their own tenants' heads. ``… WHERE tenant_id IN (…)
    FOR UPDATE`` over a small ``audit_heads`` is a scan that waited at every head the
    other held, and two such groups deadlocked; looked up by key (``FORCE INDEX
    (PRIMARY)``), a group waits only for the heads it asks for."""
    async with mysql_database() as url:
        ledger = MysqlLedger(url)
        await ledger.migrate()
        await ledger.close()
        st = sql.Statements("%s")
        first, second = await mysql_session(url), await mysql_session(url)
        try:
            await first.begin()
            async with first.cursor() as cur:  # three heads, made at genesis
                await locked_heads(cur, st, ["t1", "t2", "t3"])
            await first.commit()
            await second.begin()
            async with second.cursor() as cur:  # another host's group holds t3
                assert set(await locked_heads(cur, st, ["t3"])) == {"t3"}
            await first.begin()
            async with first.cursor() as cur:  # as many tenants as heads: IN scanned them
                held = await asyncio.wait_for(locked_heads(cur, st, ["t1", "t2", "t5"]), 5)
            assert held == {"t1": (0, GENESIS), "t2": (0, GENESIS), "t5": (0, GENESIS)}
            await first.commit()
            await second.commit()
        finally:
            first.close()
            second.close()
