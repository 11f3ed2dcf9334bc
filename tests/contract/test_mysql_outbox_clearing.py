"""Clearing published outbox rows on MariaDB never waits for rows another transaction is
writing. ``DELETE … WHERE event_id IN (…)`` with more ids than a small outbox has rows is
planned as a scan, which waits for every row another group commit has just inserted and
not yet committed; two group commits doing that to each other deadlocked, three times
over, and every order of both groups was answered 503. Seen with two actor hosts on one
MariaDB; two groups in flight on one host (ADR 33) could do the same."""

from __future__ import annotations

import asyncio

import pytest

from bus.events import OutboxEvent
from storage import mysql_writes, sql
from storage.mysql import MysqlLedger
from storage.ports import ChangeSet
from tests.support import mysql_database, mysql_session

pytestmark = pytest.mark.mysql

ST = sql.Statements("%s")
INSERT_ROW = (
    "INSERT INTO outbox (event_id, tenant_id, subject, payload, created_ms)"
    " VALUES (%s, 'acme', 'pb.events.acme.order.fulfilled', x'00', 1)"
)


async def test_clearing_published_rows_does_not_wait_for_rows_being_written() -> None:
    async with mysql_database() as url:
        ledger = MysqlLedger(url)
        await ledger.migrate()
        await ledger.close()
        first, second = await mysql_session(url), await mysql_session(url)
        try:
            published = [f"published-{n}" for n in range(20)]  # gone already, or never rows
            for conn, row in ((first, "row-1"), (second, "row-2")):
                await conn.begin()
                async with conn.cursor() as cur:
                    await cur.execute(INSERT_ROW, (row,))  # uncommitted, locked
            for conn in (first, second):  # each clears while the other's row is unwritten
                async with conn.cursor() as cur:
                    await asyncio.wait_for(
                        mysql_writes.write_all(
                            cur, mysql_writes.deletes_of_published(ST, published)
                        ),
                        timeout=5,
                    )
            await first.commit()
            await second.commit()
            async with first.cursor() as cur:
                await cur.execute("SELECT event_id FROM outbox ORDER BY event_id")
                assert [r[0] for r in await cur.fetchall()] == ["row-1", "row-2"]
        finally:
            first.close()
            second.close()


async def test_two_ledgers_clearing_the_same_rows_in_turn_commit_every_group() -> None:
    """As two hosts whose relays both published the same rows (one sweeping at start),
    each listing them in its own order."""
    async with mysql_database() as url:
        hosts = [MysqlLedger(url, pool_size=2), MysqlLedger(url, pool_size=2)]
        await hosts[0].migrate()
        try:
            rows: list[str] = []
            for round_ in range(30):
                groups = []
                for h in range(2):
                    events = tuple(
                        sql_event(f"r{round_}-h{h}-e{n}", tenant=f"t{h}") for n in range(3)
                    )
                    published = tuple(rows if h else reversed(rows))
                    groups.append(ChangeSet(f"t{h}", events=events, published=published))
                outcomes = await asyncio.gather(
                    *(ledger.apply([group]) for ledger, group in zip(hosts, groups, strict=True)),
                    return_exceptions=True,
                )
                assert list(outcomes) == [None, None], (round_, outcomes)
                rows = [g.events[0].event_id for g in groups]  # the rows each group wrote
            pending = await hosts[0].pending_events(100)
            assert sorted({e.event_id for e in pending if e.event_id.endswith("-e0")}) == sorted(
                rows
            )  # only the last round's rows are left
        finally:
            for ledger in hosts:
                await ledger.close()


def sql_event(event_id: str, tenant: str) -> OutboxEvent:
    return OutboxEvent(event_id, tenant, f"pb.events.{tenant}.order.fulfilled", b"{}", 1)
