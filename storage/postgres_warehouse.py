"""The warehouse on PostgreSQL, or anything that speaks its wire protocol (Redshift):
asyncpg, a small pool. The SQL is the shared, portable set of ``storage/warehouse_sql.py``.

Reads and the one writer (the loader) share the pool; a batch is one transaction whose
last statement advances the loaded sequence, fenced by the value read at its start.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from bus.messages.reports import DaySummary, ProductSales
from storage import warehouse_sql as q
from storage.errors import StoreUnavailable
from storage.warehouse_ports import STREAM, ConcurrentLoad, SequencedEvent
from storage.warehouse_rows import rows_of

#: What a lost or refused connection raises (a query error is a bug, not an outage).
_UNAVAILABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


class PostgresWarehouse:
    name = "warehouse:postgres"

    def __init__(self, url: str, pool_size: int = 4, connect_timeout_s: float = 5.0) -> None:
        self.url = url
        self._pool_size = pool_size
        self._timeout = connect_timeout_s
        self._pool: asyncpg.Pool | None = None

    async def _connected(self) -> asyncpg.Pool:
        if self._pool is None:
            try:
                self._pool = await asyncpg.create_pool(
                    self.url,
                    min_size=1,
                    max_size=self._pool_size,
                    timeout=self._timeout,
                )
            except (*_UNAVAILABLE, asyncpg.PostgresError) as e:  # no database, no login …
                raise StoreUnavailable(f"warehouse unreachable: {e}") from e
        return self._pool

    async def migrate(self) -> None:
        pool = await self._connected()
        try:
            async with pool.acquire() as con, con.transaction():
                for statement in q.SCHEMA:
                    await con.execute(statement)
                await con.execute(q.START_SEQUENCE, STREAM)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"warehouse unreachable: {e}") from e

    async def ping(self) -> None:
        pool = await self._connected()
        try:
            await pool.fetchval("SELECT 1")
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"warehouse unreachable: {e}") from e

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def last_sequence(self) -> int:
        pool = await self._connected()
        try:
            value = await pool.fetchval(q.LAST_SEQUENCE, STREAM)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"warehouse unreachable: {e}") from e
        return int(value or 0)

    async def apply(self, batch: Sequence[SequencedEvent]) -> int:
        pool = await self._connected()
        try:
            async with pool.acquire() as con, con.transaction():
                stored = int(await con.fetchval(q.LAST_SEQUENCE, STREAM) or 0)
                fresh = [e for e in batch if e.sequence > stored]
                if not fresh:
                    return stored
                for statement in q.STAGING:
                    await con.execute(statement)
                for statement, args in q.staged(rows_of(fresh)):
                    await con.execute(statement, *args)
                for statement in q.MERGE:
                    await con.execute(statement)
                top = max(e.sequence for e in fresh)
                status = await con.execute(q.ADVANCE, top, STREAM, stored)
                if status != "UPDATE 1":
                    raise ConcurrentLoad(f"the loaded sequence moved past {stored}")
                return top
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"warehouse unreachable: {e}") from e

    async def daily_summary(self, tenant: str, first: date, last: date) -> list[DaySummary]:
        pool = await self._connected()
        try:
            async with pool.acquire() as con, con.transaction(readonly=True):
                orders = await con.fetch(q.ORDERS_BY_DAY, tenant, first, last)
                rewards = await con.fetch(q.REWARDS_BY_DAY, tenant, first, last)
                movements = await con.fetch(q.MOVEMENTS_BY_DAY, tenant, first, last)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"warehouse unreachable: {e}") from e
        return q.summaries(list(orders), list(rewards), list(movements))

    async def top_products(
        self, tenant: str, first: date, last: date, limit: int
    ) -> list[ProductSales]:
        pool = await self._connected()
        try:
            rows = await pool.fetch(q.top_products_sql(limit), tenant, first, last)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"warehouse unreachable: {e}") from e
        return q.product_sales(list(rows))
