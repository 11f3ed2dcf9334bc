"""The classic baseline on MariaDB / MySQL: a pool of connections, one transaction per
order, row locks.

Sessions run at READ COMMITTED (no gap locks: concurrent orders inserting into the same
tables do not block each other) with autocommit off. The order's statements are arranged
so that the one lock every order of a budget waits for — the budget row, taken with
``SELECT … FOR UPDATE`` — is taken last and held only for the debit and the commit:
first the product is read, a code is locked with ``FOR UPDATE SKIP LOCKED`` (concurrent
orders each get another one, nobody waits), and the reply, the order, the code's
allocation, the ledger entries and the outbox event are written. A refusal rolls all of
it back. A deadlock or a lock wait timeout, which the arrangement should not produce, is
retried a few times as any production service would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncmy
from asyncmy.constants import CLIENT
from asyncmy.errors import IntegrityError, OperationalError

from bench.classic import orders as o
from bench.classic.orders import Draft, Outcome, Placed
from bench.classic.stores import TABLES, schema_statements
from storage.mysql import connect_args

_DUPLICATE = 1062
_RETRYABLE = frozenset({1205, 1213})  # lock wait timeout, deadlock
ATTEMPTS = 3


def dialect(sql: str) -> str:
    return sql.replace("?", "%s")


_SELECT_PRODUCT = dialect(o.SELECT_PRODUCT)
_SELECT_CODE = dialect(
    "SELECT code_id FROM voucher_codes WHERE tenant_id = ? AND product_id = ?"
    " AND face_value_minor = ? AND status = 'available' AND expires_ms > ?"
    " ORDER BY expires_ms, code_id LIMIT 1 FOR UPDATE SKIP LOCKED"
)
#: The batched mode's first round trip (see :meth:`MysqlStore._steps_batched`).
_READS = f"{_SELECT_PRODUCT}; {_SELECT_CODE}"
_SELECT_BUDGET = dialect(
    "SELECT currency, balance_minor FROM budgets WHERE tenant_id = ? AND budget_id = ? FOR UPDATE"
)
_SELECT_REPLY = dialect(o.SELECT_REPLY)
_SHARED = " LOCK IN SHARE MODE"
_SELECT_BY_EXTERNAL_ID = dialect(o.SELECT_BY_EXTERNAL_ID)
_INSERT_REPLY = dialect(o.INSERT_REPLY)
_INSERT_ORDER = dialect(o.INSERT_ORDER)
_ALLOCATE_CODE = dialect(o.ALLOCATE_CODE)
_INSERT_ENTRIES = dialect(o.INSERT_ENTRIES)
_INSERT_EVENT = dialect(o.INSERT_EVENT)
_DEBIT_BUDGET = dialect(o.DEBIT_BUDGET)


class _Duplicate(Exception):
    """An INSERT met a row another transaction committed under the same key."""

    def __init__(self, lookup: str, params: tuple[object, ...], external: bool) -> None:
        self.lookup, self.params, self.external = lookup, params, external


async def _unless_done(cur: Any, d: Draft, refusal: Outcome) -> Outcome:
    """A refusal, unless the key or external id placed this order — before, or right now
    in a transaction still open: the locking read waits for it (the pool may be empty
    now, the first answer stands). Refusals are rare: the common path does not ask."""
    if d.key_hash:
        await cur.execute(_SELECT_REPLY + _SHARED, (d.tenant, d.key_hash))
        if (row := await cur.fetchone()) is not None:
            return o.replay(d, row)
    if d.external_id is not None:
        await cur.execute(_SELECT_BY_EXTERNAL_ID + _SHARED, (d.tenant, d.external_id))
        if (row := await cur.fetchone()) is not None:
            return o.replay_external(d, row)
    return refusal


class MysqlStore:
    """``batched``: send the order's statements in four round trips instead of twelve
    (multi-statement packets, every value escaped by the driver); the same statements in
    the same order, in the same transaction."""

    def __init__(self, url: str, pool_size: int = 16, batched: bool = True) -> None:
        self._args = connect_args(url)
        self.pool_size = pool_size
        self.batched = batched
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def open(self) -> None:
        await self._get_pool()

    async def _get_pool(self) -> Any:
        if self._pool is not None:
            return self._pool
        async with self._opening:  # one pool, however many requests arrive first
            if self._pool is None:
                self._pool = await asyncmy.create_pool(
                    minsize=self.pool_size,  # all connections open before the first order
                    maxsize=self.pool_size,
                    autocommit=False,
                    charset="utf8mb4",
                    init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                    client_flag=CLIENT.MULTI_STATEMENTS if self.batched else 0,
                    **self._args,
                )
        return self._pool

    async def create_schema(self, reset: bool = False) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SET SESSION sql_notes = 0")  # "already exists" is expected
            if reset:
                for table in TABLES:
                    await cur.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in schema_statements("mysql"):
                await cur.execute(statement)
            await cur.execute("SET SESSION sql_notes = 1")
            await conn.commit()

    async def place(self, d: Draft) -> Outcome:
        pool = await self._get_pool()
        steps = self._steps_batched if self.batched else self._steps
        async with pool.acquire() as conn:
            for attempt in range(ATTEMPTS):
                try:
                    async with conn.cursor() as cur:
                        outcome = await steps(cur, d)  # committed if placed
                    if not isinstance(outcome, Placed) or outcome.replayed:
                        await conn.rollback()
                    return outcome
                except _Duplicate as dup:
                    await conn.rollback()
                    async with conn.cursor() as cur:
                        await cur.execute(dup.lookup, dup.params)
                        row = await cur.fetchone()
                    await conn.rollback()  # ends the read
                    if row is None:  # the other transaction's row is gone again: retry
                        continue
                    return o.replay_external(d, row) if dup.external else o.replay(d, row)
                except OperationalError as e:
                    await conn.rollback()
                    if e.args[0] not in _RETRYABLE or attempt == ATTEMPTS - 1:
                        raise
                except BaseException:
                    await conn.rollback()
                    raise
        raise RuntimeError("unreachable: the last attempt returns or raises")

    @staticmethod
    async def _steps(cur: Any, d: Draft) -> Outcome:
        t = d.tenant
        await cur.execute(_SELECT_PRODUCT, (t, d.product_id))
        row = await cur.fetchone()
        if row is None:
            return await _unless_done(cur, d, o.no_product(d))
        product = o.product_from_row(row)
        if refused := product.refusal(d):
            return await _unless_done(cur, d, refused)
        await cur.execute(_SELECT_CODE, (t, d.product_id, d.face_value_minor, d.now_ms))
        code = await cur.fetchone()
        if code is None:
            return await _unless_done(cur, d, o.out_of_stock(d))
        f = o.fulfil(d, product, code[0])
        if f.reply is not None:
            try:
                await cur.execute(_INSERT_REPLY, f.reply)
            except IntegrityError as e:
                if e.args[0] != _DUPLICATE:
                    raise
                raise _Duplicate(_SELECT_REPLY, (t, d.key_hash), external=False) from e
        try:
            await cur.execute(_INSERT_ORDER, f.order)
        except IntegrityError as e:
            if e.args[0] != _DUPLICATE or d.external_id is None:
                raise
            raise _Duplicate(_SELECT_BY_EXTERNAL_ID, (t, d.external_id), external=True) from e
        await cur.execute(_ALLOCATE_CODE, f.code)
        await cur.execute(_INSERT_ENTRIES, f.entries)
        await cur.execute(_INSERT_EVENT, f.event)
        # The budget last: its lock is held from here to the commit only.
        await cur.execute(_SELECT_BUDGET, (t, d.budget_id))
        budget = await cur.fetchone()
        if budget is None:
            return o.no_budget(d)
        currency, balance = budget
        if currency != product.currency:
            return o.currency_mismatch(d, product.currency, currency)
        if balance < f.price_minor:
            return o.insufficient(d, balance, f.price_minor)
        await cur.execute(_DEBIT_BUDGET, (f.price_minor, d.now_ms, t, d.budget_id))
        await cur.connection.commit()
        return Placed(201, f.body, d.order_id)

    @staticmethod
    async def _steps_batched(cur: Any, d: Draft) -> Outcome:
        """:meth:`_steps` in four round trips: the two reads; the writes up to and
        including the budget's ``SELECT … FOR UPDATE``; the debit; the commit. The
        server runs a packet's statements in order and stops at the first error, so a
        duplicate key is known by how many results came back before it."""
        t = d.tenant
        await cur.execute(_READS, (t, d.product_id, t, d.product_id, d.face_value_minor, d.now_ms))
        row = await cur.fetchone()
        await cur.nextset()
        code = await cur.fetchone()
        await cur.nextset()
        if row is None:
            return await _unless_done(cur, d, o.no_product(d))
        product = o.product_from_row(row)
        if refused := product.refusal(d):
            return await _unless_done(cur, d, refused)
        if code is None:
            return await _unless_done(cur, d, o.out_of_stock(d))
        f = o.fulfil(d, product, code[0])
        statements = [_INSERT_ORDER, _ALLOCATE_CODE, _INSERT_ENTRIES, _INSERT_EVENT]
        params = f.order + f.code + f.entries + f.event + (t, d.budget_id)
        if f.reply is not None:
            statements.insert(0, _INSERT_REPLY)
            params = f.reply + params
        statements.append(_SELECT_BUDGET)
        reading = 0  # the statement whose result is read next
        try:
            await cur.execute("; ".join(statements), params)
            while reading < len(statements) - 1:
                reading += 1
                await cur.nextset()
        except IntegrityError as e:
            if e.args[0] != _DUPLICATE:
                raise
            if statements[reading] is _INSERT_REPLY:
                raise _Duplicate(_SELECT_REPLY, (t, d.key_hash), external=False) from e
            if statements[reading] is _INSERT_ORDER and d.external_id is not None:
                raise _Duplicate(_SELECT_BY_EXTERNAL_ID, (t, d.external_id), external=True) from e
            raise
        budget = await cur.fetchone()
        await cur.nextset()
        if budget is None:
            return o.no_budget(d)
        currency, balance = budget
        if currency != product.currency:
            return o.currency_mismatch(d, product.currency, currency)
        if balance < f.price_minor:
            return o.insufficient(d, balance, f.price_minor)
        await cur.execute(_DEBIT_BUDGET, (f.price_minor, d.now_ms, t, d.budget_id))
        # Not "…; COMMIT" in the same packet: asyncmy would not see the transaction end
        # and its pool would close the connection.
        await cur.connection.commit()
        return Placed(201, f.body, d.order_id)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(dialect(sql), tuple(params) if params else None)
            rows = await cur.fetchall()
            await conn.rollback()  # ends the read
        return [tuple(r) for r in rows]

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.cursor() as cur:
            try:
                await cur.executemany(dialect(sql), [tuple(r) for r in rows])
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = None
