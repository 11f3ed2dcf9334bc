"""A MariaDB group commit chosen as a deadlock's victim is tried again (ADR 33): two groups
in flight may lock the same rows in opposite orders, and the server then rolls one back."""

from __future__ import annotations

import asyncio

import asyncmy
import pytest

from storage.mysql import MysqlLedger
from storage.mysql_pool import connect_args
from storage.ports import AccountRecord, ChangeSet, Entry, PutAccount
from tests.support import budget_record, mysql_database

pytestmark = pytest.mark.mysql


def budget(budget_id: str, balance: int, version: int) -> AccountRecord:
    return AccountRecord("acme", f"budget:{budget_id}", "budget", "Budget", "EUR", balance, version)


def put(budget_id: str, balance: int, version: int) -> ChangeSet:
    return ChangeSet("acme", puts=(PutAccount(budget(budget_id, balance, version), version - 1),))


async def test_a_group_that_loses_a_deadlock_is_committed_on_its_next_try() -> None:
    async with mysql_database() as url:
        ledger = MysqlLedger(url, pool_size=4)
        await ledger.migrate()
        try:
            opening = [
                ChangeSet(
                    "acme",
                    puts=(PutAccount(budget(b, 100, 1), 0),),
                    entries=(
                        Entry(f"open:{b}", "funding", -100, "EUR", 1),
                        Entry(f"open:{b}", f"budget:{b}", 100, "EUR", 1),
                    ),
                )
                for b in ("x", "y")
            ]
            await ledger.apply(opening)
            other = await asyncmy.connect(**connect_args(url))
            try:
                async with other.cursor() as cur:
                    # A heavier transaction than the group's: InnoDB rolls back the lighter.
                    await cur.execute("CREATE TABLE ballast (n INT PRIMARY KEY, v INT)")
                    rows = ", ".join(f"({n}, 0)" for n in range(500))
                    await cur.execute(f"INSERT INTO ballast VALUES {rows}")
                    await other.commit()
                    await other.begin()
                    await cur.execute("UPDATE ballast SET v = v + 1")
                    await cur.execute(_lock, ("budget:x",))
                    # The group takes y, then waits for x …
                    group = asyncio.ensure_future(ledger.apply([put("y", 90, 2), put("x", 80, 2)]))
                    await asyncio.sleep(0.5)
                    assert not group.done()
                    # … and this transaction, holding x, now asks for y: a deadlock, whose
                    # victim is the group's transaction.
                    await cur.execute(_lock, ("budget:y",))
                    await asyncio.sleep(0.3)
                    assert not group.done()  # tried again, and waiting for x once more
                    await other.rollback()
                await asyncio.wait_for(group, 10)  # committed on its next try
            finally:
                other.close()
            x = await budget_record(ledger, "acme", "x")
            y = await budget_record(ledger, "acme", "y")
            assert (x and x.balance_minor, y and y.balance_minor) == (80, 90)
        finally:
            await ledger.close()


_lock = "SELECT balance_minor FROM accounts WHERE tenant_id = 'acme' AND account_id = %s FOR UPDATE"
