"""The classic baseline on MariaDB / MySQL: a pool of connections, one transaction per
order, row locks.

Sessions run at READ COMMITTED (no gap locks: concurrent orders inserting into the same
tables do not block each other) with autocommit off. The order's statements are arranged
so that the one lock every order of a budget waits for — the budget row, taken with
``SELECT … FOR UPDATE`` — is taken last and held only for the debit and the commit:

1. the order's claims (its Idempotency-Key, its external id) are inserted first: a twin
   sent at the same moment waits on the unique key until this transaction ends, then
   replays its reply — so twins never race each other for codes;
2. the product is read and a code locked with ``FOR UPDATE SKIP LOCKED`` (concurrent
   orders each get another one, nobody waits);
3. the order, the code's allocation, the ledger entries, the outbox event and the replies
   are written;
4. the budget row is locked, checked and debited; commit.

A refusal rolls all of it back. A deadlock or a lock wait timeout, which this order of
locks should not produce, is retried a few times as any production service would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncmy
from asyncmy.constants import CLIENT
from asyncmy.errors import IntegrityError, OperationalError

from bench.classic import orders as o
from bench.classic.orders import REPLY_TTL_MS, Claim, Draft, Outcome, Placed
from bench.classic.stores import TABLES, schema_statements
from storage.mysql_pool import connect_args

_DUPLICATE = 1062
_RETRYABLE = frozenset({1205, 1213})  # lock wait timeout, deadlock
ATTEMPTS = 3


def dialect(sql: str) -> str:
    return sql.replace("?", "%s")


_INSERT_CLAIM = dialect(o.INSERT_REPLY)
_SELECT_PRODUCT = dialect(o.SELECT_PRODUCT)
_SELECT_CODE = dialect(
    "SELECT code_id FROM voucher_codes WHERE tenant_id = ? AND product_id = ?"
    " AND face_value_minor = ? AND status = 'available' AND expires_ms > ?"
    " ORDER BY expires_ms, code_id LIMIT 1 FOR UPDATE SKIP LOCKED"
)
_SELECT_BUDGET = dialect(
    "SELECT currency, balance_minor FROM budgets WHERE tenant_id = ? AND budget_id = ? FOR UPDATE"
)
_SELECT_REPLY = dialect(o.SELECT_REPLY)
_UPDATE_REPLY = dialect(o.UPDATE_REPLY)
_INSERT_ORDER = dialect(o.INSERT_ORDER)
_ALLOCATE_CODE = dialect(o.ALLOCATE_CODE)
_INSERT_ENTRIES = dialect(o.INSERT_ENTRIES)
_INSERT_EVENT = dialect(o.INSERT_EVENT)
_DEBIT_BUDGET = dialect(o.DEBIT_BUDGET)


class _Duplicate(Exception):
    """A claim was taken by a transaction that committed: replay its reply."""

    def __init__(self, claim: Claim) -> None:
        self.claim = claim


def _claim_row(d: Draft, claim: Claim) -> tuple[object, ...]:
    """A claim is inserted with an empty reply, filled in before the commit."""
    return (d.tenant, claim.key_hash, claim.fingerprint, 0, b"", d.now_ms, d.now_ms + REPLY_TTL_MS)


class MysqlStore:
    """``batched``: send the order's statements in four round trips instead of one per
    statement (multi-statement packets, every value escaped by the driver); the same
    statements in the same order, in the same transaction."""

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
                    if not isinstance(outcome, Placed):
                        await conn.rollback()
                    return outcome
                except _Duplicate as dup:
                    await conn.rollback()
                    async with conn.cursor() as cur:
                        await cur.execute(_SELECT_REPLY, (d.tenant, dup.claim.key_hash))
                        row = await cur.fetchone()
                    await conn.rollback()  # ends the read
                    if row is not None:
                        return o.replay(dup.claim, row)
                    # the claim's transaction is gone again: try again
                except OperationalError as e:
                    await conn.rollback()
                    if e.args[0] not in _RETRYABLE or attempt == ATTEMPTS - 1:
                        raise
                except BaseException:
                    await conn.rollback()
                    raise
        raise RuntimeError(f"order {d.order_id}: its claims kept changing hands")

    @staticmethod
    async def _steps(cur: Any, d: Draft) -> Outcome:
        t = d.tenant
        for claim in d.claims:
            try:
                await cur.execute(_INSERT_CLAIM, _claim_row(d, claim))
            except IntegrityError as e:
                if e.args[0] != _DUPLICATE:
                    raise
                raise _Duplicate(claim) from e
        await cur.execute(_SELECT_PRODUCT, (t, d.product_id))
        row = await cur.fetchone()
        if row is None:
            return o.no_product(d)
        product = o.product_from_row(row)
        if refused := product.refusal(d):
            return refused
        await cur.execute(_SELECT_CODE, (t, d.product_id, d.face_value_minor, d.now_ms))
        code = await cur.fetchone()
        if code is None:
            return o.out_of_stock(d)
        f = o.fulfil(d, product, code[0])
        await cur.execute(_INSERT_ORDER, f.order)
        await cur.execute(_ALLOCATE_CODE, f.code)
        await cur.execute(_INSERT_ENTRIES, f.entries)
        await cur.execute(_INSERT_EVENT, f.event)
        for claim in d.claims:
            await cur.execute(_UPDATE_REPLY, (201, f.body, t, claim.key_hash))
        # The budget last: its lock is held from here to the commit only.
        await cur.execute(_SELECT_BUDGET, (t, d.budget_id))
        budget = await cur.fetchone()
        if (refused := o.budget_refusal(d, product, budget, f.price_minor)) is not None:
            return refused
        await cur.execute(_DEBIT_BUDGET, (f.price_minor, d.now_ms, t, d.budget_id))
        await cur.connection.commit()
        return Placed(201, f.body, d.order_id)

    @staticmethod
    async def _steps_batched(cur: Any, d: Draft) -> Outcome:
        """:meth:`_steps` in four round trips: the claims and the two reads; the writes up
        to and including the budget's ``SELECT … FOR UPDATE``; the debit; the commit. The
        server runs a packet's statements in order and stops at the first error, so a
        taken claim is known by how many results came back before the error."""
        t = d.tenant
        first = [_INSERT_CLAIM] * len(d.claims) + [_SELECT_PRODUCT, _SELECT_CODE]
        params: tuple[object, ...] = ()
        for claim in d.claims:
            params += _claim_row(d, claim)
        params += (t, d.product_id, t, d.product_id, d.face_value_minor, d.now_ms)
        reading = 0  # the statement whose result is read next
        try:
            await cur.execute("; ".join(first), params)
            while reading < len(d.claims):
                reading += 1
                await cur.nextset()
        except IntegrityError as e:
            if e.args[0] != _DUPLICATE or reading >= len(d.claims):
                raise
            raise _Duplicate(d.claims[reading]) from e
        row = await cur.fetchone()
        await cur.nextset()
        code = await cur.fetchone()
        await cur.nextset()
        if row is None:
            return o.no_product(d)
        product = o.product_from_row(row)
        if refused := product.refusal(d):
            return refused
        if code is None:
            return o.out_of_stock(d)
        f = o.fulfil(d, product, code[0])
        writes = [_INSERT_ORDER, _ALLOCATE_CODE, _INSERT_ENTRIES, _INSERT_EVENT]
        params = f.order + f.code + f.entries + f.event
        for claim in d.claims:
            writes.append(_UPDATE_REPLY)
            params += (201, f.body, t, claim.key_hash)
        writes.append(_SELECT_BUDGET)
        params += (t, d.budget_id)
        await cur.execute("; ".join(writes), params)
        for _ in writes[1:]:
            await cur.nextset()
        budget = await cur.fetchone()
        await cur.nextset()
        if (refused := o.budget_refusal(d, product, budget, f.price_minor)) is not None:
            return refused
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
